"""Services as real processes for fault tests: start a module, SIGKILL it, stop it."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

__all__ = ["exit_reason", "logged", "sigkill", "start_module", "terminate"]


def start_module(module: str, args: list[str], *, log: Path) -> subprocess.Popen[bytes]:
    """Run `python -m module *args`, its stderr appended to `log` (kept across restarts)."""
    with log.open("ab") as stderr:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", module, *args], stdout=subprocess.DEVNULL, stderr=stderr
        )


def sigkill(process: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    """kill -9: no shutdown hook runs, as in a crash or an OOM kill."""
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=timeout_s)


def terminate(process: subprocess.Popen[bytes], timeout_s: float = 30) -> int:
    """SIGTERM and wait: the process's clean shutdown; its exit code."""
    if process.poll() is None:
        process.terminate()
    return process.wait(timeout=timeout_s)


def exit_reason(process: subprocess.Popen[bytes], log: Path) -> str | None:
    """None while running; otherwise its exit code and the end of its log, for a failure."""
    if process.poll() is None:
        return None
    return f"exited with {process.returncode}: {log.read_text(errors='replace')[-2000:]}"


def logged(log: Path, text: str) -> int:
    """How many times `text` appears in a process's log so far."""
    return log.read_text(errors="replace").count(text) if log.exists() else 0
