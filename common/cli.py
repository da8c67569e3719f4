"""What every command line of the project shares: usage mistakes are one `error:` line and exit code 2."""
from __future__ import annotations

import argparse
import sys

USER_ERROR_EXIT = 2


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one `error:` line on stderr (exit 2), not usage + message."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(USER_ERROR_EXIT)
