"""CPU time of a process and of the machine, for the benches' figures (Linux /proc)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["StealMeter", "local_broker_pid", "process_cpu_s"]

# The broker of infra/kafka/kafka.sh (`make kafka-up`).
BROKER_PID_FILE = Path(__file__).resolve().parent.parent / ".cache" / "kafka" / "run" / "kafka.pid"


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds process `pid` has used so far; 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def local_broker_pid() -> int | None:
    """The pid of the broker `make kafka-up` started, if it is running."""
    with contextlib.suppress(OSError, ValueError):
        pid = int(BROKER_PID_FILE.read_text())
        if b"kafka.Kafka" in Path(f"/proc/{pid}/cmdline").read_bytes():
            return pid
    return None


class StealMeter:
    """How much CPU time the hypervisor gave to other machines while a bench ran.

    A virtual machine's cores can be taken away ("steal" in /proc/stat): then every
    figure of the run is lower than the code can do, and the bench says so.
    """

    def __init__(self) -> None:
        self._start = _cpu_ticks()

    def summary(self) -> str:
        """One line: the stolen share of the CPU time since the meter was made."""
        end = _cpu_ticks()
        if self._start is None or end is None:
            return "machine: steal time unknown (no /proc/stat)"
        total = end[0] - self._start[0]
        stolen = end[1] - self._start[1]
        share = stolen / total if total else 0.0
        note = "; figures are low" if share >= 0.05 else ""
        return f"machine: the hypervisor took {share:.0%} of the CPU time during this run{note}"


def _cpu_ticks() -> tuple[int, int] | None:
    """(all ticks, stolen ticks) of the machine so far, from /proc/stat."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    ticks = [int(value) for value in first[1:9]]  # user .. steal (guest is inside user)
    return sum(ticks), ticks[7]
