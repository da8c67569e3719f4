"""What this machine gives the current process."""
from __future__ import annotations

import os


def usable_cores() -> int:
    """The cores this process may run on (a SLURM task's allocation, not the whole node)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
