"""`python -m sweep.relog`: log to W&B the finished trials that W&B missed (it failed mid-sweep), from their folders.

    python -m sweep.relog [the arguments of the launch command]

When W&B fails during a sweep it is switched off and the trials go on (`sweep.tracking`); each finished trial it
missed is marked `wandb_unlogged`. This command takes the same arguments as `python -m sweep.launch` (it reads the
study, the storage, the output folder and the W&B settings from them; the others are ignored) and logs each such
trial as the sweep would have: one run per trial (the same run id where one was started), with its config, the
per-epoch history (`history.csv`), the summary of test metrics, the KL-per-dim table, the images and the saved
model. Trials re-logged once are recorded in the study and skipped the next time. Exit code 0 when every missed
trial was logged, 1 when some could not be (an incomplete trial folder, W&B failing again).
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any, Sequence

from common.cli import EXIT_INCOMPLETE, EXIT_OK, run_main
from common.errors import UserError
from common.results import (ARTIFACT_DIR, CONFIG, METRICS_FILE, WANDB_RELOGGED, WANDB_RUN_ID, WANDB_UNLOGGED,
                            TrialResult, folder_complete)

PROG = "python -m sweep.relog"


def history(folder: Path) -> list[dict[str, float]]:
    """The per-epoch rows of a trial folder's `history.csv` (numbers; `epoch` an int)."""
    with open(folder / "history.csv", newline="") as handle:
        rows = [{key: float(value) for key, value in row.items() if value not in ("", None)}
                for row in csv.DictReader(handle)]
    return [{**row, "epoch": int(row["epoch"])} if "epoch" in row else row for row in rows]


def relog_trial(tracker: Any, study: str, trial: Any) -> bool:
    """Log one finished trial from its folder; False (with a line on stderr) if the folder is incomplete or W&B
    failed again."""
    folder = Path(trial.user_attrs.get(ARTIFACT_DIR) or "")
    if not folder_complete(folder):
        print(f"trial {trial.number}: skipped, its folder {folder} is incomplete or missing (no {METRICS_FILE})",
              file=sys.stderr)
        return False
    result = TrialResult.from_stored(trial.user_attrs)
    result.artifact_dir = folder
    config = {**trial.user_attrs.get(CONFIG, {}), "study": study, "trial_number": trial.number}
    run = tracker.start(f"trial-{trial.number}", config, run_id=trial.user_attrs.get(WANDB_RUN_ID))
    for row in history(folder):
        run.log_epoch(row)
    run.finish_complete(result)
    return run.logged


def main(argv: Sequence[str] | None = None) -> int:
    from sweep.launch import launch_config, parse_args

    args = parse_args(argv, prog=PROG, description=__doc__.split("\n\n")[0])

    def body() -> int:
        import optuna

        from sweep.cli import quiet_logging
        from sweep.storage import make_storage, mask, resolve_url
        from sweep.tracking import Tracker

        quiet_logging()
        config = launch_config(args)
        url = resolve_url(config)
        try:
            study = optuna.load_study(study_name=config.study, storage=make_storage(url))
        except KeyError:
            raise UserError(f"no study {config.study!r} in {mask(url)}") from None
        done = set(study.user_attrs.get(WANDB_RELOGGED, []))
        missed = [trial for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
                  if trial.user_attrs.get(WANDB_UNLOGGED) and trial.number not in done]
        tracker = Tracker.create(config.wandb.project, config.study, config.wandb.mode, config.out,
                                 config.wandb.entity)
        if tracker.mode == "disabled":
            raise UserError("W&B mode is disabled: nothing can be logged (--wandb-mode offline or online)")
        logged = [trial.number for trial in missed if relog_trial(tracker, config.study, trial)]
        tracker.close()
        if logged:
            study.set_user_attr(WANDB_RELOGGED, sorted(done | set(logged)))
        print(f"study {config.study!r}: {len(logged)} of {len(missed)} trials W&B had missed logged now"
              + (f" ({len(done)} logged before)" if done else ""))
        hint = tracker.sync_hint()
        if hint and logged:
            print(hint)
        return EXIT_OK if len(logged) == len(missed) else EXIT_INCOMPLETE

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())
