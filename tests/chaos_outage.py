"""Chaos run (not part of the test suite): 4 launchers share a 12-point grid on a throw-away PostgreSQL while
launchers are killed with SIGKILL and relaunched and the server is stopped and started again at random moments.
At the end every grid point must be COMPLETE exactly once and no output may hold a traceback.

    PYTHONPATH=$PWD python tests/chaos_outage.py [--events 8] [--seed 0]
"""
from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path
import tempfile

from postgres_server import postgres_server  # noqa: E402
from test_sweep_workers import ENV, assert_each_point_complete_once, trials  # noqa: E402

from common.cli import PROJECT_ROOT as REPO, OneLineParser, run_main  # noqa: E402
from common.results import RETRY_OF  # noqa: E402

GRID = ["--set", "search.space.beta=[0.5, 1.0, 2.0, 4.0, 8.0, 16.0]"]  # x reduction [sum, mean] = 12 points
TINY = ["--set", "trial.dataset=digits", "--set", "trial.hidden=[32]", "--set", "trial.iwae_samples=2",
        "--set", "trial.epochs=4", "--set", "heartbeat_seconds=1", "--set", "storage_retry_seconds=60"]


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python tests/chaos_outage.py", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    return run_main(lambda: chaos(args))


def chaos(args) -> int:
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="vae-sweeps-chaos-"))
    logs: list[Path] = []

    def start(index: int, url: str) -> subprocess.Popen:
        log = root / f"launcher-{index}-{len(logs)}.txt"
        logs.append(log)
        command = [sys.executable, "-m", "sweep.launch", "configs/smoke.yaml", "--out", str(root / f"m{index}"),
                   "--no-report", "--storage", url, *GRID, *TINY, "--workers", "1"]
        return subprocess.Popen(command, cwd=REPO, env=ENV, stdout=log.open("w"), stderr=subprocess.STDOUT)

    with postgres_server() as url:
        launchers = {index: start(index, url) for index in range(4)}
        time.sleep(15)
        for event in range(args.events):
            time.sleep(rng.uniform(2, 8))
            if rng.random() < 0.5:
                index = rng.randrange(4)
                if launchers[index].poll() is None:
                    launchers[index].send_signal(signal.SIGKILL)
                    launchers[index].wait()
                print(f"event {event}: kill -9 launcher {index}, relaunched", flush=True)
                launchers[index] = start(index, url)
            else:
                seconds = rng.uniform(2, 8)
                print(f"event {event}: database stopped for {seconds:.1f} s", flush=True)
                url.stop()
                time.sleep(seconds)
                url.start()
        codes = {index: process.wait(timeout=1200) for index, process in launchers.items()}
        print(f"exit codes of the last launchers: {codes}", flush=True)
        all_trials = trials(url)
    assert_each_point_complete_once(all_trials, points=12)
    tracebacks = [log.name for log in logs if "Traceback" in log.read_text()]
    assert not tracebacks, tracebacks
    assert all(code == 0 for code in codes.values()), codes
    reruns = sum(1 for t in all_trials if RETRY_OF in t.user_attrs)
    print(f"ok: 12 points COMPLETE exactly once, {len(all_trials)} trials ({reruns} re-runs), "
          f"{len(logs)} launcher runs, no traceback ({root})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
