"""The one shell of every command line: exit codes, one-line errors, signals, and the child processes' environment.

Exit codes: 0 done; 1 finished, but not everything it was asked for (a trial's loss went NaN, the report failed);
2 bad input (`UserError`: one `error:` line, nothing stored is lost); 75 a fault of the machine (`MachineFault`: the
disk, the database; run the same command again); 130 stopped by Ctrl-C or SIGTERM.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable

from common.errors import MachineFault, UserError
from common.interrupts import stop_on_signals

EXIT_OK, EXIT_INCOMPLETE, EXIT_USAGE, EXIT_MACHINE, EXIT_INTERRUPTED = 0, 1, 2, 75, 130
PROJECT_ROOT = Path(__file__).resolve().parents[1]


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one `error:` line on stderr (exit 2), not usage + message."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def run_main(body: Callable[[], int], on_interrupt: str | None = None) -> int:
    """Run a CLI body under `stop_on_signals` and turn what it raises into an exit code and one stderr line.

    `on_interrupt`: what to print after Ctrl-C (e.g. how to resume); default "interrupted"."""
    with stop_on_signals():
        try:
            return body()
        except UserError as error:
            print(f"error: {first_line(error)}", file=sys.stderr)
            return EXIT_USAGE
        except MachineFault as error:
            print(f"error: {first_line(error)}", file=sys.stderr)
            return EXIT_MACHINE
        except KeyboardInterrupt:
            print(on_interrupt or "interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as a Unix tool does
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit flush does not fail again
            return EXIT_OK


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a `python -m ...` child: this one, with the project importable from anywhere."""
    path = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, **extra}
