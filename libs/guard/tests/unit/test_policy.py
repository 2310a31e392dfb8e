"""Policies: precise errors, rule resolution, per-tenant files with hot reload."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agentbus.guard import Action, PolicyError, PolicyNotFoundError, PolicyStore, parse_policy
from agentbus.guard.entities import Category


def test_errors_name_file_line_and_field() -> None:
    text = "name: strict\nversion: 3\nentities:\n  CREDIT_CARD: {action: mask, mask: smudge}\n"
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, source="acme/strict.yaml")
    assert "acme/strict.yaml:4: entities.CREDIT_CARD.mask" in str(caught.value)


def test_unknown_entity_gets_a_suggestion() -> None:
    with pytest.raises(PolicyError, match="did you mean EMAIL_ADDRESS"):
        parse_policy("name: p\nversion: 1\nentities:\n  EMAIL_ADRESS: {action: mask}\n")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a list", "a YAML mapping"),
        ("name: p\nversion: 1\nbogus: 1\n", "bogus: Extra inputs are not permitted"),
        ("name: p\n", "version: Field required"),
        ("name: p\nversion: 1\nphone_regions: [usa]\n", "ISO 3166"),
        ("name: p\nversion: [1\n", "not valid YAML"),
    ],
)
def test_invalid_policies_are_refused(text: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_policy(text)


def test_most_specific_rule_wins() -> None:
    policy = parse_policy(
        "name: p\nversion: 1\ndefault: {action: mask}\ncategories: {secret: {action: block}}\n"
        "entities: {JWT: {action: allow}}\n"
    )
    assert policy.rule_for("JWT", Category.SECRET)[1].action is Action.ALLOW
    assert policy.rule_for("GITHUB_TOKEN", Category.SECRET)[1].action is Action.BLOCK
    assert policy.rule_for("EMAIL_ADDRESS", Category.PII)[1].action is Action.MASK
    assert policy.rule_for("DENIED_TERM", Category.CONTENT)[1].action is Action.BLOCK


def _write(path: Path, version: int, action: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"name: default\nversion: {version}\ncategories: {{pii: {{action: {action}}}}}\n"
    )
    # Make the change visible even on filesystems with coarse mtimes.
    os.utime(path, ns=(version * 10**9, version * 10**9))


def test_tenant_file_overrides_shared_default_and_reloads(tmp_path: Path) -> None:
    _write(tmp_path / "_default" / "default.yaml", 1, "mask")
    store = PolicyStore(tmp_path, check_interval_s=0)
    assert store.get("acme").policy.ref == "default@1"
    _write(tmp_path / "acme" / "default.yaml", 7, "block")
    assert store.get("acme").policy.ref == "default@7"
    assert store.get("globex").policy.ref == "default@1"
    _write(tmp_path / "acme" / "default.yaml", 8, "allow")
    assert store.get("acme").policy.ref == "default@8"
    assert store.get("acme", "default@8").policy.version == "8"
    with pytest.raises(PolicyNotFoundError, match="version 8, not 7"):
        store.get("acme", "default@7")
    with pytest.raises(PolicyNotFoundError):
        store.get("acme", "missing")


@pytest.mark.parametrize(
    ("tenant", "name"),
    [
        ("acme", "\x00"),
        ("acme", "x" * 3000),
        ("acme", "../_default/default"),
        ("acme", ".hidden"),
        ("\x00", "default"),
        ("a" * 300, "default"),
        ("../..", "default"),
    ],
    ids=["nul", "long-name", "traversal", "dot-file", "nul-tenant", "long-tenant", "up"],
)
def test_a_name_that_cannot_be_a_file_name_is_not_found(
    tmp_path: Path, tenant: str, name: str
) -> None:
    # Names come from callers (an API path, an event): never an OSError, a 500 or a file
    # outside the tenant's folder.
    _write(tmp_path / "_default" / "default.yaml", 1, "mask")
    store = PolicyStore(tmp_path, check_interval_s=0)
    with pytest.raises(PolicyNotFoundError):
        store.get(tenant, name)
    assert store.source_of(tenant, name) is None


def test_invalid_edit_keeps_the_last_good_version(tmp_path: Path) -> None:
    path = tmp_path / "acme" / "default.yaml"
    _write(path, 2, "mask")
    store = PolicyStore(tmp_path, check_interval_s=0)
    assert store.get("acme").policy.version == "2"
    path.write_text("name: default\nversion: 3\ncategories: {pii: {action: explode}}\n")
    os.utime(path, ns=(3 * 10**9, 3 * 10**9))
    assert store.get("acme").policy.version == "2"
    assert "categories.pii.action" in store.errors[path]
    with pytest.raises(PolicyError):
        store.validate_all()


def test_policy_name_must_match_its_file(tmp_path: Path) -> None:
    (tmp_path / "acme").mkdir()
    (tmp_path / "acme" / "strict.yaml").write_text("name: other\nversion: 1\n")
    with pytest.raises(PolicyError, match="must match the file name"):
        PolicyStore(tmp_path).get("acme", "strict")
