"""The benchmark harness runs and writes its report; no timings are asserted (benchmarks are not unit tests)."""
import math

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
