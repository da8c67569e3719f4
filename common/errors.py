"""The project's exceptions, one per exit code of the CLIs (`common.cli.run_main`); any layer may raise them."""
from __future__ import annotations

import errno
from pathlib import Path
from typing import Iterator

# Errors of the file system, not of what was written: the disk or quota is full, it is read-only, it is failing.
MACHINE_ERRNOS = {errno.ENOSPC: "free space on that file system (or choose another --out)",
                  errno.EDQUOT: "free space within your quota (or choose another --out)",
                  errno.EROFS: "the file system is read-only: remount it read-write (or choose another --out)",
                  errno.EIO: "the disk reports I/O errors: check it (or choose another --out)"}


class UserError(Exception):
    """A problem with the user's input: one `error:` line, exit code 2, nothing stored is lost."""


class MachineFault(Exception):
    """A fault of the machine, not of the input or the trial (a full disk, a database gone past its retry window):
    one `error:` line naming the cause and the remedy, exit code 75; the same command run again goes on."""


class DiskFault(MachineFault):
    """Writing a file failed because of the file system (`MACHINE_ERRNOS`); the message names the path and the way
    out."""

    def __init__(self, error: OSError, path: str | Path | None = None):
        where = error.filename or path
        cause = error.strerror or errno.errorcode.get(error.errno or 0, "I/O error")
        super().__init__(f"{cause} writing {where or 'a file'}: {MACHINE_ERRNOS.get(error.errno, 'check the disk')}, "
                         f"then run the same command again")
        self.errno = error.errno


def chain(error: BaseException | None) -> Iterator[BaseException]:
    """`error`, then its cause or context, and so on (each once: a chain may loop)."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def disk_fault(error: BaseException | None, path: str | Path | None = None) -> DiskFault | None:
    """The `DiskFault` behind `error` (an OSError with a `MACHINE_ERRNOS` code anywhere in its chain), else None."""
    for link in chain(error):
        if isinstance(link, DiskFault):
            return link
        if isinstance(link, OSError) and link.errno in MACHINE_ERRNOS:
            return DiskFault(link, path)
    return None


class NonFiniteLoss(RuntimeError):
    """The training loss became NaN or infinite; the message is a one-line reason."""
