"""`--workers auto` (the default, sweep.workers): one worker per core, fewer if memory is short; bad values refused
in one line."""
from __future__ import annotations

import textwrap

import numpy as np
import pytest

from common.machine import usable_cores
from conftest import assert_one_line_error, run_cli
from sweep.launch import workers_arg
from sweep.workers import auto_workers, available_memory, worker_memory

GIB = 2**30


@pytest.mark.parametrize("cores, available, expected", [
    (2, 16 * GIB, 2),            # memory to spare: one per core
    (8, 16 * GIB, 8),
    (8, 5 * GIB, 3),             # memory for 3 of the 8
    (4, int(1.2 * GIB), 1),      # not even one fits: still one (the sweep runs, as with --workers 1)
    (1, 64 * GIB, 1),
])
def test_auto_workers_is_cores_capped_by_memory(cores, available, expected):
    assert auto_workers(cores, available, per_worker_bytes=int(1.5 * GIB)) == expected


def test_worker_memory_is_estimated_from_the_data_header_and_the_model_setups(tmp_path):
    from sweep.config import load_config
    from vae.memory import RUNTIME_BYTES, SETUP_BYTES

    path = tmp_path / "tiny.npz"
    np.savez(path, x=np.zeros((100, 8, 8), np.uint8), y=np.arange(100) % 10)
    config_file = tmp_path / "grid.yaml"
    config_file.write_text(textwrap.dedent(f"""\
        search:
          method: grid
          space: {{beta: [1.0, 2.0], latent_dim: [2, 4]}}
        trial: {{dataset: "npz:{path}", binarize: static}}
        """))
    per_worker, why = worker_memory(load_config(config_file))
    # 100 images of 64 pixels: 80 train, 10 val, 10 test; uint8 as stored, binarized again as uint8 (static:
    # every split); 3 float32 copies of the test split; the classifier's 3 float32 copies of the train split;
    # beta needs no new model, latent_dim does: 2 setups
    stored, binarized, test_floats, classifier = 100 * 64, 100 * 64, 3 * 4 * 64 * 10, 3 * 4 * 64 * 80
    assert per_worker == RUNTIME_BYTES + stored + binarized + test_floats + classifier + SETUP_BYTES
    assert "1 more model setup" in why and "classifier training included" in why


def test_machine_probes_are_sane():
    assert usable_cores() >= 1
    assert 0 < available_memory()


@pytest.mark.parametrize("text, expected", [("auto", "auto"), ("1", 1), ("3", 3)])
def test_workers_flag_values(text, expected):
    assert workers_arg(text) == expected


GOOD = textwrap.dedent("""\
    study: s
    search:
      method: grid
      space: {beta: [1.0]}
    trial: {epochs: 1, hidden: [32], latent_dim: 2, iwae_samples: 2}
    """)


@pytest.mark.parametrize("value, needles", [("0", ["--workers", "at least 1"]), ("x", ["--workers", "'x'", "auto"]),
                                            ("-2", ["--workers"])])
def test_bad_workers_refused_in_one_line(tmp_path, value, needles):
    config = tmp_path / "good.yaml"
    config.write_text(GOOD)
    result = run_cli("-m", "sweep.launch", str(config), "--out", str(tmp_path / "out"), "--no-report",
                     f"--workers={value}", cwd=tmp_path)
    assert_one_line_error(result, *needles)
    assert not (tmp_path / "out").exists()
