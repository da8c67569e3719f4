"""`python -m sweep.trial`: one trial outside Optuna (what `wandb agent` runs), logged to W&B like a sweep trial.

    python -m sweep.trial --beta 4 --latent_dim 16 --reduction mean [--config-json FILE] [--study NAME] [--out DIR]

Every TrialConfig key is a flag (values parsed as YAML: `--hidden "[256, 128]"`, `--learning_rate 1e-4`);
flags override `--config-json` (a JSON object of TrialConfig keys), which overrides the defaults.
Artifacts go to `<out>/<study>/run-<W&B run id>/` (`run-<date-time>/` if W&B failed to start). Exit codes: 0 done,
1 the loss went NaN/inf, 2 bad input, 75 a fault of the machine (a full disk).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Sequence, get_args

from common.cli import EXIT_INCOMPLETE, OneLineParser, run_main
from sweep.cli import quiet_logging
from vae.config import TrialConfig, build_trial_config, deep_merge, parse_overrides
from common.errors import UserError


def _flag_help(name: str) -> str:
    info = TrialConfig.model_fields[name]
    default = info.default_factory() if info.default_factory is not None else info.default
    choices = get_args(info.annotation)
    allowed = f"; one of {', '.join(map(str, choices))}" if choices and all(isinstance(c, str) for c in choices) else ""
    return f"(default {default!r}{allowed})"


def parse_args(argv: Sequence[str] | None):
    parser = OneLineParser(prog="python -m sweep.trial", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config-json", metavar="FILE", help="JSON object of TrialConfig keys")
    parser.add_argument("--study", default="single", help="W&B group (default: single)")
    parser.add_argument("--project", default="vae-sweeps", help="W&B project (default: vae-sweeps)")
    parser.add_argument("--entity", default=None, help="W&B entity (default: your default entity)")
    parser.add_argument("--out", default="runs", help="artifact root (default: runs)")
    parser.add_argument("--wandb-mode", choices=("auto", "offline", "online", "disabled"), default="auto",
                        help="W&B mode (default auto: online only if a key is configured)")
    group = parser.add_argument_group("trial config (vae.config.TrialConfig)")
    for name in TrialConfig.model_fields:
        flags = [f"--{name}"] + ([f"--{name.replace('_', '-')}"] if "_" in name else [])
        group.add_argument(*flags, dest=f"field_{name}", metavar="VALUE", help=_flag_help(name))
    return parser.parse_args(argv)


def read_json_config(path: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except OSError as error:
        raise UserError(f"{path}: cannot read ({error.strerror})") from None
    except json.JSONDecodeError as error:
        raise UserError(f"{path}: malformed JSON at line {error.lineno}, column {error.colno}: {error.msg}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object of TrialConfig keys (got {type(data).__name__})")
    return data


def trial_config(args) -> TrialConfig:
    base = read_json_config(args.config_json) if args.config_json else {}
    pairs = [f"{name}={getattr(args, f'field_{name}')}" for name in TrialConfig.model_fields
             if getattr(args, f"field_{name}") is not None]
    source = "flags" if not args.config_json else f"{args.config_json} + flags"
    return build_trial_config(deep_merge(base, parse_overrides(pairs)), source=source)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    def body() -> int:
        config = trial_config(args)
        if not args.study.strip():
            raise UserError("--study: must not be empty")
        quiet_logging()
        from common.results import json_safe
        from sweep.objective import NonFiniteTrial, objective_value, train_tracked
        from sweep.tracking import Tracker

        root = Path(args.out).resolve()
        tracker = Tracker.create(args.project, args.study, args.wandb_mode, root, args.entity)
        run = tracker.start(None, {**config.flat(), "study": args.study})
        out_dir = root / args.study / f"run-{run.id or time.strftime('%Y%m%d-%H%M%S')}"  # no id: W&B failed
        try:
            result = train_tracked(config, out_dir, run)
        except NonFiniteTrial as error:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_INCOMPLETE
        finally:
            hint = tracker.sync_hint()
            if hint:
                print(hint, file=sys.stderr)
        shown = {key: value for key, value in result.as_dict().items() if not isinstance(value, list)}
        print(json.dumps({"value": json_safe(objective_value(result, config.model)), **shown}, indent=2))
        print(f"artifacts: {result.artifact_dir}")
        return 0

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())
