"""A stub objective with a known collapse threshold, for the boundary search's tests (no TensorFlow).

`stub_run` stands in for `vae.train.run`: a VAE whose effective β (β, or β × 784 for reduction mean) reaches
`THRESHOLD[arch]` has no active unit, every other VAE has all of them. Run as a script, it is `python -m
sweep.launch` with this trainer: `python tests/boundary_stub.py CONFIG [launch flags]` (`--workers 1`: spawned
workers would load the real trainer). `STUB_SECONDS` in the environment makes each trial take that long.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

PIXELS = 784
THRESHOLD = {"mlp": 8.0, "conv": 20.0}  # effective β at which the stub's VAEs lose their last active unit


class StubNonFinite(RuntimeError):
    pass


def collapses(arch: str, reduction: str, beta: float) -> bool:
    from common.collapse import effective_beta

    return effective_beta(beta, reduction, PIXELS) >= THRESHOLD[arch]


def stub_run(config, out_dir=None, on_epoch=None, verbose=0):
    from common.collapse import effective_beta
    from common.results import TrialResult

    time.sleep(float(os.environ.get("STUB_SECONDS", "0")))
    row = {"epoch": 0, "val/nelbo": 100.0 + config.beta}
    if on_epoch:
        on_epoch(0, row)
    if config.model == "ae":
        return TrialResult(recon_nll=80.0, recon_diversity=0.8, epochs_run=1, history=[row])
    units = 0 if collapses(config.arch, config.reduction, config.beta) else config.latent_dim
    return TrialResult(recon_nll=100.0, kl=float(units), nelbo=100.0 + units, active_units=units,
                       recon_diversity=0.5 if units else 0.0, epochs_run=1, history=[row],
                       effective_beta=effective_beta(config.beta, config.reduction, PIXELS),
                       artifact_dir=Path(out_dir) if out_dir else None)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from sweep import launch, objective

    objective.load_trainer = lambda: (stub_run, StubNonFinite)
    sys.exit(launch.main(sys.argv[1:]))
