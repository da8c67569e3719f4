"""examples/slurm run as SLURM would run them, on this machine: the one-time database set-up, two array tasks
of sweep.sbatch at once (bash; #SBATCH lines are comments) with SLURM's environment variables against a
throw-away PostgreSQL, then report.sbatch. Every grid point must end COMPLETE exactly once, and neither the
database passwords nor the W&B key may reach any output or file (two launchers sharing one PostgreSQL sweep)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import optuna
from conftest import REPO
from postgres_server import PASSWORD, postgres_server

from common.cli import child_env
from common.wandb_adapter import read_run

SLURM = REPO / "examples" / "slurm"
DB_PASSWORD = "sweeps-pw-7Hq2"
WANDB_KEY = "wandb-key-0123456789abcdef0123456789abcdef"
CONFIG = textwrap.dedent("""\
    study: from-config
    wandb: {project: vae-sweeps, mode: offline}
    search:
      method: grid
      space:
        beta: [1.0, 4.0]
        reduction: [sum, mean]
    trial: {dataset: digits, arch: mlp, hidden: [32], latent_dim: 2, epochs: 1, batch_size: 64, iwae_samples: 2}
""")


def base_env(tmp_path, sweep_db: str) -> dict[str, str]:
    return {**child_env(), "WANDB_MODE": "offline", "WANDB_SILENT": "true",
            "WANDB_DATA_DIR": str(tmp_path / "wandb-data"), "WANDB_API_KEY": WANDB_KEY, "TF_CPP_MIN_LOG_LEVEL": "3",
            "MPLBACKEND": "Agg", "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}",
            "SWEEP_DB": sweep_db, "SWEEP_STUDY": "slurm-test", "SWEEP_CONFIG": str(tmp_path / "tiny.yaml"),
            "SWEEP_OUT": str(tmp_path / "out"),
            "SLURM_SUBMIT_DIR": str(REPO), "SLURM_CPUS_PER_TASK": "1", "SLURM_ARRAY_JOB_ID": "4242",
            "SLURM_ARRAY_TASK_COUNT": "2", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "1"}


def task_env(env: dict[str, str], task: int) -> dict[str, str]:
    return {**env, "SLURM_ARRAY_TASK_ID": str(task), "SLURM_JOB_ID": str(4243 + task), "SLURM_JOB_NAME": "vae-sweep"}


def test_the_sbatch_scripts_declare_an_array_and_a_dependent_report():
    sweep = (SLURM / "sweep.sbatch").read_text()
    assert re.search(r"^#SBATCH --array=0-\d+$", sweep, re.M) and "python -m sweep.launch" in sweep
    assert '--storage "$SWEEP_DB"' in sweep and "--no-report" in sweep
    assert "--dependency=\"afterok:$ARRAY_ID\"" in (SLURM / "submit.sh").read_text()


def test_submit_chains_the_report_on_the_array(tmp_path):
    """submit.sh against a recording `sbatch` on PATH: the report depends on the array's job id."""
    log = tmp_path / "sbatch.log"
    fake = tmp_path / "bin" / "sbatch"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/bash\necho "$SWEEP_STUDY|$SWEEP_CONFIG|$*" >> {log}\n'
                    'case "$*" in *report.sbatch*) echo 778;; *) echo "777;cluster-a";; esac\n')
    fake.chmod(0o755)
    done = subprocess.run(["bash", str(SLURM / "submit.sh"), "lab-run-1", "configs/smoke.yaml", "--set",
                           "trial.epochs=2"], env={**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}"},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    calls = log.read_text().splitlines()
    assert calls == [f"lab-run-1|configs/smoke.yaml|--parsable {SLURM}/sweep.sbatch --set trial.epochs=2",
                     f"lab-run-1|configs/smoke.yaml|--parsable --dependency=afterok:777 {SLURM}/report.sbatch"]
    assert "array job 777, report job 778" in done.stdout


def test_array_tasks_and_report_complete_a_sweep_on_postgresql(tmp_path):
    (tmp_path / "tiny.yaml").write_text(CONFIG)
    with postgres_server() as admin:
        sweep_db = re.sub(r"//postgres:[^@]*@(.*)/postgres$", rf"//sweeps:{DB_PASSWORD}@\1/sweeps", admin)
        env = base_env(tmp_path, sweep_db)
        outputs = []
        for _ in range(2):  # the set-up is safe to run twice
            setup = subprocess.run([sys.executable, str(SLURM / "setup_db.py")], cwd=REPO,
                                   env={**env, "SWEEP_DB_ADMIN": admin}, capture_output=True, text=True, timeout=120)
            assert setup.returncode == 0, setup.stderr
            outputs.append(setup.stdout + setup.stderr)
        assert "created database sweeps" in outputs[0] and "created" not in outputs[1]

        tasks = [subprocess.Popen(["bash", str(SLURM / "sweep.sbatch")], cwd=tmp_path, env=task_env(env, task),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for task in (0, 1)]
        outputs += [" ".join(task.communicate(timeout=500)) for task in tasks]
        assert [task.returncode for task in tasks] == [0, 0], outputs[-2:]
        assert "task 1 of array job 4242" in outputs[-1]
        assert all("sweeps:***@" in output for output in outputs[-2:])  # the storage URL is printed masked
        assert all("1 worker;" in output for output in outputs[-2:])  # the task's cores go to threads
        trials = optuna.load_study(study_name="slurm-test", storage=sweep_db).get_trials()
        complete = [t for t in trials if t.state.name == "COMPLETE"]
        assert sorted(t.user_attrs["grid_point"] for t in complete) == [0, 1, 2, 3], trials
        assert len({(t.params["beta"], t.params["reduction"]) for t in complete}) == 4
        assert len(list((tmp_path / "out" / "slurm-test").glob("trial-*"))) == 4  # each point trained once

        report = subprocess.run(["bash", str(SLURM / "report.sbatch")], cwd=tmp_path,
                                env={**env, "SLURM_JOB_ID": "4246", "SLURM_JOB_NAME": "vae-sweep-report"},
                                capture_output=True, text=True, timeout=500)
        outputs.append(report.stdout + report.stderr)
        assert report.returncode == 0, report.stderr
    folder = tmp_path / "out" / "slurm-test" / "report"
    assert {"overregularization.html", "kl_per_dim.html", "summary.csv"} <= {p.name for p in folder.iterdir()}
    runs = [read_run(path) for path in (tmp_path / "out" / "wandb").rglob("run-*.wandb")]
    assert sorted(run.job_type for run in runs) == ["report"] + ["trial"] * 4
    assert {run.group for run in runs} == {"slurm-test"}
    for secret in (PASSWORD, DB_PASSWORD, WANDB_KEY):  # no password and no W&B key reaches the output or any file
        assert not any(secret in text for text in outputs)
        for path in tmp_path.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path
