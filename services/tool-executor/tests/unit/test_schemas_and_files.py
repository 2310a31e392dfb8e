"""Schema problems name the field; definition files are validated; secrets are scrubbed."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr
from tool_executor.domain import ToolError
from tool_executor.files import BUNDLED_TOOLS, DefinitionFileError, load_definitions, load_grants
from tool_executor.schemas import first_problem
from tool_executor.secrets import SecretResolver

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["amount", "to"],
    "properties": {
        "amount": {"type": "integer", "minimum": 1},
        "to": {"type": "object", "required": ["iban"], "properties": {"iban": {"type": "string"}}},
    },
}


@pytest.mark.parametrize(
    ("value", "field", "reason"),
    [
        ({"to": {"iban": "x"}}, "amount", "is required"),
        ({"amount": 0, "to": {"iban": "x"}}, "amount", "minimum"),
        ({"amount": "10", "to": {"iban": "x"}}, "amount", "type"),
        ({"amount": 1, "to": {}}, "to/iban", "is required"),
        ({"amount": 1, "to": {"iban": "x"}, "extra": 1}, "extra", "not allowed"),
    ],
)
def test_first_problem_names_the_field(value: object, field: str, reason: str) -> None:
    problem = first_problem(SCHEMA, value)
    assert problem is not None
    assert problem[0] == field
    assert reason in problem[1]


def test_first_problem_never_quotes_the_value() -> None:
    problem = first_problem(SCHEMA, {"amount": "SECRET-VALUE-123", "to": {"iban": "x"}})
    assert problem is not None
    assert "SECRET-VALUE-123" not in " ".join(problem)


def test_bundled_definitions_load() -> None:
    names = {d.name for d in load_definitions(BUNDLED_TOOLS)}
    assert {"http.request", "json.transform", "math.evaluate", "text.word_count"} <= names


def test_bad_definition_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(
        "name: x\nversion: '1'\nside_effect: maybe\nimplementation: {kind: builtin, name: x}\n"
    )
    with pytest.raises(DefinitionFileError, match="side_effect"):
        load_definitions(tmp_path)
    (tmp_path / "bad.yaml").write_text(
        "name: x\nversion: '1'\nside_effect: none\narguments_schema: {type: 12}\n"
        "implementation: {kind: builtin, name: x}\n"
    )
    with pytest.raises(DefinitionFileError, match="invalid JSON Schema"):
        load_definitions(tmp_path)


def test_grants_file(tmp_path: Path) -> None:
    path = tmp_path / "grants.yaml"
    path.write_text(
        "tenants:\n  acme:\n    - tool: http.get\n      scopes: ['http:read']\n"
        "      hosts: ['api.example.com']\n"
    )
    grants = load_grants(path)
    assert grants["acme"][0].hosts == ["api.example.com"]


def test_secrets_resolve_by_name_and_are_scrubbed(tmp_path: Path) -> None:
    (tmp_path / "from_file").write_text("file-value\n")
    resolver = SecretResolver({"token": SecretStr("s3cr3t-token")}, tmp_path)
    assert resolver.render("Bearer {secret:token}") == "Bearer s3cr3t-token"
    assert resolver.get("from_file") == "file-value"
    with pytest.raises(ToolError, match="'nope' is not configured"):
        resolver.get("nope")
    used = resolver.used_by({"headers": {"Authorization": "Bearer {secret:token}"}})
    scrubbed = resolver.scrub({"echo": ["Bearer s3cr3t-token"]}, used)
    assert scrubbed == {"echo": ["Bearer [secret:token]"]}
