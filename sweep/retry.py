"""Riding out a database outage: every storage call of a launcher goes through one retry policy.

Transient errors (connection refused or reset, the server shutting down / starting up / in recovery, a failover,
SQLite "database is locked") are retried with exponential backoff and jitter until the storage answers again or
`storage_retry_seconds` have passed since the outage began. The first failed call prints one warning line, the
first call that succeeds again prints one line; anything else (bad password, missing database, schema mismatch)
is raised at once. Past the window, `StorageUnavailable` ends the launcher with exit code 75
(`common.cli.EXIT_MACHINE`): its running trials go stale and the next launcher re-queues them.

`sweep.retry_storage.RetryingStorage` wraps an Optuna storage so that Optuna's own calls (ask, tell, report,
heartbeats, stale-trial checks) go through the policy too. Inside `deferred()` a transient error raises
`StorageAway` at once instead of waiting: a training trial uses it for its epoch reports, so training goes on
and the reports are written later.
"""
from __future__ import annotations

import contextlib
import random
import sys
import threading
import time
from typing import Any, Callable, Iterator

from common.errors import MachineFault, chain
from common.storage_url import mask, scrub
from common.interrupts import interrupts_deferred

FIRST_DELAY_S = 0.5
MAX_DELAY_S = 5.0
# Lower-case fragments of driver messages (psycopg, psycopg2, sqlite3) that mean "try again later".
TRANSIENT = ("connection refused", "could not connect", "connection reset", "server closed the connection",
             "terminating connection", "the database system is shutting down", "the database system is starting up",
             "the database system is in recovery mode", "the database system is not yet accepting connections",
             "database is locked", "connection timed out", "timeout expired", "ssl connection has been closed",
             "connection already closed", "connection is closed", "no connection to the server", "broken pipe",
             "read-only transaction", "lost synchronization with server", "consuming input failed",
             "server conn crashed", "cannot connect now", "admin_shutdown")
# The storage's disk is full or failing (SQLite's own file; PostgreSQL's data directory): a fault of the machine,
# not worth waiting for. The launcher stops at once (exit code 75) and its running trials go stale.
UNWRITABLE = ("database or disk is full", "disk i/o error", "attempt to write a readonly database",
              "could not extend file", "no space left on device")
PERMANENT = ("password authentication failed", "authentication failed", "does not exist", "no such table",
             "permission denied", "incompatible", "syntax error")


class StorageUnavailable(MachineFault):
    """The storage stayed unreachable for the whole retry window; `reason` is what the driver said last."""

    def __init__(self, message: str, reason: str = ""):
        super().__init__(message)
        self.reason = reason


class StorageUnwritable(StorageUnavailable):
    """The storage's disk is full or failing: given up at once, not after the retry window."""


class StorageAway(Exception):
    """Raised inside `deferred()` instead of waiting: the storage is unreachable right now."""


def is_transient(error: BaseException) -> bool:
    """True if the error (or one it was raised from) means the database is away for now."""
    if isinstance(error, (StorageAway, StorageUnavailable)):
        return False
    messages = " | ".join(str(link).lower() for link in chain(error))
    if any(fragment in messages for fragment in PERMANENT):
        return False
    if any(getattr(link, "connection_invalidated", False) for link in chain(error)):
        return True  # SQLAlchemy saw the connection drop
    return any(fragment in messages for fragment in TRANSIENT)


def _unwritable(error: BaseException, url: str) -> StorageUnwritable | None:
    """A `StorageUnwritable` if the storage cannot be written because of its disk (`UNWRITABLE`), else None."""
    reason = scrub(driver_message(error), url)
    if not any(fragment in reason.lower() for fragment in UNWRITABLE):
        return None
    return StorageUnwritable(f"storage {mask(url)} cannot be written ({reason}): free space on its disk, then run "
                              f"the same command again; its running trials will be re-queued", reason)


def driver_message(error: BaseException) -> str:
    """The first line of the innermost error: what the driver said (not a KeyboardInterrupt being handled)."""
    innermost = [link for link in chain(error) if isinstance(link, Exception)][-1]
    text = str(innermost).strip()
    return text.splitlines()[0] if text else type(innermost).__name__


_local = threading.local()


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Storage calls in this block raise `StorageAway` on a transient error instead of waiting."""
    previous = getattr(_local, "deferred", False)
    _local.deferred = True
    try:
        yield
    finally:
        _local.deferred = previous


class RetryPolicy:
    """Backoff for transient errors, shared by every thread of a process so that one outage prints two lines."""

    def __init__(self, url: str, window_s: float, stream=None, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic):
        self.url, self.window_s = url, window_s
        self.stream, self.sleep, self.clock = stream, sleep, clock
        self.lock = threading.Lock()
        self.outage_since: float | None = None
        self.recovered_at: float | None = None

    def call(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        attempt = 0
        while True:
            try:
                # A Ctrl-C that lands inside a storage call can leave its transaction open: on SQLite that
                # connection then holds the write lock, and every later write (the re-queueing of the running
                # trials included) fails with "database is locked" until the process exits. So the signal waits
                # for the call to return; the sleeps between retries stay interruptible.
                with interrupts_deferred():
                    result = function(*args, **kwargs)
            except Exception as error:
                if not is_transient(error):
                    unwritable = _unwritable(error, self.url)
                    if unwritable is None:
                        raise
                    raise unwritable from None
                started = self._failed(error)
                if getattr(_local, "deferred", False) and self.clock() - started < self.window_s:
                    raise StorageAway(driver_message(error)) from None
                left = self.window_s - (self.clock() - started)
                if left <= 0:
                    reason = scrub(driver_message(error), self.url)
                    raise StorageUnavailable(
                        f"storage {mask(self.url)} unreachable for {self.window_s:g} s (storage_retry_seconds): "
                        f"{reason}; its running trials will be re-queued, relaunch to resume", reason) from None
                delay = min(MAX_DELAY_S, FIRST_DELAY_S * 2 ** attempt) * random.uniform(0.5, 1.0)
                self.sleep(min(delay, left))
                attempt += 1
                continue
            if self.outage_since is not None:
                self._recovered()
            return result

    def _failed(self, error: BaseException) -> float:
        with self.lock:
            if self.outage_since is None:
                self.outage_since = self.clock()
                if self.window_s > 0:
                    self._say(f"warning: storage {mask(self.url)} unreachable "
                              f"({scrub(driver_message(error), self.url)}); retrying for up to {self.window_s:g} s")
            return self.outage_since

    def _recovered(self) -> None:
        with self.lock:
            if self.outage_since is None:
                return
            waited = self.clock() - self.outage_since
            self.outage_since, self.recovered_at = None, self.clock()
            self._say(f"storage {mask(self.url)} reachable again after {waited:.0f} s")

    def recently_recovered(self, seconds: float) -> bool:
        """The storage came back less than `seconds` ago (other launchers' heartbeats may not be in yet)."""
        return self.recovered_at is not None and self.clock() - self.recovered_at < seconds

    def _say(self, line: str) -> None:
        print(line, file=self.stream or sys.stderr, flush=True)
