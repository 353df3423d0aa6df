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
