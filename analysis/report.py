"""`python -m analysis.report`: executed notebooks + HTML + summary.csv for one sweep.

    python -m analysis.report [--storage URL] [--study NAME | --wandb-dir DIR] [--out DIR] [--wandb [MODE]]

Writes into DIR: `overregularization.ipynb`/`.html`, `kl_per_dim.ipynb`/`.html`, `samples.ipynb`/`.html`
(executed with nbclient on python3 kernels, no Jupyter server, side by side as the cores allow; HTML without code
cells, figures embedded as PNG), `summary.csv` (one row per trial: parameters, metrics, status, evidence) and
`collapse_boundary.csv` (where collapse begins, one row per group: analysis.findings.boundary); the notebooks add
`configurations.csv` (one row per configuration, seeds aggregated), `kl_per_dim.csv` (every trial's sorted
per-dimension KL) and `staircase.csv` (where each latent unit switches off, `analysis.findings.staircase`), the full
versions of the tables and heatmap they show truncated. DIR defaults to
`<db folder>/<study>/report` for an SQLite storage (next to the trial artifacts), else `reports/<study>`. The
storage may also be an Optuna journal file (`JournalFileBackend`), given as its path. `--wandb` also logs the report
as the study's W&B run of job_type `report` (analysis.wandb_report; project $WANDB_PROJECT or vae-sweeps; offline
runs under $WANDB_DIR, else next to the trials' runs: the --wandb-dir, the SQLite db folder or DIR).
Errors are one line on stderr and exit code 2. `sweep.launch` runs this command as a child process at the end of a
sweep.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Sequence

import pandas as pd

from common.collapse import Thresholds
from analysis.findings.boundary import CSV_NAME as BOUNDARY_CSV, write_csv as write_boundary_csv
from analysis.read.load import DEFAULT_STORAGE, is_journal_file, load
from analysis.notebooks import NOTEBOOKS, STORAGE_ENV, Source
from common.cli import EXIT_INCOMPLETE, EXIT_OK, OneLineParser, child_env, first_line, run_main
from common.results import LADDER_KEYS, METRICS_FILE
from common.storage_url import mask, normalize, sqlite_path
from common.errors import UserError

CELL_TIMEOUT_S = 600


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = OneLineParser(prog="python -m analysis.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--storage", help=f"Optuna storage URL, SQLite file or journal file "
                                          f"(default {DEFAULT_STORAGE})")
    parser.add_argument("--study", help="study name (= W&B group); optional if the storage holds one study")
    parser.add_argument("--wandb-dir", help="read offline W&B run files under DIR instead of Optuna")
    parser.add_argument("--out", help="output folder (default: <db folder>/<study>/report or reports/<study>)")
    parser.add_argument("--diversity-threshold", type=float, default=Thresholds.recon_diversity_collapsed,
                        help="collapsed if recon_diversity is below this (default %(default)s)")
    parser.add_argument("--partial-fraction", type=float, default=Thresholds.partial_fraction,
                        help="partial if active_units < latent_dim x this (default %(default)s)")
    parser.add_argument("--wandb", nargs="?", const="auto", choices=("auto", "offline", "online"),
                        help="also log the report to W&B as the study's `report` run (default mode: auto)")
    args = parser.parse_args(argv)
    if args.wandb_dir and args.storage:
        parser.error("give either --storage or --wandb-dir, not both")
    return args


def absolute_storage(storage: str) -> str:
    """Relative SQLite URLs/paths and journal files made absolute, so the notebooks (run elsewhere) find them."""
    return str(Path(storage).resolve()) if is_journal_file(storage) else normalize(storage)


def default_out(storage: str | None, study: str | None, wandb_dir: str | None) -> Path:
    name = study or "wandb"
    database = sqlite_path(storage) if wandb_dir is None and storage else None
    if database is not None:
        return database.parent / name / "report"
    return Path("reports") / name


def write_summary(df: pd.DataFrame, path: Path) -> None:
    table = df.copy()
    for column in ("kl_per_dim", *LADDER_KEYS):
        if column in table:
            table[column] = table[column].map(
                lambda value: json.dumps([round(float(v), 6) for v in value]) if hasattr(value, "__len__") else "")
    table.to_csv(path, index=False)


def kernel_env(storage: str | None) -> dict[str, str]:
    env = child_env()
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("MPLBACKEND", "Agg")
    if storage:
        env[STORAGE_ENV] = storage
    return env


# Run after each notebook but the last in a shared kernel: the next one starts as in a fresh kernel (empty
# namespace, cells numbered from 1), only with the modules already imported.
RESET = "get_ipython().run_line_magic('reset', '-f'); get_ipython().execution_count = 1"


def kernel_groups(names: list[str], cores: int) -> list[list[str]]:
    """Which notebooks share a kernel: each its own when there are enough cores. With fewer, the first one (the
    overregularisation report, the longest) keeps a kernel to itself and the others take turns in the rest, so a
    shared kernel pays its start and imports once; one core runs them all in one kernel."""
    if cores >= len(names) or len(names) < 2:
        return [[name] for name in names]
    if cores <= 1:
        return [list(names)]
    groups: list[list[str]] = [[names[0]]] + [[] for _ in range(cores - 1)]
    for index, name in enumerate(names[1:]):
        groups[1 + index % (cores - 1)].append(name)
    return groups


async def execute(notebooks: list, out: Path, env: dict[str, str]) -> None:
    """Run every cell of each notebook in turn in one python3 kernel (cwd = out); raise RuntimeError naming the
    first failing cell (the notebooks after it are not run)."""
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from traitlets.config import Config

    with tempfile.TemporaryDirectory(prefix="vae-kernel-") as sockets:
        # IPC transport: local sockets only, and no "running over TCP without encryption" warning on stderr.
        manager = AsyncKernelManager(kernel_name="python3",
                                     config=Config({"KernelManager": {"transport": "ipc", "ip": f"{sockets}/k"}}))
        try:
            for index, notebook in enumerate(notebooks):
                client = NotebookClient(notebook, km=manager, timeout=CELL_TIMEOUT_S,
                                        resources={"metadata": {"path": str(out)}})
                try:
                    await client.async_execute(env=env)  # the first one starts the kernel, the others reuse it
                    if index + 1 < len(notebooks):
                        await client.async_wait_for_reply(client.kc.execute(RESET, silent=True))
                except CellExecutionError as error:
                    ename = getattr(error, "ename", "error")
                    evalue = str(getattr(error, "evalue", "")).splitlines()
                    raise RuntimeError(f"{ename}: {evalue[0] if evalue else ''}") from None
                finally:
                    if client.kc is not None:
                        client.kc.stop_channels()
                for cell in notebook.cells:
                    for output in cell.get("outputs", []):
                        if output.get("output_type") == "error":
                            raise RuntimeError(f"{output.get('ename')}: {output.get('evalue')}")
        finally:
            if manager.has_kernel:
                await manager.shutdown_kernel(now=True)


def execute_all(notebooks: dict, out: Path, env: dict[str, str]) -> None:
    """Execute the notebooks side by side, in `kernel_groups` (the kernels' imports and figures use every core),
    write each `.ipynb` whatever happened to it, then raise the first failure."""
    import nbformat

    from common.machine import usable_cores

    groups = kernel_groups(list(notebooks), usable_cores())

    async def run_all():
        return await asyncio.gather(*(execute([notebooks[name] for name in group], out, env) for group in groups),
                                    return_exceptions=True)

    outcomes = asyncio.run(run_all())
    for name, notebook in notebooks.items():
        nbformat.write(notebook, out / f"{name}.ipynb")
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome


def to_html(notebook) -> str:
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(notebook)
    return body


def build(args: argparse.Namespace) -> tuple[Path, str]:
    from analysis.show.narrative import headline

    thresholds = Thresholds(recon_diversity_collapsed=args.diversity_threshold,
                            partial_fraction=args.partial_fraction)
    storage = None if args.wandb_dir else absolute_storage(args.storage or DEFAULT_STORAGE)
    wandb_dir = str(Path(args.wandb_dir).resolve()) if args.wandb_dir else None
    df = load(storage=storage, study=args.study, wandb_dir=wandb_dir, thresholds=thresholds)
    skipped = df.attrs.get("incomplete_folders")
    if skipped:
        print(f"warning: skipped {len(skipped)} incomplete trial folder{'s' if len(skipped) > 1 else ''} (no "
              f"{METRICS_FILE}: the run stopped while writing it): {', '.join(skipped[:3])}"
              + (f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""), file=sys.stderr)
    study = args.study or df.attrs.get("study")
    out = Path(args.out) if args.out else default_out(storage, study, wandb_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_summary(df, out / "summary.csv")
    write_boundary_csv(df, out / BOUNDARY_CSV)  # where collapse begins, per group
    secret = storage is not None and mask(storage) != storage
    source = Source(storage=storage, study=study, wandb_dir=wandb_dir, storage_has_secret=secret,
                    thresholds=thresholds.as_dict())
    env = kernel_env(storage if secret else None)
    notebooks = {name: builder(source, mask(storage) if storage else None) for name, builder in NOTEBOOKS.items()}
    execute_all(notebooks, out, env)
    for name, notebook in notebooks.items():
        (out / f"{name}.html").write_text(to_html(notebook), encoding="utf-8")
    return out, headline(df)


def _study_of(out: Path) -> str | None:
    """The study named in summary.csv (when the report was built without --study)."""
    studies = pd.read_csv(out / "summary.csv", usecols=["study"])["study"].dropna().unique()
    return str(studies[0]) if len(studies) == 1 else None


def publish_to_wandb(args: argparse.Namespace, out: Path, study: str | None) -> str:
    """Log the written report as the study's W&B `report` run; returns what to print."""
    from analysis.wandb_report import publish
    from sweep.tracking import Tracker

    study = study or "report"
    storage = args.storage or (None if args.wandb_dir else DEFAULT_STORAGE)
    database = sqlite_path(absolute_storage(storage)) if storage else None
    root = args.wandb_dir or (database.parent if database is not None else out)
    tracker = Tracker.create(os.environ.get("WANDB_PROJECT") or "vae-sweeps", study, args.wandb, root,
                             os.environ.get("WANDB_ENTITY"))
    run_id = publish(out, study, tracker)
    if run_id is None:
        return "W&B: not logged (W&B is disabled: WANDB_MODE=disabled)"
    where = f"; upload it with: wandb sync {tracker.offline_dirs[-1]}" if tracker.offline_dirs else ""
    return f"W&B: report run {run_id}, group {study!r}{where}"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    def body() -> int:
        try:
            out, summary = build(args)
        except (UserError, KeyboardInterrupt):
            raise
        except RuntimeError as error:
            raise UserError(f"report notebook failed: {first_line(error)}") from None
        except Exception as error:  # noqa: BLE001 - the CLI contract: one line, exit 2
            raise UserError(f"{type(error).__name__}: {first_line(error)}") from None
        print(f"report: {summary}")
        for name in (*(f"{n}.html" for n in NOTEBOOKS), "summary.csv", BOUNDARY_CSV, "configurations.csv",
                     "kl_per_dim.csv", "staircase.csv"):
            print(f"  {out / name}")
        if not args.wandb:
            return EXIT_OK
        try:
            print(publish_to_wandb(args, out, args.study or _study_of(out)))
        except Exception as error:  # noqa: BLE001 - the report is written; W&B holds a copy of it
            print(f"warning: the report was not logged to W&B ({type(error).__name__}: {first_line(error)})",
                  file=sys.stderr)
            return EXIT_INCOMPLETE
        return EXIT_OK

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())
