"""A small file system that fills up for real: a tmpfs of a few MB in a private mount namespace.

`small_disk(folder)` mounts it on `folder` inside a new mount namespace held by a sleeping process; the commands
that should write there run inside that namespace (`disk.command(...)` prefixes them with `nsenter`), and the test
itself reaches the same files from outside through `/proc/<holder>/root` (`disk.outside(path)`). The rest of the
machine never sees the mount, and it disappears with the holder. Where mount namespaces are not allowed (no
CAP_SYS_ADMIN), `small_disk` skips the test and says why.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest


class SmallDisk:
    def __init__(self, folder: Path, holder: subprocess.Popen):
        self.folder, self.holder = folder, holder

    def command(self, *args: str, cwd: str | Path | None = None) -> list[str]:
        """`args` run inside the namespace that sees the tmpfs at `folder`, in `cwd` (default: this one)."""
        return ["nsenter", "-t", str(self.holder.pid), "-m", f"--wd={cwd or os.getcwd()}", "--", *args]

    def outside(self, path: str | Path = "") -> Path:
        """`path` (under `folder`) as this process reaches it."""
        return Path(f"/proc/{self.holder.pid}/root") / Path(self.folder, path).relative_to("/")

    def fill(self) -> Path:
        """Take every free byte with a ballast file; returns it (delete it to free the space again)."""
        return fill(self.outside("ballast"))


def fill(ballast: str | Path) -> Path:
    """Write `ballast` until its file system has no byte left."""
    descriptor = os.open(ballast, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        for size in (1 << 20, 4096, 1):  # big blocks, then what is left of the last one
            try:
                while os.write(descriptor, b"\0" * size):
                    pass
            except OSError:
                pass
    finally:
        os.close(descriptor)
    return Path(ballast)


@contextmanager
def small_disk(folder: Path, size: str = "16m"):
    """Yields a `SmallDisk` mounted on `folder` (created here, empty outside the namespace)."""
    if shutil.which("unshare") is None or shutil.which("nsenter") is None:
        pytest.skip("a small disk needs unshare and nsenter (util-linux)")
    folder.mkdir(parents=True, exist_ok=True)
    ready = folder.parent / f".{folder.name}.mounted"
    script = f"mount -t tmpfs -o size={size} tmpfs '{folder}' && touch '{ready}' && exec sleep 3600"
    holder = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            if holder.poll() is not None:
                pytest.skip(f"mounting a small tmpfs is not allowed here: {holder.stderr.read().strip()}")
            assert time.monotonic() < deadline, "the tmpfs was not mounted within 30 s"
            time.sleep(0.05)
        disk = SmallDisk(folder, holder)
        assert os.path.ismount(disk.outside()), "the tmpfs is not visible through /proc/<holder>/root"
        yield disk
    finally:
        holder.kill()
        holder.wait()
