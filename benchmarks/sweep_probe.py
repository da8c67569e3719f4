"""`python -m benchmarks.sweep_probe EVAL_LOG -- <sweep.launch arguments>`: the sweep launcher, unchanged, with the
wall time of every test-set evaluation (`vae.evaluate.Evaluator.full`) appended to EVAL_LOG (one float a line).

Trials record `train_seconds` themselves but not their evaluation time; this probe measures it from outside the
sweep code so that the sweep-overhead benchmark can divide by training + evaluation time.
"""
from __future__ import annotations

import functools
import sys
import time


def install(eval_log: str) -> None:
    from vae import evaluate

    original = evaluate.Evaluator.full

    @functools.wraps(original)
    def timed_full(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            with open(eval_log, "a") as handle:
                handle.write(f"{time.perf_counter() - started}\n")

    evaluate.Evaluator.full = timed_full


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[1] != "--":
        print("usage: python -m benchmarks.sweep_probe EVAL_LOG -- <sweep.launch arguments>", file=sys.stderr)
        return 2
    install(argv[0])
    from sweep.launch import main as launch

    return launch(argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
