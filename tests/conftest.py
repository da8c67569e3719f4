import functools
import os
import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

import pytest

from common.cli import PROJECT_ROOT as REPO

# The sample-quality classifiers (vae.quality) of the test runs: kept between test sessions, not in the home dir.
os.environ.setdefault("VAE_SWEEPS_CACHE", str(Path(tempfile.gettempdir()) / "vae-sweeps-test-cache"))


# The test files with the longest run first (measured wall time). pyproject runs the files in parallel processes
# (one file per process at a time, in this order: --no-loadscope-reorder); started last, a long file would keep one
# process running alone at the end.
LONGEST_FIRST = ("test_sweep_workers.py", "test_sweep_outage.py", "test_sweep_signals.py", "test_sweep_faults.py",
                 "test_slurm_example.py", "test_sweep_e2e.py", "test_vae_samples.py", "test_vae_train_cli.py",
                 "test_analysis_report_scale.py", "test_analysis_report.py", "test_sweep_bad_input.py",
                 "test_wandb_report.py", "test_imports.py", "test_benchmarks_trial_cache.py", "test_vae_quality.py",
                 "test_sweep_launch_workers.py", "test_sweep_flow.py", "test_analysis_figures.py")


def pytest_collection_modifyitems(items):
    rank = {name: index for index, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the order within a file is kept


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: int = 600):
    """Run `python -m ...` as a user would; returns the CompletedProcess (text mode)."""
    full_env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "TF_CPP_MIN_LOG_LEVEL": "3",
                **(env or {})}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=full_env,
                          cwd=cwd or REPO, timeout=timeout)


def run_in_process(main, *args: str, capsys) -> subprocess.CompletedProcess:
    """A CLI's `main(argv)` in this process, for cases where another subprocess would prove nothing more about the
    CLI (one subprocess run per CLI stays in the tests); returns what `run_cli` returns."""
    capsys.readouterr()
    try:
        code = main(list(args))
    except SystemExit as stop:  # argparse usage errors
        code = stop.code
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["main", *args], code, out, err)


def assert_one_line_error(result, *needles: str) -> None:
    """Exit code 2, no traceback, exactly one line on stderr (TF import noise aside) naming the problem."""
    assert result.returncode == 2, (result.returncode, result.stdout[-2000:], result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def pins(package: str, adapter: str):
    """Mark a test as pinning behaviour of `package` that `adapter` relies on: any failure is reported as an
    incompatible release of that package, naming the installed version."""
    def decorate(test):
        @functools.wraps(test)
        def pinned(*args, **kwargs):
            try:
                return test(*args, **kwargs)
            except Exception as error:  # AssertionError included
                raise AssertionError(f"{package} {version(package)} changed what {adapter} relies on "
                                     f"({test.__name__}): {type(error).__name__}: {error}. Adapt {adapter} (or "
                                     f"keep the upper bound on {package} in pyproject.toml)") from error
        return pinned
    return decorate


@pytest.fixture
def repo() -> Path:
    return REPO
