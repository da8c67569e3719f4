"""What the sweep CLIs share: one-line errors with exit code 2, clean stops on signals, quiet third-party logging."""
from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import Callable

from common.cli import USER_ERROR_EXIT, OneLineParser  # noqa: F401 - the sweep CLIs' parser
from sweep.interrupts import stop_on_signals
from sweep.retry import STORAGE_UNAVAILABLE_EXIT, StorageUnavailable
from vae.config import UserError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
INTERRUPTED_EXIT = 130


def run_main(body: Callable[[], int]) -> int:
    """Run a CLI body: a `UserError` becomes one line on stderr and exit code 2; SIGINT (Ctrl-C) or SIGTERM
    exits 130, even if SIGINT was ignored when the process started (`sweep.interrupts`); a storage unreachable
    past its retry window exits 75."""
    with stop_on_signals():
        try:
            return body()
        except UserError as error:
            print(f"error: {str(error).splitlines()[0] if str(error) else 'invalid input'}", file=sys.stderr)
            return USER_ERROR_EXIT
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return INTERRUPTED_EXIT
        except StorageUnavailable as error:  # a database outage longer than storage_retry_seconds
            print(f"error: {error}", file=sys.stderr)
            return STORAGE_UNAVAILABLE_EXIT


def quiet_logging() -> None:
    """TensorFlow's C++ banner, Optuna's per-trial INFO lines and experimental warnings off."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    # sweep.heartbeat records the heartbeats itself (ask/tell, not Study.optimize)
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")


def config_path(given: str | None, default: str = "configs/default.yaml") -> Path:
    """The config file: as given (relative to the current folder); the default also from the project root."""
    if given is not None:
        return Path(given)
    local = Path(default)
    return local if local.exists() or not (PROJECT_ROOT / default).exists() else PROJECT_ROOT / default
