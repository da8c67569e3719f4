"""The import graph: no cycles, every module importable on its own, every entry point starts."""
from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from conftest import REPO, run_cli

PACKAGES = ("common", "vae", "sweep", "analysis", "benchmarks")


def project_modules() -> dict[str, str]:
    """module name -> source, for every module of the packages."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path.read_text()
    return modules


def imported_project_modules(name: str, source: str, known: set[str]) -> set[str]:
    """Project modules that `source` imports anywhere (top level or inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return (found & known) - {name}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for successor in sorted(graph[node]):
            if state.get(successor) == "open":
                return path[path.index(successor):] + [successor]
            if successor not in state and (cycle := visit(successor)):
                return cycle
        state[node] = "done"
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_find_cycle_finds_a_lazy_import_cycle():
    fit = "from vae.train import NonFiniteLoss\n"
    train = "def run():\n    from vae.fit import fit\n"
    known = {"vae.fit", "vae.train"}
    graph = {"vae.fit": imported_project_modules("vae.fit", fit, known),
             "vae.train": imported_project_modules("vae.train", train, known)}
    assert find_cycle(graph) == ["vae.fit", "vae.train", "vae.fit"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_even_through_imports_inside_functions():
    modules = project_modules()
    graph = {name: imported_project_modules(name, source, set(modules)) for name, source in modules.items()}
    assert find_cycle(graph) is None


IMPORT_EACH_ALONE = textwrap.dedent("""
    import importlib, os, sys, traceback
    import keras, matplotlib, optuna, pandas, tensorflow, wandb  # third-party only: the slow imports, done once
    assert not any(name.split(".")[0] in {packages!r} for name in sys.modules)
    failed = []
    for module in {modules!r}:
        pid = os.fork()
        if pid == 0:  # a child with no project module imported yet imports just this one
            try:
                importlib.import_module(module)
            except BaseException:
                traceback.print_exc()
                os._exit(1)
            os._exit(0)
        if os.waitpid(pid, 0)[1] != 0:
            failed.append(module)
    print("failed:", failed)
    sys.exit(1 if failed else 0)
""")


def test_every_module_imports_alone():
    """Each module first, in a process where no other project module is imported (forked from one that has
    imported only the heavy third-party libraries, so TensorFlow is loaded once)."""
    modules = sorted(project_modules())
    script = IMPORT_EACH_ALONE.format(packages=set(PACKAGES), modules=modules)
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert "failed: []" in result.stdout


def entry_points() -> list[str]:
    """Every `python -m` entry point: modules with a `__main__` guard, packages with a `__main__.py`."""
    entries = []
    for name, source in project_modules().items():
        if name.endswith(".__main__"):
            entries.append(name.removesuffix(".__main__"))
        elif 'if __name__ == "__main__":' in source:
            entries.append(name)
    return sorted(entries)


def test_entry_points_are_found():
    assert {"vae.train", "sweep.launch", "sweep.trial", "sweep.export", "analysis.report",
            "benchmarks"} <= set(entry_points())


@pytest.mark.parametrize("entry", entry_points())
def test_entry_point_help(entry):
    result = run_cli("-m", entry, "--help", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("usage: "), result.stdout[:500]
    assert "Traceback" not in result.stderr


LINT_IMPORTS = "from importlinter.cli import lint_imports_command; lint_imports_command()"


def lint_imports(root) -> subprocess.CompletedProcess:
    """`lint-imports` on the project at `root` (its packages imported from there, not from an installed copy)."""
    return subprocess.run([sys.executable, "-c", LINT_IMPORTS], cwd=root, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(root)})


def test_layers_contract_holds():
    """pyproject's import-linter contracts: common < vae < sweep < analysis < benchmarks, imports inside
    functions included."""
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def test_layers_contract_fails_on_an_upward_import_inside_a_function(tmp_path):
    for package in PACKAGES:
        shutil.copytree(REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    with open(tmp_path / "common" / "errors.py", "a") as module:
        module.write("\n\ndef upward():\n    from analysis import report  # noqa: F401\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0, result.stdout[-3000:]
    assert "BROKEN" in result.stdout and "common.errors -> analysis.report" in result.stdout, result.stdout[-3000:]
