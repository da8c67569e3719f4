"""analysis.read.diagnose: the collapse flag and its evidence on rows with known answers."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analysis.read.diagnose import diagnose, diagnose_row
from common.collapse import Thresholds


def vae(units, diversity, latent=16, **extra):
    return {"state": "COMPLETE", "model": "vae", "latent_dim": latent, "test/active_units": units,
            "test/recon_diversity": diversity, **extra}


@pytest.mark.parametrize("row, status, evidence", [
    (vae(0, 0.01), "collapsed", "active_units 0 <= 0; recon_diversity 0.01 < 0.05"),
    (vae(0, 0.6), "collapsed", "active_units 0 <= 0"),
    (vae(5, 0.02), "collapsed", "recon_diversity 0.02 < 0.05"),
    (vae(3, 0.4), "partial", "active_units 3 < 4 (latent_dim 16 x 0.25)"),
    (vae(4, 0.4), "healthy", "active_units 4 >= 4 (latent_dim 16 x 0.25); recon_diversity 0.4 >= 0.05"),
    (vae(2, 0.5, latent=2), "healthy", "active_units 2 >= 0.5"),
    (vae(math.nan, math.nan), "unknown", "neither"),
    ({"state": "COMPLETE", "model": "ae", "test/active_units": None, "test/recon_diversity": 0.9}, "ae",
     "autoencoder (no KL term): recon_diversity 0.9 >= 0.05"),
    ({"state": "COMPLETE", "model": "ae", "test/recon_diversity": 0.01}, "collapsed", "autoencoder: recon_diversity"),
    ({"state": "FAIL", "model": "vae", "fail_reason": "loss is nan"}, "failed", "trial FAIL: loss is nan"),
    ({"state": "RUNNING", "model": "vae"}, "running", "trial RUNNING"),
    ({"state": "PRUNED", "model": "vae", "fail_reason": None}, "pruned", "trial PRUNED"),
])
def test_flag_and_evidence(row, status, evidence):
    got_status, got_evidence = diagnose_row(row)
    assert got_status == status
    assert evidence in got_evidence


def test_latent_dim_falls_back_to_kl_per_dim_length():
    row = vae(1, 0.5, latent=None, kl_per_dim=np.ones(8))
    assert diagnose_row(row) == ("partial", "active_units 1 < 2 (latent_dim 8 x 0.25); recon_diversity 0.5 >= 0.05")


def test_thresholds_are_parameters():
    row = vae(3, 0.08)
    assert diagnose_row(row)[0] == "partial"
    assert diagnose_row(row, Thresholds(recon_diversity_collapsed=0.1))[0] == "collapsed"
    assert diagnose_row(row, Thresholds(partial_fraction=0.1))[0] == "healthy"
    assert diagnose_row(vae(2, 0.5), Thresholds(active_units_collapsed=2))[0] == "collapsed"
    assert "recon_diversity < 0.1" in Thresholds(recon_diversity_collapsed=0.1).describe()


def test_diagnose_frame_adds_columns_and_records_thresholds():
    frame = pd.DataFrame([vae(0, 0.01), vae(10, 0.5), vae(1, 0.5)])
    result = diagnose(frame, Thresholds(partial_fraction=0.5))
    assert list(result["status"]) == ["collapsed", "healthy", "partial"]
    assert result.attrs["thresholds"]["partial_fraction"] == 0.5
    assert "status" not in frame  # input untouched
