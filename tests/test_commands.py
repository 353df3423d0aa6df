"""The console entry points pyproject.toml declares: each names a callable, each tools/ script runs
the same command, and an installed one runs."""
import importlib
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


def test_every_entry_point_names_a_command_and_the_tools_scripts_call_them():
    assert {"npcr-train", "npcr-render", "npcr-refine", "npcr-view", "npcr-process",
            "npcr-exgen"} <= set(SCRIPTS)
    targets = {}
    for name, target in SCRIPTS.items():
        module, attr = target.split(":")
        assert callable(getattr(importlib.import_module(module), attr)), name
        targets[module] = name
    for tool in sorted((ROOT / "tools").glob("*.py")):  # thin scripts: one import, one call
        text = tool.read_text()
        assert f"from npcr.commands.{tool.stem} import cli" in text, tool
        assert f"npcr.commands.{tool.stem}" in targets, f"{tool} has no console entry point"


@pytest.mark.e2e
def test_installed_command_runs():
    script = Path(sys.executable).parent / "npcr-render"
    if not script.is_file():
        pytest.skip("npcr is not installed in this environment (pip install -e .)")
    proc = subprocess.run([str(script), "--help"], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0 and proc.stdout.startswith("usage: npcr-render"), proc.stderr


def test_every_third_party_import_is_a_declared_dependency():
    """What npcr, pcpr_ext and exparamgen import from outside the standard library is declared in
    pyproject.toml (a dependency or an extra's), and the Python floor is the one the code needs."""
    import ast
    import importlib.metadata
    import re

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {re.split(r"[<>=\[ ]", d)[0].lower().replace("_", "-")
                for d in project["dependencies"] + sum(project["optional-dependencies"].values(), [])}
    distributions = importlib.metadata.packages_distributions()
    ours = {"npcr", "pcpr_ext", "exparamgen"}
    missing = set()
    for folder in ours:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
                for name in names:
                    top = name.split(".")[0]
                    if top in sys.stdlib_module_names or top in ours:
                        continue
                    dists = {d.lower().replace("_", "-") for d in distributions.get(top, [top])}
                    if not dists & declared:
                        missing.add(f"{top} ({path.relative_to(ROOT)})")
    assert not missing, f"imported but not declared in pyproject.toml: {sorted(missing)}"
    assert project["requires-python"] == ">=3.11"  # tomllib here, and the code's own features


def test_the_viewer_without_viser_says_how_to_get_it(monkeypatch, capsys):
    from npcr.commands import view

    monkeypatch.setitem(sys.modules, "viser", None)  # as if not installed
    monkeypatch.delitem(sys.modules, "npcr.viewer", raising=False)
    monkeypatch.setattr(sys, "argv", ["view.py", "--output-dir", "nowhere"])
    with pytest.raises(SystemExit) as stop:
        view.cli()
    assert stop.value.code == 2
    assert "the viewer needs viser: pip install 'npcr[viewer]'" in capsys.readouterr().err
