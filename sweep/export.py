"""`python -m sweep.export [CONFIG]`: print the equivalent W&B sweep YAML (runs `python -m sweep.trial`).

    python -m sweep.export configs/default.yaml > wandb-sweep.yaml
    wandb sweep wandb-sweep.yaml && wandb agent <entity/project/sweep-id>

Method mapping: grid -> grid, tpe -> bayes, random -> random (run_cap = n_trials); boundary is refused (W&B has
no adaptive bisection). Searched keys become
`values` (lists) or distributions (`{low, high, log}`); every other trial key is a fixed `value`, so each W&B run
carries the full config. Optuna pruning has no exact W&B equivalent and is not exported.
"""
from __future__ import annotations

import sys
from typing import Any, Sequence

import yaml

from common.cli import OneLineParser, run_main
from common.results import stored_key
from sweep.cli import config_path
from sweep.config import Range, SweepConfig, field_kind, load_config
from common.errors import UserError
from vae.config import deep_merge, parse_overrides

WANDB_METHODS = {"grid": "grid", "tpe": "bayes", "random": "random"}


def parameter(key: str, dim: list[Any] | Range) -> dict[str, Any]:
    if not isinstance(dim, Range):
        return {"values": list(dim)}
    if field_kind(key) == "int":
        low, high = int(dim.low), int(dim.high)
        if dim.log:
            return {"distribution": "q_log_uniform_values", "min": low, "max": high, "q": 1}
        if dim.step:
            return {"distribution": "q_uniform", "min": low, "max": high, "q": int(dim.step)}
        return {"distribution": "int_uniform", "min": low, "max": high}
    if dim.log:
        return {"distribution": "log_uniform_values", "min": dim.low, "max": dim.high}
    if dim.step:
        return {"distribution": "q_uniform", "min": dim.low, "max": dim.high, "q": dim.step}
    return {"distribution": "uniform", "min": dim.low, "max": dim.high}


def wandb_sweep(config: SweepConfig) -> dict[str, Any]:
    if config.search.method == "boundary":
        raise UserError("search.method: boundary has no W&B sweep equivalent (W&B cannot choose the next β from "
                        "the runs so far); run it with python -m sweep.launch, or export a grid: --set "
                        "search.method=grid --set search.space.beta='[0.5, 1, 4]'")
    dims = config.dimensions()
    parameters = {key: parameter(key, dim) for key, dim in dims.items()}
    parameters.update({key: {"value": value} for key, value in config.trial_defaults().items() if key not in dims})
    sweep: dict[str, Any] = {
        "name": config.study,
        "project": config.wandb.project,
        "program": "sweep/trial.py",
        "method": WANDB_METHODS[config.search.method],
        "metric": {"name": stored_key(config.search.objective), "goal": "minimize"},
        "command": ["${env}", "${interpreter}", "-m", "sweep.trial", "--study", config.study,
                    "--project", config.wandb.project, "--out", config.out, "${args}"],
        "parameters": parameters,
    }
    if config.wandb.entity:
        sweep["entity"] = config.wandb.entity
    if config.search.method != "grid" and config.search.n_trials:
        sweep["run_cap"] = config.search.n_trials
    return sweep


def render(config: SweepConfig, source: str) -> str:
    header = (f"# W&B sweep equivalent of {source} (python -m sweep.export)\n"
              f"# wandb sweep <this file> && wandb agent <entity>/{config.wandb.project}/<sweep id>\n")
    if config.search.pruner != "none":
        header += f"# note: the Optuna pruner ({config.search.pruner}) is not exported\n"
    for point in config.search.include:
        flags = " ".join(f"--{key} {_shell(value)}" for key, value in point.items())
        header += (f"# search.include point (a W&B grid cannot add single points); run it with:\n"
                   f"#   python -m sweep.trial --study {config.study} --project {config.wandb.project} {flags}\n")
    return header + yaml.safe_dump(wandb_sweep(config), sort_keys=False, default_flow_style=None, width=100)


def _shell(value: Any) -> str:
    import shlex

    text = yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
    return shlex.quote(text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m sweep.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("config", nargs="?", help="sweep YAML (default: configs/default.yaml)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key by dotted path, as in sweep.launch")
    parser.add_argument("--study", help="study name = W&B sweep name and group")
    args = parser.parse_args(argv)

    def body() -> int:
        overrides = parse_overrides(args.set)
        if args.study is not None:
            overrides = deep_merge(overrides, {"study": args.study})
        path = config_path(args.config)
        sys.stdout.write(render(load_config(path, overrides), str(path)))
        return 0

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())
