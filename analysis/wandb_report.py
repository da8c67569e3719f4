"""The report in W&B: one run per study (job_type `report`, group = study) next to the study's trial runs.

It holds the summary table (`summary.csv`) and where collapse begins (`collapse_boundary.csv`) as `wandb.Table`s,
every figure of the executed report notebooks as an image (taken from the PNG outputs the notebooks embed,
captioned by their section heading), the HTML reports as HTML panels, and the report folder's HTML, CSV and notebook files as an artifact of type `report`. Offline
the run is written like the trials' runs (`wandb sync` uploads it, artifact included).
"""
from __future__ import annotations

import base64
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.findings.boundary import CSV_NAME as BOUNDARY_CSV
from analysis.notebooks import NOTEBOOKS
from sweep.tracking import Tracker

JOB_TYPE = "report"
ARTIFACT_TYPE = "report"


@dataclass(frozen=True)
class Figure:
    key: str  # e.g. "overregularization/03"
    caption: str  # the section heading above it
    png: bytes


def _heading(source: str) -> str | None:
    for line in source.splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
    return None


def notebook_figures(path: Path) -> list[Figure]:
    """The PNG outputs of one executed notebook, in order, captioned by the nearest heading above them."""
    import nbformat

    notebook = nbformat.read(str(path), as_version=4)
    figures, heading = [], path.stem
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            heading = _heading(cell.source) or heading
        for output in cell.get("outputs", []):
            png = output.get("data", {}).get("image/png")
            if png:
                figures.append(Figure(f"{path.stem}/{len(figures) + 1:02d}", heading, base64.b64decode(png)))
    return figures


def report_figures(report_dir: Path) -> list[Figure]:
    """The figures of every notebook in the folder (the report's notebooks in their order first), each distinct
    image once."""
    order = list(NOTEBOOKS)
    notebooks = sorted(report_dir.glob("*.ipynb"),
                       key=lambda path: (order.index(path.stem) if path.stem in order else len(order), path.name))
    seen, figures = set(), []
    for notebook in notebooks:
        for figure in notebook_figures(notebook):
            digest = hashlib.sha256(figure.png).hexdigest()
            if digest not in seen:
                seen.add(digest)
                figures.append(figure)
    return figures


def summary_table(path: Path) -> Any:
    """summary.csv as a wandb.Table (empty cells as None: W&B's JSON has no NaN)."""
    import wandb

    frame = pd.read_csv(path)
    frame = frame.astype(object).where(frame.notna(), None)
    return wandb.Table(columns=list(frame.columns), data=frame.values.tolist(), allow_mixed_types=True)


def artifact_name(study: str) -> str:
    return "report-" + re.sub(r"[^A-Za-z0-9_.-]", "-", study)


def publish(report_dir: str | Path, study: str, tracker: Tracker) -> str | None:
    """Log the report folder written by `analysis.report` as the study's `report` run; returns the run id
    (None when W&B is disabled)."""
    import wandb
    from PIL import Image

    if tracker.mode == "disabled":
        return None
    report_dir = Path(report_dir)
    htmls = sorted(report_dir.glob("*.html"))
    run = tracker.start(f"report-{study}", {"study": study, "report_dir": str(report_dir.resolve())},
                        job_type=JOB_TYPE).run
    if run is None:  # W&B failed to start (its warning is printed)
        return None
    try:
        media: dict[str, Any] = {"summary": summary_table(report_dir / "summary.csv")}
        boundary = report_dir / BOUNDARY_CSV
        if boundary.is_file():  # where collapse begins, per group (analysis.findings.boundary)
            media["collapse_boundary"] = wandb.Table(dataframe=pd.read_csv(boundary))
        for figure in report_figures(report_dir):
            media[f"figures/{figure.key}"] = wandb.Image(Image.open(io.BytesIO(figure.png)), caption=figure.caption)
        for html in htmls:
            media[f"report/{html.stem}"] = wandb.Html(html.read_text(encoding="utf-8"), inject=False)
        run.log(media)
        artifact = wandb.Artifact(artifact_name(study), type=ARTIFACT_TYPE,
                                  description=f"report of the VAE sweep study {study!r} (analysis.report)")
        tables = [report_dir / "summary.csv", *([boundary] if boundary.is_file() else [])]
        for path in (*htmls, *tables, *sorted(report_dir.glob("*.ipynb"))):
            artifact.add_file(str(path))
        run.log_artifact(artifact)
    except BaseException:
        run.finish(exit_code=1)
        raise
    run.finish()
    return run.id
