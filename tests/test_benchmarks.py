"""The benchmark harness runs and writes its report; no timings are asserted (benchmarks are not unit tests)."""
import math

import pytest
from conftest import run_cli

from benchmarks import efficiency, report
from vae.config import TrialConfig


def test_help_lists_the_sections():
    result = run_cli("-m", "benchmarks", "--help")
    assert result.returncode == 0, result.stderr
    for section in ("--quick", "throughput", "efficiency", "sweep", "pruning"):
        assert section in result.stdout


def test_mlp_flop_count_covers_every_dense_layer():
    config = TrialConfig(hidden=[512, 256], latent_dim=16)
    assert efficiency.dense_shapes(config, 784) == [(784, 512), (512, 256), (256, 16), (256, 16),
                                                    (16, 256), (256, 512), (512, 784)]
    forward = 2 * (784 * 512 + 512 * 256 + 2 * 256 * 16 + 16 * 256 + 256 * 512 + 512 * 784)
    assert efficiency.train_flops_per_example(config, 784) == 3 * forward


def test_report_keeps_the_hand_written_part(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    path.write_text(f"old table\n{report.MARKER}\n\n## Where the time goes\n\nmy notes\n")
    rows = report.Report("Some CPU, 2 cores, TF x", "2026-01-01", (0.0, 0.0, 0.0), quick=True)
    rows.add("throughput", "2", "1", report.fmt_ratio(2.0), "≥ 1.5×", "python -m benchmarks --quick")
    report.write(rows, path)
    text = path.read_text()
    assert "old table" not in text and "my notes" in text
    assert "| throughput | 2 | 1 | 2.00× | ≥ 1.5× |" in text
    assert report.fmt_pct(math.nan) == "n/a"


def test_a_run_of_one_section_replaces_only_its_rows_and_details(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    first = report.Report("Some CPU", "2026-01-01", (0.0, 0.0, 0.0), quick=False)
    first.add("throughput", "2", "1", "2.00×", "≥ 1.5×", "python -m benchmarks --only throughput")
    first.add("main job", "90 s", "—", "—", "≤ 120 s", "python -m benchmarks --only mainjob")
    first.details += ["- matmul peak: 100 GFLOP/s", "- main job verdicts: 3 collapsed"]
    report.write(first, path)
    again = report.Report("Some CPU", "2026-02-02", (0.0, 0.0, 0.0), quick=False)
    again.add("main job", "80 s", "—", "—", "≤ 120 s", "python -m benchmarks --only mainjob")
    again.details.append("- main job verdicts: 4 collapsed")
    report.write(again, path)
    text = path.read_text()
    assert "| throughput | 2 | 1 | 2.00× | ≥ 1.5× | 2026-01-01 |" in text
    assert "| main job | 80 s |" in text and "90 s" not in text and "2026-02-02" in text
    assert "- matmul peak: 100 GFLOP/s" in text and "4 collapsed" in text and "3 collapsed" not in text
    assert text.index("| throughput") < text.index("| main job")


def test_conv_flop_count_matches_the_layer_arithmetic():
    """Forward FLOPs of our conv VAE and of the keras-io reference, layer by layer by hand (28×28×1 images)."""
    config = TrialConfig(arch="conv", filters=[32, 64], hidden=[512, 256], latent_dim=16)
    conv = lambda pixels, k, c_in, c_out: 2 * pixels * k * k * c_in * c_out  # noqa: E731
    dense = lambda n_in, n_out: 2 * n_in * n_out  # noqa: E731
    shared = (conv(14 * 14, 3, 1, 32) + conv(7 * 7, 3, 32, 64) + dense(3136, 256) + 2 * dense(256, 16)
              + dense(16, 256) + dense(256, 3136))
    ours = shared + conv(7 * 7, 3, 64, 4 * 32) + conv(14 * 14, 3, 32, 4)  # sub-pixel: at the input's resolution
    reference = shared + conv(7 * 7, 3, 64, 64) + conv(14 * 14, 3, 64, 32) + conv(28 * 28, 3, 32, 1)
    assert efficiency.model_train_flops(config, (28, 28, 1)) == 3 * ours
    assert efficiency.model_train_flops(config, (28, 28, 1), reference=True) == 3 * reference


def test_suite_cpu_plugin_records_each_test_and_its_children(tmp_path):
    """A test that burns CPU in a child process: the record charges it to that test, and the summary to its file."""
    import os
    import subprocess
    import sys

    from benchmarks.suite_cpu import by_file

    (tmp_path / "test_burn.py").write_text(
        "import subprocess, sys\n"
        "def test_child():\n"
        "    subprocess.run([sys.executable, '-c', 'sum(i * i for i in range(3_000_000))'], check=True)\n"
        "def test_idle():\n"
        "    pass\n")
    log = tmp_path / "cpu.tsv"
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "benchmarks.suite_cpu", "-p",
                           "no:cacheprovider", "-o", "addopts=", str(tmp_path / "test_burn.py")],
                          env={**os.environ, "SUITE_CPU_LOG": str(log)}, cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {row.split("\t")[0].split("::")[1]: [float(v) for v in row.split("\t")[1:]]
            for row in log.read_text().splitlines()}
    assert rows["test_child"][2] > 0.05 and rows["test_child"][2] > 10 * rows["test_idle"][2]
    ((name, cpu, wall),) = by_file(str(log))
    assert name.endswith("test_burn.py") and cpu == pytest.approx(sum(row[1] + row[2] for row in rows.values()))
    summary = run_cli("-m", "benchmarks.suite_cpu", str(log))
    assert summary.returncode == 0 and "test_burn.py" in summary.stdout and "total" in summary.stdout


def test_data_scale_rows_say_when_a_limit_is_missed():
    from benchmarks import data_scale

    metrics = {"train_seconds": 7.0, "epoch_seconds": 2.5, "epoch_cpu_seconds": 4.0, "eval_seconds": 1.5,
               "eval_cpu_seconds": 5.0, "sample_metrics_seconds": 11.0, "iwae_nll": 110.0, "iwae_nll_se": 0.9,
               "iwae_examples": 1000}
    over = data_scale.Row("70,000 digits, mlp", "size", {}, limit_mb=1500, peak_mb=1600, cpu_s=30.0,
                          metrics=metrics, estimate_mb=1500)
    growth = data_scale.Row("70,000 digits", "growth", {}, peak_mb=1200, cpu_s=15.0, metrics=metrics)
    text = data_scale.markdown([over, growth], {"worker": 2100.0}, "m", "d")
    assert "| ≤ 1,500 MB **no** / **no** |" in text and "≤ 2,000 MB per process: **no**" in text
    growth_line = next(line for line in text.splitlines() if line.startswith("| 70,000 digits |"))
    assert growth_line.count("|") == 10 and growth_line.endswith("| 1.00 / 1.00 / 1.00 |")
