"""Earlier committed versions of the schema files, read from git history when there is one."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

__all__ = ["committed_versions"]

_COMMIT_MARK = "commit "


def committed_versions(schemas_dir: Path) -> Iterator[tuple[str, str, str]]:
    """(file name, commit, text) of each distinct committed `*.json` in the dir, newest first.

    Yields nothing without git, outside a work tree, or before the first commit.
    """
    git = shutil.which("git")
    if git is None or not schemas_dir.is_dir():
        return
    prefix = _git(git, schemas_dir, "rev-parse", "--show-prefix")
    log = _git(git, schemas_dir, "log", f"--format={_COMMIT_MARK}%H", "--name-only", "--", ".")
    if prefix is None or log is None:
        return
    rel_dir = prefix.decode().strip()  # "contracts/schemas/", or "" at the top level
    wanted: list[tuple[str, str]] = []  # (file name, "commit:path")
    commit = ""
    for line in log.decode().splitlines():
        if line.startswith(_COMMIT_MARK):
            commit = line.removeprefix(_COMMIT_MARK)
        elif line.startswith(rel_dir) and line.endswith(".json"):
            name = line.removeprefix(rel_dir)
            if "/" not in name:
                wanted.append((name, f"{commit}:{line}"))
    seen: set[tuple[str, str]] = set()
    blobs = _read_blobs(git, schemas_dir, [spec for _, spec in wanted])
    for (name, spec), blob in zip(wanted, blobs, strict=True):
        if blob is None or (name, blob[0]) in seen:
            continue  # deleted in that commit, or the same content as a newer commit
        seen.add((name, blob[0]))
        yield name, spec.split(":", 1)[0], blob[1]


def _git(git: str, cwd: Path, *args: str) -> bytes | None:
    try:
        done = subprocess.run([git, *args], cwd=cwd, capture_output=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def _read_blobs(git: str, cwd: Path, specs: list[str]) -> list[tuple[str, str] | None]:
    """(blob id, text) per `commit:path` spec, None where missing; one git process for all."""
    if not specs:
        return []
    try:
        done = subprocess.run(
            [git, "cat-file", "--batch"],
            cwd=cwd,
            input="".join(f"{s}\n" for s in specs).encode(),
            capture_output=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return [None] * len(specs)
    if done.returncode != 0:
        return [None] * len(specs)
    out, pos = done.stdout, 0
    blobs: list[tuple[str, str] | None] = []
    for _ in specs:
        end = out.index(b"\n", pos)
        header = out[pos:end].split()
        pos = end + 1
        if len(header) != 3:  # "<spec> missing"
            blobs.append(None)
            continue
        size = int(header[2])
        blobs.append((header[0].decode(), out[pos : pos + size].decode("utf-8", "replace")))
        pos += size + 1
    return blobs
