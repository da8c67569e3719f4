"""Only the adapters touch a library's private names: Optuna's in sweep/optuna_adapter.py, W&B's in
common/wandb_adapter.py (each pinned by its test). import-linter cannot forbid a submodule of another package,
so this scans the source: imports of a private module (a `_name` in its path, or W&B's internal `wandb.proto` /
`wandb.sdk`), `obj._name` on anything but self/cls, `getattr(obj, "_name")`, and W&B's internal `x_*` settings.
"""
from __future__ import annotations

import ast
import textwrap

from conftest import REPO

ADAPTERS = {"sweep/optuna_adapter.py", "common/wandb_adapter.py", "tests/test_optuna_adapter.py",
            "tests/test_wandb_adapter.py"}
FOLDERS = ("common", "vae", "sweep", "analysis", "benchmarks", "tests", "examples")
OWN = {*FOLDERS, "conftest", "analysis_fixtures", "postgres_server", "chaos_outage", "__future__"}
INTERNAL_MODULES = ("wandb.proto", "wandb.sdk")


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_uses(source: str) -> list[tuple[int, str]]:
    """(line, what) for each use of another library's private name in `source`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        modules = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        for module in modules:
            parts = module.split(".")
            if parts[0] not in OWN and (any(map(_private, parts)) or module.startswith(INTERNAL_MODULES)):
                found.append((node.lineno, f"import {module}"))
        if isinstance(node, ast.Attribute) and _private(node.attr) and not (
                isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
            found.append((node.lineno, f"attribute .{node.attr}"))
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in ("getattr", "hasattr", "setattr") and len(node.args) > 1
                and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)
                and _private(node.args[1].value)):
            found.append((node.lineno, f"{node.func.id}(..., {node.args[1].value!r})"))
        if isinstance(node, ast.Call):
            found += [(node.lineno, f"keyword {word.arg}=") for word in node.keywords
                      if word.arg and word.arg.startswith("x_")]
    return found


def test_the_scan_finds_each_kind_of_private_use():
    source = textwrap.dedent("""
        import optuna.storages._heartbeat
        from optuna.storages._heartbeat import BaseHeartbeat
        from wandb.proto import wandb_internal_pb2
        from common.results import TrialResult
        from __future__ import annotations
        def f(trial, run, wandb):
            self._own, cls._own, trial.__class__  # allowed
            getattr(run.summary, "_json_dict", None)
            wandb.Settings(x_disable_stats=True, silent=True)
            return trial._trial_id
    """)
    assert [what for _, what in private_uses(source)] == [
        "import optuna.storages._heartbeat", "import optuna.storages._heartbeat",
        "import optuna.storages._heartbeat.BaseHeartbeat", "import wandb.proto",
        "import wandb.proto.wandb_internal_pb2", "getattr(..., '_json_dict')", "keyword x_disable_stats=",
        "attribute ._trial_id"]


def test_only_the_adapters_touch_private_names():
    offenders = []
    for folder in FOLDERS:
        for path in sorted((REPO / folder).rglob("*.py")):
            relative = path.relative_to(REPO).as_posix()
            if relative not in ADAPTERS:
                offenders += [f"{relative}:{line}: {what}" for line, what in private_uses(path.read_text())]
    assert not offenders, "private names of another library outside its adapter:\n" + "\n".join(offenders)
