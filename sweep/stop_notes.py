"""Notes a `--workers 1` launcher leaves when a fault of the machine stops it in the middle of a trial.

Such a launcher runs the trial in its own process. When the storage is unreachable past its retry window (or sits on
the full disk), the trial cannot be re-queued and goes stale; the next launcher finds its heartbeats stopped. A
stopped heartbeat alone looks like the launcher died with the trial, which counts towards failing a poison trial
(`sweep.queue.process_died`). So before it exits the launcher leaves a note on this host, outside the storage (the
temp directory, often a RAM disk): "trial T of study S stopped for a fault of the machine, in process P". The next
launcher on this host that finds the trial stale reads and removes the note and re-queues the trial without counting
a death. The note is best effort: where it cannot be written, or the next launch runs on another host, the stale
trial counts one death, as before (two retries by default, so never a failed configuration on its own).
"""
from __future__ import annotations

import multiprocessing
import os
import socket
import tempfile
from pathlib import Path

FOLDER = "vae-sweeps-stopped"


def _path(study: str, trial_id: int, host: str, pid: int) -> Path:
    safe = "".join(char if char.isalnum() or char in "-_." else "_" for char in f"{study}-{host}")
    return Path(tempfile.gettempdir()) / FOLDER / f"{safe}-{pid}-{trial_id}"


def leave(study: str, trial_id: int) -> None:
    """This process stops for a fault of the machine while running `trial_id`; nothing is raised if it cannot.
    Only a launcher running the trial itself leaves one (a worker's stale trial never counts as a death)."""
    if multiprocessing.parent_process() is not None:
        return
    path = _path(study, trial_id, socket.gethostname(), os.getpid())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("stopped by a fault of the machine\n")
    except OSError:
        pass


def take(study: str, trial_id: int, runner: dict) -> bool:
    """Whether the process that ran `trial_id` (`runner`: its RUNNER attr) left a note; the note is removed."""
    if runner.get("host") != socket.gethostname() or runner.get("pid") is None:
        return False
    path = _path(study, trial_id, str(runner["host"]), int(runner["pid"]))
    try:
        path.unlink()
    except OSError:
        return False
    return True
