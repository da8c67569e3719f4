"""sweep.tracking: W&B mode resolution, offline fallback, and the API key never reaching files or output."""
from __future__ import annotations

import pytest

from sweep import tracking


@pytest.fixture
def no_key(monkeypatch, tmp_path):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_BASE_URL", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def test_auto_is_offline_without_a_key(no_key):
    assert tracking.resolve_mode("auto") == "offline"


def test_auto_is_online_with_an_env_key_or_a_netrc_login(no_key, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    assert tracking.resolve_mode("auto") == "online"
    monkeypatch.delenv("WANDB_API_KEY")
    (no_key / "netrc").write_text("machine api.wandb.ai\n  login user\n  password " + "p" * 40 + "\n")
    assert tracking.resolve_mode("auto") == "online"
    (no_key / "netrc").write_text("machine example.org\n  login user\n  password x\n")
    assert tracking.resolve_mode("auto") == "offline"


def test_explicit_modes_win(no_key, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    assert tracking.resolve_mode("offline") == "offline"
    assert tracking.resolve_mode("disabled") == "disabled"
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert tracking.resolve_mode("auto") == "offline"


def test_online_start_failure_falls_back_to_offline(no_key, monkeypatch, capsys):
    import wandb

    real_init = wandb.init

    def init(*args, mode=None, **kwargs):
        if mode == "online":
            raise wandb.errors.CommError("network is unreachable")
        return real_init(*args, mode=mode, **kwargs)

    monkeypatch.setattr(wandb, "init", init)
    tracker = tracking.Tracker.create("vae-sweeps", "g", "online", no_key / "out")
    run = tracker.start("trial-0", {"beta": 1.0})
    run.finish_failed("FAIL", "test")
    assert tracker.mode == "offline" and tracker.fell_back
    assert "logging offline" in capsys.readouterr().err
    assert "wandb sync" in tracker.sync_hint() and str(no_key / "out" / "wandb") in tracker.sync_hint()


def test_the_api_key_reaches_no_file_and_no_output(no_key, monkeypatch, capfd, tmp_path):
    """A whole (fake-trainer) sweep with a key in the environment, W&B offline."""
    from test_sweep_flow import fake_run, FakeNonFinite, make_config  # noqa: F401 - shared fake

    from sweep import launch, objective

    secret = "0123456789abcdef0123456789abcdef01234567"
    monkeypatch.setenv("WANDB_API_KEY", secret)
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "runs"))
    monkeypatch.setattr(objective, "load_trainer", lambda: (fake_run, FakeNonFinite))
    config = make_config(tmp_path, space={"beta": [1.0, 2.0]})
    config = config.model_copy(update={"wandb": config.wandb.model_copy(update={"mode": "offline"})})
    assert launch.sweep(config, report=False) == 0
    captured = capfd.readouterr()
    assert secret not in captured.out + captured.err
    files = [path for path in (tmp_path / "runs").rglob("*") if path.is_file()]
    assert any(path.suffix == ".wandb" for path in files)
    for path in files:
        assert secret.encode() not in path.read_bytes(), path
