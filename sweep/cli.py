"""What the sweep CLIs share beyond `common.cli`: quiet third-party logging and the default config file."""
from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

from common.cli import PROJECT_ROOT


def quiet_logging() -> None:
    """TensorFlow's C++ banner, Optuna's per-trial INFO lines and experimental warnings off; a log handler that
    cannot write (W&B's debug log on a full disk) stays silent instead of printing a traceback per record."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.raiseExceptions = False
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
