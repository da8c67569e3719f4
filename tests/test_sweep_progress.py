"""sweep.progress: the results table the launcher prints at the end."""
from __future__ import annotations

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial

from common.results import TrialResult
from sweep.progress import results_table

PARAMS = {"beta": 0.5, "latent_dim": 16, "reduction": "mean", "arch": "conv", "model": "vae",
          "learning_rate": 0.002, "kl_warmup_epochs": 3, "free_bits": 0.25}


def test_no_number_is_cut_at_120_columns_even_with_many_swept_keys(capsys):
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(study_name="wide")
    distributions = {key: CategoricalDistribution([value]) if isinstance(value, str) else FloatDistribution(0, 100)
                     for key, value in PARAMS.items()}
    collapsed = TrialResult(active_units=0, recon_diversity=1.4921e-09, sharpness=0.006842, sample_kid=1.26455,
                            train_seconds=10.83)
    study.add_trial(create_trial(params=PARAMS, distributions=distributions, value=204.8,
                                 user_attrs=collapsed.stored(), state=TrialState.COMPLETE))
    capsys.readouterr()
    results_table(study)
    out = capsys.readouterr().out
    assert max(map(len, out.splitlines())) <= 120, out
    for number in ("1.492e-09", "0.006842", "1265", "10.83", "204.8", "0.002", "0.25"):  # KID shown ×10³
        assert number in out, (number, out)
    assert "…" not in out
