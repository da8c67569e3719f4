"""What the sweep CLIs share: one-line errors with exit code 2, clean stops on signals, quiet third-party logging."""
from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path
from typing import Callable

from sweep.interrupts import stop_on_signals
from vae.config import UserError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
USER_ERROR_EXIT = 2
INTERRUPTED_EXIT = 130


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one `error:` line on stderr (exit 2), not usage + message."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(USER_ERROR_EXIT)


def run_main(body: Callable[[], int]) -> int:
    """Run a CLI body: a `UserError` becomes one line on stderr and exit code 2; SIGINT (Ctrl-C) or SIGTERM
    exits 130, even if SIGINT was ignored when the process started (`sweep.interrupts`)."""
    with stop_on_signals():
        try:
            return body()
        except UserError as error:
            print(f"error: {str(error).splitlines()[0] if str(error) else 'invalid input'}", file=sys.stderr)
            return USER_ERROR_EXIT
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return INTERRUPTED_EXIT


def quiet_logging() -> None:
    """TensorFlow's C++ banner, Optuna's per-trial INFO lines and experimental warnings off."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    # sweep.worker records the heartbeats itself (ask/tell, not Study.optimize)
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")


def config_path(given: str | None, default: str = "configs/default.yaml") -> Path:
    """The config file: as given (relative to the current folder); the default also from the project root."""
    if given is not None:
        return Path(given)
    local = Path(default)
    return local if local.exists() or not (PROJECT_ROOT / default).exists() else PROJECT_ROOT / default
