"""Schema generation, the staleness and compatibility check, and its git-history check."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pydantic import Field, create_model

from contracts.base import Event
from contracts.events import TaskSubmitted
from contracts.registry import all_events
from contracts.schemagen import DEFAULT_SCHEMAS_DIR, check, main, render, schema_for, write

SUBMITTED = TaskSubmitted.EVENT_TYPE


def variant(
    base: type[Event], *, drop: str = "", event_type: str = "", **fields: Any
) -> type[Event]:
    """A copy of `base` without `drop` and with `fields` added or retyped."""
    kept = {n: (f.annotation, f) for n, f in base.model_fields.items() if n != drop}
    model = create_model(base.__name__, __base__=Event, __doc__=base.__doc__, **{**kept, **fields})
    model.EVENT_TYPE = event_type or base.EVENT_TYPE
    return model


def models_with(*replacements: type[Event]) -> dict[str, type[Event]]:
    return {**all_events(), **{m.EVENT_TYPE: m for m in replacements}}


@pytest.fixture
def schemas(tmp_path: Path) -> Path:
    """A scratch copy of the committed schemas directory."""
    return Path(shutil.copytree(DEFAULT_SCHEMAS_DIR, tmp_path / "schemas"))


def test_committed_schemas_are_up_to_date_and_compatible() -> None:
    assert check(DEFAULT_SCHEMAS_DIR, all_events()) == []


def test_every_schema_file_is_stable_and_self_describing() -> None:
    for event_type, model in all_events().items():
        text = (DEFAULT_SCHEMAS_DIR / f"{event_type}.json").read_text("utf-8")
        assert text == render(schema_for(model))
        assert text.endswith("}\n")
        schema = schema_for(model)
        assert schema["$id"].endswith(f"/{event_type}.json")
        assert schema["title"] == model.__name__


def test_cli_check_passes_on_the_committed_schemas(
    schemas: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--schemas-dir", str(schemas)]) == 0
    assert "up to date" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"drop": "workflow"}, "workflow", "workflow: property removed"),
        ({"priority": (int, Field(default=0))}, "priority", "priority: type changed"),
        ({"tenant_ref": (str, Field())}, "tenant_ref", "tenant_ref: new required property"),
        ({"requested_by": (str, Field())}, "requested_by", "requested_by: type changed"),
    ],
)
def test_cli_check_rejects_an_incompatible_model(
    schemas: Path,
    capsys: pytest.CaptureFixture[str],
    change: dict[str, Any],
    field: str,
    message: str,
) -> None:
    models = models_with(variant(TaskSubmitted, **change))
    code = main(["check", "--schemas-dir", str(schemas)], models=models)
    err = capsys.readouterr().err
    assert code == 1
    assert f"{SUBMITTED}: breaking change against the committed schema: {message}" in err
    assert field in err


def test_cli_write_refuses_an_incompatible_model_and_writes_nothing(
    schemas: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (schemas / f"{SUBMITTED}.json").read_text()
    models = models_with(variant(TaskSubmitted, drop="requested_by"))
    assert main(["write", "--schemas-dir", str(schemas)], models=models) == 1
    assert "requested_by: property removed" in capsys.readouterr().err
    assert (schemas / f"{SUBMITTED}.json").read_text() == before


def test_compatible_change_is_stale_until_written(
    schemas: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = (str | None, Field(default=None, description="A new optional field"))
    models = models_with(variant(TaskSubmitted, note=extra))
    assert main(["check", "--schemas-dir", str(schemas)], models=models) == 1
    assert f"{SUBMITTED}: committed schema is stale; run `make schemas`" in capsys.readouterr().err
    assert main(["write", "--schemas-dir", str(schemas)], models=models) == 0
    assert main(["check", "--schemas-dir", str(schemas)], models=models) == 0


def test_missing_and_orphan_files_fail_the_check(schemas: Path) -> None:
    (schemas / f"{SUBMITTED}.json").unlink()
    (schemas / "agentbus.task.renamed.v1.json").write_text("{}\n")
    problems = check(schemas, all_events())
    assert (
        f"{SUBMITTED}: no committed schema {SUBMITTED}.json; run `make schemas` and commit it"
        in problems
    )
    assert any(p.startswith("agentbus.task.renamed.v1: ") and "no model" in p for p in problems)


def test_write_refuses_to_drop_a_released_type(schemas: Path) -> None:
    (schemas / "agentbus.task.renamed.v1.json").write_text("{}\n")
    problems = write(schemas, all_events())
    assert len(problems) == 1
    assert "agentbus.task.renamed.v1: " in problems[0]
    assert "breaking change" in problems[0]


def test_write_drops_a_type_superseded_by_its_next_major(schemas: Path) -> None:
    (schemas / "agentbus.task.renamed.v1.json").write_text("{}\n")
    v2 = variant(TaskSubmitted, event_type="agentbus.task.renamed.v2")
    assert write(schemas, models_with(v2)) == []
    assert not (schemas / "agentbus.task.renamed.v1.json").exists()
    assert (schemas / "agentbus.task.renamed.v2.json").exists()


def test_write_creates_a_missing_directory(tmp_path: Path) -> None:
    target = tmp_path / "fresh"
    assert write(target, all_events()) == []
    assert check(target, all_events()) == []
    assert len(list(target.glob("*.json"))) == len(all_events())


needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(repo: Path, *args: str) -> None:
    identity = ["-c", "user.name=test", "-c", "user.email=test@example.com"]
    subprocess.run(
        ["git", *identity, "-c", "commit.gpgsign=false", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git work tree whose contracts/schemas holds one committed schema."""
    root = tmp_path / "repo"
    (root / "contracts" / "schemas").mkdir(parents=True)
    git(root, "init", "-q")
    return root


@needs_git
def test_history_catches_a_committed_breaking_change(repo: Path) -> None:
    schemas = repo / "contracts" / "schemas"
    assert write(schemas, {SUBMITTED: TaskSubmitted}) == []
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "v1 schema")
    # Someone bypasses `write` and commits a regenerated, incompatible schema.
    broken = variant(TaskSubmitted, drop="workflow")
    (schemas / f"{SUBMITTED}.json").write_text(render(schema_for(broken)))
    git(repo, "commit", "-q", "-am", "drop workflow")
    problems = check(schemas, {SUBMITTED: broken})
    assert len(problems) == 1
    assert problems[0].startswith(f"{SUBMITTED}: breaking change against the version committed in")
    assert problems[0].endswith("workflow: property removed")


@needs_git
def test_history_catches_a_removed_released_type(repo: Path) -> None:
    schemas = repo / "contracts" / "schemas"
    assert write(schemas, {SUBMITTED: TaskSubmitted}) == []
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "v1 schema")
    (schemas / f"{SUBMITTED}.json").unlink()
    git(repo, "commit", "-q", "-am", "remove it")
    problems = check(schemas, {})
    assert len(problems) == 1
    assert "is gone; removing a released event type is a breaking change" in problems[0]


@needs_git
def test_compatible_history_passes(repo: Path) -> None:
    schemas = repo / "contracts" / "schemas"
    assert write(schemas, {SUBMITTED: TaskSubmitted}) == []
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "v1 schema")
    extended = variant(TaskSubmitted, note=(str | None, Field(default=None, description="new")))
    assert write(schemas, {SUBMITTED: extended}) == []
    git(repo, "commit", "-q", "-am", "add optional note")
    assert check(schemas, {SUBMITTED: extended}) == []


@needs_git
def test_a_repository_without_commits_has_no_history(repo: Path) -> None:
    schemas = repo / "contracts" / "schemas"
    assert write(schemas, {SUBMITTED: TaskSubmitted}) == []
    assert check(schemas, {SUBMITTED: TaskSubmitted}) == []
