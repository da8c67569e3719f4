"""Where the test suite's CPU time goes, test by test: a pytest plugin and its summary.

    SUITE_CPU_LOG=suite-cpu.tsv python -m pytest -q -p benchmarks.suite_cpu   # record (every xdist process appends)
    python -m benchmarks.suite_cpu suite-cpu.tsv                               # CPU-seconds by test file

Each test's row holds its wall time and the user + system time of the pytest process and of every child process it
waited for (`RUSAGE_CHILDREN`: subprocesses, their pool workers and notebook kernels, once reaped). The suite is
CPU-bound on 2 cores, so this, not the wall time of one test, says what a cut would save.
"""
from __future__ import annotations

import csv
import os
import resource
import sys
import time
from collections import defaultdict

import pytest

from common.cli import OneLineParser, run_main
from common.errors import UserError

LOG_ENV = "SUITE_CPU_LOG"


def _cpu() -> tuple[float, float]:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    (own, children), started = _cpu(), time.perf_counter()
    yield
    (own_after, children_after), wall = _cpu(), time.perf_counter() - started
    with open(os.environ.get(LOG_ENV, "suite-cpu.tsv"), "a", newline="") as file:
        csv.writer(file, delimiter="\t").writerow(
            [item.nodeid, f"{wall:.2f}", f"{own_after - own:.2f}", f"{children_after - children:.2f}"])


def by_file(path: str) -> list[tuple[str, float, float]]:
    """(test file, CPU-seconds, wall seconds), most CPU first."""
    cpu: dict[str, float] = defaultdict(float)
    wall: dict[str, float] = defaultdict(float)
    with open(path, newline="") as file:
        for test, wall_s, own, children in csv.reader(file, delimiter="\t"):
            name = test.split("::")[0]
            cpu[name] += float(own) + float(children)
            wall[name] += float(wall_s)
    return sorted(((name, cpu[name], wall[name]) for name in cpu), key=lambda row: -row[1])


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m benchmarks.suite_cpu", description=__doc__.split("\n\n")[0])
    parser.add_argument("log", nargs="?", default="suite-cpu.tsv", help="the record (default %(default)s)")
    args = parser.parse_args(argv)

    def body() -> int:
        if not os.path.isfile(args.log):
            raise UserError(f"no record at {args.log} (run the tests with -p benchmarks.suite_cpu first)")
        rows = by_file(args.log)
        print(f"{'test file':48} {'CPU s':>8} {'wall s':>8}")
        for name, cpu, wall in rows:
            print(f"{name:48} {cpu:8.1f} {wall:8.1f}")
        print(f"{'total':48} {sum(row[1] for row in rows):8.1f}")
        return 0

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())
