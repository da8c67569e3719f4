"""The retry policy for storage errors and the failure classification, on real SQLite / driver exceptions."""
from __future__ import annotations

import contextlib
import errno
import io
import os
import signal
import sqlite3
import subprocess
import sys
import time

import optuna
import pytest

from conftest import REPO
from small_disk import small_disk
from sweep.failures import NonFiniteTrial, classify, death_cause, died_reason
from sweep.retry import RetryPolicy, StorageAway, StorageUnavailable, deferred, driver_message, is_transient
from sweep.retry_storage import RetryingStorage


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def failing(times: int, error: Exception):
    calls = []

    def call():
        calls.append(1)
        if len(calls) <= times:
            raise error
        return "ok"

    return call, calls


@contextlib.contextmanager
def hold_exclusive_lock(database, seconds: float):
    """Another process holds an exclusive SQLite transaction on `database` for `seconds`."""
    code = ("import sqlite3, sys, time\n"
            "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True)\n"
            "time.sleep(float(sys.argv[2])); c.execute('COMMIT')\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(database), str(seconds)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield holder
    finally:
        holder.wait(timeout=60)


def chained(error: OSError) -> Exception:
    """`error` as the cause of another exception (as Keras' saving or W&B re-raise a failed write)."""
    try:
        try:
            raise error
        except OSError as cause:
            raise RuntimeError("could not save") from cause
    except RuntimeError as outer:
        return outer


def wrapped(message: str) -> Exception:
    """How Optuna's RDBStorage reports a driver error: StorageInternalError raised from the driver's."""
    try:
        try:
            raise sqlite3.OperationalError(message)
        except sqlite3.OperationalError as error:
            raise optuna.exceptions.StorageInternalError("An exception is raised during the commit.") from error
    except optuna.exceptions.StorageInternalError as outer:
        return outer


@pytest.mark.parametrize("message, transient", [
    ("database is locked", True),
    ('connection to server at "127.0.0.1", port 5432 failed: Connection refused', True),
    ("terminating connection due to administrator command", True),
    ("FATAL:  the database system is shutting down", True),
    ("FATAL:  the database system is starting up", True),
    ("server closed the connection unexpectedly", True),
    ("cannot execute UPDATE in a read-only transaction", True),  # a failover to a replica
    ('FATAL:  password authentication failed for user "postgres"', False),
    ('FATAL:  database "sweeps" does not exist', False),
    ("no such table: trials", False),
    ("UNIQUE constraint failed", False),
])
def test_transient_errors_are_recognised_through_optunas_wrapper(message, transient):
    assert is_transient(wrapped(message)) is transient


def test_an_outage_prints_one_line_when_it_starts_and_one_when_it_ends():
    clock, stream = FakeClock(), io.StringIO()
    policy = RetryPolicy("postgresql://u:secret@h/db", 60, stream=stream, sleep=clock.sleep, clock=clock)
    call, calls = failing(6, wrapped("database is locked"))
    assert policy.call(call) == "ok" and len(calls) == 7
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("warning: storage postgresql://u:***@h/db unreachable")
    assert "reachable again after" in lines[1] and "secret" not in stream.getvalue()
    delays = clock.now
    assert 0 < delays < 60
    assert policy.call(lambda: "still ok") == "still ok" and len(stream.getvalue().splitlines()) == 2


def test_past_the_window_the_outage_is_reported_once():
    clock, stream = FakeClock(), io.StringIO()
    policy = RetryPolicy("sqlite:////x.db", 10, stream=stream, sleep=clock.sleep, clock=clock)
    call, calls = failing(10**6, wrapped("database is locked"))
    with pytest.raises(StorageUnavailable) as caught:
        policy.call(call)
    assert clock.now == pytest.approx(10) and len(calls) > 3
    assert "unreachable for 10 s" in str(caught.value) and "storage_retry_seconds" in str(caught.value)
    assert len(stream.getvalue().splitlines()) == 1


def test_permanent_errors_are_raised_at_once():
    clock = FakeClock()
    policy = RetryPolicy("sqlite:////x.db", 10, stream=io.StringIO(), sleep=clock.sleep, clock=clock)
    call, calls = failing(1, wrapped("no such table: trials"))
    with pytest.raises(optuna.exceptions.StorageInternalError):
        policy.call(call)
    assert len(calls) == 1 and clock.now == 0


def test_deferred_calls_do_not_wait_until_the_window_is_over():
    clock = FakeClock()
    policy = RetryPolicy("sqlite:////x.db", 10, stream=io.StringIO(), sleep=clock.sleep, clock=clock)
    call, calls = failing(10**6, wrapped("database is locked"))
    with deferred(), pytest.raises(StorageAway):
        policy.call(call)
    assert clock.now == 0 and len(calls) == 1
    clock.now = 11  # the outage began 11 s ago: a deferred call now ends the launcher too
    with deferred(), pytest.raises(StorageUnavailable):
        policy.call(call)


def test_a_storage_locked_by_another_process_is_waited_out(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    optuna.create_study(study_name="s", storage=url)
    stream = io.StringIO()
    inner = optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 0.1}})
    storage = RetryingStorage(inner, RetryPolicy(url, 30, stream=stream))
    study_id = storage.get_study_id_from_name("s")
    with hold_exclusive_lock(tmp_path / "s.db", seconds=2.0) as holder:
        storage.set_study_user_attr(study_id, "k", 1)
        assert holder.poll() is not None  # it only got through once the other process let go
    assert holder.returncode == 0
    assert optuna.load_study(study_name="s", storage=url).user_attrs == {"k": 1}
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and "database is locked" in lines[0] and "reachable again" in lines[1]


@pytest.mark.parametrize("error, state, stop, requeue, reason", [
    (optuna.TrialPruned("pruned at epoch 3"), "PRUNED", False, False, "pruned at epoch 3"),
    (NonFiniteTrial("non-finite loss at epoch 2"), "FAIL", False, False, "non-finite loss at epoch 2"),
    (ValueError("bad shape\nmore"), "FAIL", False, False, "ValueError: bad shape"),
    (KeyboardInterrupt(), "INTERRUPTED", True, True, "interrupted (Ctrl-C or SIGTERM) while running"),
    (StorageUnavailable("storage x unreachable", "refused"), "INTERRUPTED", True, False,
     "storage unreachable: storage x unreachable"),
    # faults of the machine: re-queued, the launcher stops (exit code 75)
    (OSError(errno.ENOSPC, "No space left on device", "/runs/t/trial-3/encoder.keras"), "INTERRUPTED", True, True,
     "stopped by the machine: No space left on device writing /runs/t/trial-3/encoder.keras: free space on that "
     "file system (or choose another --out), then run the same command again"),
    (chained(OSError(errno.EROFS, "Read-only file system")), "INTERRUPTED", True, True,
     "stopped by the machine: Read-only file system writing a file: the file system is read-only: remount it "
     "read-write (or choose another --out), then run the same command again"),
    # ... but not every OSError: a permission problem or a lost connection is the trial's
    (PermissionError(errno.EACCES, "Permission denied", "/x"), "FAIL", False, False,
     "PermissionError: [Errno 13] Permission denied: '/x'"),
    (ConnectionResetError("Connection lost"), "FAIL", False, False, "ConnectionResetError: Connection lost"),
])
def test_failures_are_classified_in_one_place(error, state, stop, requeue, reason):
    outcome = classify(error)
    assert (outcome.state, outcome.stop_sweep, outcome.requeue, outcome.reason) == (state, stop, requeue, reason)
    assert (outcome.fault is not None) == reason.startswith("stopped by the machine")


@pytest.mark.parametrize("exitcode, cause", [
    (-9, "signal 9: out of memory?"), (-11, "signal 11 (SIGSEGV): crashed"), (1, "exit code 1"),
    (None, "its heartbeats stopped: killed (out of memory?) or cut off from the storage")])
def test_the_death_of_a_trials_process_is_named(exitcode, cause):
    assert death_cause(exitcode) == cause
    assert died_reason("worker", 3, death_cause(exitcode)) == f"worker died 3 times ({cause})"


def test_a_full_sqlite_disk_stops_at_once_instead_of_waiting_out_the_window(tmp_path):
    """A real SQLite file on a full 1 MB tmpfs: "database or disk is full" is a fault of the machine, not an outage."""
    with small_disk(tmp_path / "disk", size="1m") as disk:
        database = disk.outside("s.db")  # SQLite itself cannot open it by this path: the driver process works inside
        code = ("import optuna, sys\n"
                "from sweep.retry import RetryPolicy, StorageUnwritable\n"
                "from sweep.retry_storage import RetryingStorage\n"
                "url = 'sqlite:///' + sys.argv[1]\n"
                "study = optuna.create_study(study_name='s', storage=url)\n"
                "from small_disk import fill\n"
                "fill(sys.argv[2])\n"
                "storage = RetryingStorage(optuna.storages.RDBStorage(url), RetryPolicy(url, 300))\n"
                "try:\n"
                "    storage.set_study_user_attr(study._study_id, 'k', 'x' * 100000)\n"
                "except StorageUnwritable as error:\n"
                "    print(error)\n")
        done = subprocess.run(disk.command(sys.executable, "-c", code, str(disk.folder / "s.db"),
                                           str(disk.folder / "ballast")),
                              capture_output=True, text=True, timeout=60,
                              env={**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'tests'}"})
        assert database.is_file()
    assert done.returncode == 0, done.stderr[-2000:]
    assert "cannot be written (database or disk is full): free space on its disk" in done.stdout, done.stdout


def test_a_ctrl_c_during_a_storage_call_is_raised_after_the_call_returns():
    """Not in the middle of it: an interrupted SQLite transaction would keep the database locked for the clean-up."""
    from common.interrupts import stop_on_signals

    finished = []

    def storage_call():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # without the deferral the KeyboardInterrupt would be raised here
        finished.append(True)
        return 1

    with stop_on_signals(), pytest.raises(KeyboardInterrupt):
        RetryPolicy("sqlite:///x.db", 10, stream=io.StringIO()).call(storage_call)
    assert finished == [True]


def test_the_driver_message_is_not_the_interrupt_being_handled():
    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise sqlite3.OperationalError("database is locked") from None
    except sqlite3.OperationalError as error:
        assert driver_message(error) == "database is locked"
    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise sqlite3.OperationalError("database is locked")  # implicitly chained to the interrupt
    except sqlite3.OperationalError as error:
        assert driver_message(error) == "database is locked"


def test_a_ctrl_c_lost_in_a_finalizer_is_raised_at_the_next_storage_call(capfd):
    """Python drops an exception raised inside a garbage-collector callback ("Exception ignored in ..."): the stop
    must not be lost with it, nor print a traceback."""
    from common.interrupts import stop_on_signals

    class SignalledWhileCollected:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGINT)  # the handler's KeyboardInterrupt is raised inside this finalizer
            time.sleep(0.05)

    with stop_on_signals():
        SignalledWhileCollected()  # collected at once
        with pytest.raises(KeyboardInterrupt):
            RetryPolicy("sqlite:///x.db", 10, stream=io.StringIO()).call(lambda: 1)
    assert "Traceback" not in capfd.readouterr().err
