"""common.results: one record, one mapping to every store and back."""
import math

import numpy as np

import pytest

from common.results import (KEY, FAIL_REASON, KL_PER_DIM_KEY, RUN_FIGURES, SCALAR_TEST_KEYS, TEST_METRICS, TrialResult,
                            json_safe, stored_key)


def test_stored_keys_prefix_test_metrics_only():
    assert stored_key("nelbo") == "test/nelbo" and stored_key("train_seconds") == "train_seconds"
    assert KL_PER_DIM_KEY == "test/kl_per_dim" and KL_PER_DIM_KEY not in SCALAR_TEST_KEYS
    assert "effective_beta" in RUN_FIGURES and "nelbo" in TEST_METRICS and FAIL_REASON == "fail_reason"


def test_key_names_every_stored_key_by_its_field():
    assert KEY.kl == "test/kl" and KEY.train_seconds == "train_seconds" and KEY.kl_per_dim == KL_PER_DIM_KEY
    assert set(vars(KEY).values()) >= set(SCALAR_TEST_KEYS)
    with pytest.raises(AttributeError):
        KEY.active_unit  # a misspelt key fails where it is written, not as a silently missing column


def test_round_trip_through_stored_and_plain_keys():
    result = TrialResult(nelbo=np.float32(101.5), kl_per_dim=[0.5, np.float64(0.0)], active_units=np.int64(1),
                         effective_beta=784.0, iwae_nll=math.nan, sample_quality_skipped="no labels")
    stored = result.stored()
    assert stored["test/nelbo"] == 101.5 and isinstance(stored["test/active_units"], int)
    assert stored["test/iwae_nll"] is None  # NaN is not JSON
    assert stored["effective_beta"] == 784.0 and stored["sample_quality_skipped"] == "no labels"
    for written in (stored, result.as_dict()):
        back = TrialResult.from_stored(written)
        assert back.nelbo == 101.5 and back.kl_per_dim == [0.5, 0.0] and back.effective_beta == 784.0


def test_a_study_written_before_the_record_still_loads():
    old = {"test/nelbo": 99.0, "test/sample_fd": 12.0, "wandb_run_id": "abc", "num_pixels": 784}
    back = TrialResult.from_stored(old)
    assert back.nelbo == 99.0 and back.sample_fd == 12.0 and back.kl is None
    assert back.sample_kid is None and back.sample_features is None  # an MLP's FD: never mixed with the KID


def test_json_safe():
    assert json_safe([np.float32(1.5), math.inf, (2, math.nan)]) == [1.5, None, [2, None]]
