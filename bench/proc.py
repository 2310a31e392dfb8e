"""CPU time of a process, for the benches' "CPU per unit of work" figures (Linux /proc)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["process_cpu_s"]


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds process `pid` has used so far; 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
