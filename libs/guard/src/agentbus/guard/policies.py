"""Per-tenant policy files with a shared default, hot-reloaded when a file changes."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from .engine import CompiledPolicy
from .policy import Policy, PolicyError, parse_policy

__all__ = ["DEFAULT_POLICY", "SHARED_DIR", "PolicyNotFoundError", "PolicyStore"]

log = logging.getLogger("agentbus.guard.policies")

DEFAULT_POLICY = "default"
SHARED_DIR = "_default"


class PolicyNotFoundError(LookupError):
    """No such policy (or version) for the tenant."""


@dataclass(slots=True)
class _Loaded:
    stamp: tuple[int, int]
    compiled: CompiledPolicy


class PolicyStore:
    """Reads `<root>/<tenant>/<name>.yaml`, falling back to `<root>/_default/<name>.yaml`.

    A file is re-read when its mtime or size changes (checked at most every
    `check_interval_s`), so an edit applies without a restart. An edit that does not
    validate keeps the last good version in force and is reported in `errors`.
    """

    def __init__(self, root: Path, *, check_interval_s: float = 1.0) -> None:
        self.root = root
        self.check_interval_s = check_interval_s
        self.errors: dict[Path, str] = {}
        self._loaded: dict[Path, _Loaded] = {}
        self._checked: dict[Path, float] = {}

    def get(self, tenant_id: str, selector: str | None = None) -> CompiledPolicy:
        """The policy `name` or `name@version` for a tenant (the tenant default when None)."""
        name, _, version = (selector or DEFAULT_POLICY).partition("@")
        if not (_file_name(name) and _file_name(tenant_id)):
            raise PolicyNotFoundError(f"invalid policy selector {selector!r}"[:200])
        for folder in (tenant_id, SHARED_DIR):
            path = self.root / folder / f"{name}.yaml"
            compiled = self._current(path)
            if compiled is None:
                continue
            if version and compiled.policy.version != version:
                raise PolicyNotFoundError(
                    f"policy {name!r} is at version {compiled.policy.version}, not {version}"
                )
            return compiled
        raise PolicyNotFoundError(f"no policy {name!r} for tenant {tenant_id!r}")

    def source_of(self, tenant_id: str, name: str) -> Path | None:
        """The file `get(tenant_id, name)` reads: the tenant's own, else the shared one."""
        name = name.partition("@")[0]
        if not (_file_name(name) and _file_name(tenant_id)):
            return None
        for folder in (tenant_id, SHARED_DIR):
            path = self.root / folder / f"{name}.yaml"
            if path.exists():
                return path
        return None

    def validate_all(self) -> list[Policy]:
        """Load every policy file now; PolicyError lists every invalid one (for start-up)."""
        problems, policies = [], []
        for path in sorted(self.root.glob("*/*.yaml")):
            try:
                policies.append(self._parse(path))
            except PolicyError as exc:
                problems.append(str(exc))
        if problems:
            raise PolicyError("\n".join(problems))
        return policies

    def _current(self, path: Path) -> CompiledPolicy | None:
        now = time.monotonic()
        loaded = self._loaded.get(path)
        if loaded is not None and now - self._checked.get(path, 0.0) < self.check_interval_s:
            return loaded.compiled
        self._checked[path] = now
        try:
            stat = path.stat()
        except FileNotFoundError:
            self._loaded.pop(path, None)
            return None
        stamp = (stat.st_mtime_ns, stat.st_size)
        if loaded is not None and loaded.stamp == stamp:
            return loaded.compiled
        try:
            compiled = CompiledPolicy(self._parse(path))
        except PolicyError as exc:
            self.errors[path] = str(exc)
            log.error(
                "policy file rejected; previous version stays in force",
                extra={"fields": {"path": str(path), "error": str(exc)}},
            )
            if loaded is None:
                raise
            loaded.stamp = stamp  # do not re-parse the same bad file on every call
            return loaded.compiled
        self.errors.pop(path, None)
        if loaded is not None:
            log.info(
                "policy reloaded",
                extra={"fields": {"path": str(path), "version": compiled.policy.version}},
            )
        self._loaded[path] = _Loaded(stamp, compiled)
        return compiled

    def _parse(self, path: Path) -> Policy:
        source = str(path.relative_to(self.root))
        policy = parse_policy(path.read_text(encoding="utf-8"), source=source)
        if policy.name != path.stem:
            raise PolicyError(f"{source}: name {policy.name!r} must match the file name")
        return policy


def _file_name(part: str) -> bool:
    """Whether a tenant id or policy name can be a file name here: no separator, no dot
    file, no NUL byte, and short enough for any file system (names come from callers)."""
    return (
        0 < len(part.encode()) <= 200
        and "/" not in part
        and "\x00" not in part
        and not part.startswith(".")
    )
