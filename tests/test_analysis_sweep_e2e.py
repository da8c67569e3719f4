"""A tiny real sweep (`python -m sweep.launch`, reduction sum vs mean) and then the report on its study:
the report must say that the mean run collapsed and the sum run did not."""
from __future__ import annotations

import csv
import importlib.util
import subprocess
import sys
import textwrap

import pytest
from analysis_fixtures import ROOT, env, run_report
from test_analysis_report import visible_text

pytestmark = pytest.mark.skipif(importlib.util.find_spec("sweep.launch") is None,
                                reason="sweep.launch not available yet")

CONFIG = textwrap.dedent("""\
    study: tiny-reduction
    wandb: {project: vae-sweeps, mode: offline}
    search:
      method: grid
      space:
        reduction: [sum, mean]
    trial:
      dataset: mnist5k
      model: vae
      likelihood: bernoulli
      latent_dim: 8
      hidden: [256, 128]
      beta: 1.0
      epochs: 6
      batch_size: 128
      seed: 0
""")


def test_tiny_sweep_then_report(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(CONFIG)
    out = tmp_path / "runs"
    sweep = subprocess.run([sys.executable, "-m", "sweep.launch", str(config), "--out", str(out),
                            "--wandb-mode", "offline", "--no-report", "--workers", "1"], cwd=ROOT, env=env(tmp_path),
                           capture_output=True, text=True, timeout=550)
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    storage = f"sqlite:///{out / 'sweeps.db'}"
    report_dir = tmp_path / "report"
    done = run_report(["--storage", storage, "--study", "tiny-reduction", "--out", str(report_dir)], tmp_path)
    assert done.returncode == 0, done.stderr
    rows = {row["reduction"]: row for row in csv.DictReader((report_dir / "summary.csv").open())}
    assert rows["mean"]["status"] == "collapsed", rows["mean"]["evidence"]
    assert rows["sum"]["status"] == "healthy", rows["sum"]["evidence"]
    text = visible_text((report_dir / "overregularization.html").read_text())
    assert "The one run with reduction=mean collapsed" in text
    assert "The one run with reduction=sum did not collapse" in text
    assert (report_dir / "overregularization.html").read_text().count("data:image/png;base64") >= 3
    # The same verdicts from the sweep's own offline W&B runs (the report over a W&B folder, end to end, is
    # tests/test_analysis_report.py::test_report_from_offline_wandb_dir_skips_and_names_corrupt_files).
    from analysis.load import load

    frame = load(wandb_dir=str(tmp_path))
    assert dict(zip(frame["reduction"], frame["status"])) == {"mean": "collapsed", "sum": "healthy"}
