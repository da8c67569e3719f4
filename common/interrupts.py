"""How a sweep process stops on SIGINT (Ctrl-C) and SIGTERM: one KeyboardInterrupt, whatever it inherited.

A job started in the background by a non-interactive shell (`python -m sweep.launch ... &` in a script) starts
with SIGINT ignored, and Python keeps it ignored; a scheduler stops jobs with SIGTERM, whose default kills the
process without cleanup. `stop_on_signals()` installs one handler for both: the first signal raises
KeyboardInterrupt (the CLIs re-queue the running trials and exit 130), later ones are ignored while that
clean-up runs. `interrupts_deferred()` holds a signal back until a few storage calls that belong together are done.
"""
from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _State:
    deferred = 0  # > 0 inside `interrupts_deferred()`
    pending = False  # a signal came while deferred
    raised = False  # the KeyboardInterrupt has been raised: later signals are ignored


@contextmanager
def stop_on_signals():
    """Within this block SIGINT and SIGTERM raise KeyboardInterrupt once; the previous handlers come back on exit
    (the CLIs are also called in-process, e.g. by tests)."""
    previous = {signum: signal.getsignal(signum) for signum in SIGNALS}
    previous_hook = sys.unraisablehook
    _State.deferred, _State.pending, _State.raised = 0, False, False
    for signum in SIGNALS:
        signal.signal(signum, _stop)
    sys.unraisablehook = _swallowed(previous_hook)
    try:
        yield
    finally:
        sys.unraisablehook = previous_hook
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


def _swallowed(previous_hook):
    """A KeyboardInterrupt raised inside a garbage-collector callback (e.g. SQLAlchemy's weakref callbacks) is
    printed by Python as "Exception ignored in ..." and lost. Instead it is kept pending, without the traceback,
    and raised again at the end of the next `interrupts_deferred()` block (every storage call is one)."""
    def hook(unraisable) -> None:
        if unraisable.exc_type is not None and issubclass(unraisable.exc_type, KeyboardInterrupt):
            _State.raised, _State.pending = False, True
            return
        previous_hook(unraisable)
    return hook


def _stop(signum, frame) -> None:
    if _State.raised:
        return
    if _State.deferred:
        _State.pending = True
        return
    _State.raised = True
    raise KeyboardInterrupt


@contextmanager
def interrupts_deferred():
    """A signal that arrives inside this block raises its KeyboardInterrupt at the block's end (e.g. taking a
    trial from the queue and recording that this launcher runs it must not be cut in half). Python runs signal
    handlers in the main thread only, so in any other thread the block holds nothing back."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _State.deferred += 1
    try:
        yield
    finally:
        _State.deferred -= 1
        if not _State.deferred and _State.pending and not _State.raised:
            _State.pending, _State.raised = False, True
            raise KeyboardInterrupt


@contextmanager
def blocked_in_children():
    """Processes started inside this block begin with SIGINT and SIGTERM blocked (the mask survives exec), so a
    Ctrl-C that reaches a worker while it is still starting waits until it has installed its own handlers
    (`unblock()`). This process itself still gets them: Python runs its handlers in the main thread whichever
    thread the signal was delivered to, and any pending one is delivered when the mask is restored."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def unblock() -> None:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)
