"""Definition identity (name, semantic version, content hash) and its review lifecycle."""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Iterable
from enum import StrEnum

import semver
import yaml

from .definition import WorkflowDefinition

__all__ = [
    "Action",
    "LifecycleError",
    "Status",
    "canonical_json",
    "content_hash",
    "diff",
    "latest",
    "next_status",
]


class Status(StrEnum):
    """Where a definition version is in its review lifecycle."""

    DRAFT = "draft"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    PUBLISHED = "published"
    DEPRECATED = "deprecated"


class Action(StrEnum):
    """A lifecycle transition a principal asks for."""

    SUBMIT = "submit"
    APPROVE = "approve"
    REJECT = "reject"
    PUBLISH = "publish"
    DEPRECATE = "deprecate"


_TRANSITIONS = {
    Action.SUBMIT: (Status.DRAFT, Status.IN_REVIEW),
    Action.APPROVE: (Status.IN_REVIEW, Status.APPROVED),
    Action.REJECT: (Status.IN_REVIEW, Status.DRAFT),
    Action.PUBLISH: (Status.APPROVED, Status.PUBLISHED),
    Action.DEPRECATE: (Status.PUBLISHED, Status.DEPRECATED),
}


class LifecycleError(ValueError):
    """A transition that is not allowed; `code` is the stable API error code."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


def next_status(current: Status, action: Action, *, author: str, actor: str) -> Status:
    """The status after `action`, enforcing order and that reviewers are not authors."""
    source, target = _TRANSITIONS[action]
    if current is not source:
        raise LifecycleError(
            "workflow.invalid_transition",
            f"cannot {action.value} a definition that is {current.value} (must be {source.value})",
        )
    if action in (Action.APPROVE, Action.REJECT) and actor == author:
        raise LifecycleError(
            "workflow.self_review", f"{actor!r} authored this definition and cannot review it"
        )
    return target


def canonical_json(definition: WorkflowDefinition) -> str:
    """Sorted keys, no whitespace, defaults made explicit: equal meaning, equal text."""
    data = definition.model_dump(mode="json", by_alias=True)
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(definition: WorkflowDefinition) -> str:
    """`sha256:` and the digest of the canonical JSON."""
    return "sha256:" + hashlib.sha256(canonical_json(definition).encode()).hexdigest()


def latest(versions: Iterable[str]) -> str | None:
    """The highest semantic version, or None."""
    parsed = [semver.Version.parse(v) for v in versions]
    return str(max(parsed)) if parsed else None


def diff(old: WorkflowDefinition, new: WorkflowDefinition) -> str:
    """A unified diff of the two definitions' canonical YAML."""

    def lines(d: WorkflowDefinition) -> list[str]:
        text = yaml.safe_dump(json.loads(canonical_json(d)), sort_keys=True)
        return text.splitlines(keepends=True)

    return "".join(
        difflib.unified_diff(
            lines(old),
            lines(new),
            fromfile=f"{old.name}@{old.version}",
            tofile=f"{new.name}@{new.version}",
        )
    )
