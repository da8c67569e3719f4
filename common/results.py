"""The names under which a trial's results are stored: Optuna user attrs, W&B rows and summaries, report columns.

A finished trial stores `test/<metric>` for each of `TEST_METRICS` and the plain `RUN_FIGURES`; W&B gets one
row per epoch with `EPOCH_KEYS`. The report's table has one column per stored key.
"""
from __future__ import annotations

SAMPLE_METRICS = ("sample_fd", "sample_confidence", "sample_coverage", "classifier_accuracy")  # vae.quality
TEST_METRICS = ("recon_nll", "kl", "nelbo", "iwae_nll", "kl_per_dim", "active_units", "mutual_info",
                "recon_diversity", "sharpness", *SAMPLE_METRICS)
RUN_FIGURES = ("effective_beta", "train_seconds", "eval_seconds", "epochs_run", "examples_per_second",
               "sample_metrics_seconds")
RUN_NOTES = ("sample_quality_skipped",)  # text: why the sample metrics are missing (no labels, ...)
EPOCH_KEYS = ("epoch", "train/loss", "train/recon", "train/kl", "val/nelbo", "val/recon_nll", "val/kl",
              "val/active_units")
FAIL_REASON = "fail_reason"  # user attr / W&B summary key: why a trial did not complete


def test_key(metric: str) -> str:
    return f"test/{metric}"


SCALAR_TEST_KEYS = tuple(test_key(metric) for metric in TEST_METRICS if metric != "kl_per_dim")
