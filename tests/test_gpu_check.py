"""benchmarks/gpu_check.sh: its dry run goes through every step of the GPU check on the CPU, with what
the GPU machine lacks hidden, and leaves what the device tool can bring back (<= 8 plain files)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.sh"
STEPS = ["packages", "build", "tests", "projection", "network", "demo", "cost", "render_cost",
         "scaling"]


def run_check(*args: str, carry: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": sys.executable, "NPCR_GPU_CARRY": str(carry)}
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, env=env,
                          timeout=600)


def test_dry_run_goes_through_every_step(tmp_path):
    """The default steps, then the capture step alone (one test: two dry runs at once would
    build pcpr_ext in place at the same time)."""
    results = tmp_path / "results"
    proc = run_check("--dry-run", str(results), carry=tmp_path / "no_carry")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    files = sorted(p.name for p in results.iterdir())
    assert all((results / f).is_file() for f in files) and len(files) <= 8, files
    assert set(files) == {"projection_cpu.md", "cost_cpu.md", "scaling_cpu.md", "scaling_cpu.png",
                          "demo_cpu.md", "demo_cpu_heldout.png", "gpu_check.json", "gpu_check.log"}
    log = (results / "gpu_check.log").read_text()
    for step in STEPS:
        assert f"== {step}: ok" in log, f"step {step} did not pass:\n{log[-3000:]}"
    report = json.loads((results / "gpu_check.json").read_text())
    assert report["failed_steps"] == []
    assert all(row["bit_identical_to_cpu"] for row in report["projection"]["rows"])
    assert {r["variant"] for r in report["cost"]["training"]} == {"fp32 eager", "autocast"}
    assert {r["group_norm"] for r in report["network"]["rows"]} == {"reduction", "torch"}
    runs = report["demo"]["runs"]
    assert list(runs) == ["off", "bf16"]
    for run in runs.values():
        assert run["training"]["it_per_s"] > 0 and run["training"]["peak_memory_mib"] > 0
        assert [r["size"] for r in run["render"]["rows"]] == [32, 64]
    assert report["scaling"]["points"] and report["scaling"]["size"]
    assert [(r["points"], r["size"]) for r in report["render_cost"]["rows"]] == [(20000, 64)]
    assert "# Render cost of the demo settings" in (results / "cost_cpu.md").read_text()
    # targets are judged on a GPU only
    assert all(t["status"].startswith("not judged") for t in report["targets"])
    demo = (results / "demo_cpu.md").read_text()
    assert "| off |" in demo and "| bf16 |" in demo
    assert "== capture: not selected" in log

    capture = tmp_path / "capture"
    proc = run_check("--dry-run", "--steps", "capture", str(capture), carry=tmp_path / "no_carry")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert sorted(p.name for p in capture.iterdir()) == [
        "gpu_check.json", "gpu_check.log", "vs_gsplat_cpu.md", "vs_gsplat_cpu.png"]
    report = json.loads((capture / "gpu_check.json").read_text())
    figures = report["capture"]["results"]["npcr@4"]
    assert figures["iterations"] > 0 and figures["render_ms"] > 0 and figures["model_bytes"] > 0
    assert 5 < figures["psnr"] < 60 and figures["psnr_colour_matched"] >= figures["psnr"] - 1e-6
    assert report["capture"]["gsplat_skipped"]  # no gsplat (nor a GPU) here: said, not failed
    table = (capture / "vs_gsplat_cpu.md").read_text()
    assert "| npcr | 4 |" in table and "gsplat not run" in table
    assert [t["target"] for t in report["targets"] if t["target"].startswith("capture")] == [
        "capture at 4 s: npcr held-out PSNR >= gsplat's -1 dB",
        "capture at 4 s: npcr frame <= 0.5x gsplat's"]


def test_refuses_without_a_gpu_or_with_bad_arguments(tmp_path):
    results = tmp_path / "results"
    if not torch.cuda.is_available():
        no_gpu = run_check(str(results), carry=tmp_path)
        assert no_gpu.returncode == 2 and "sees no CUDA device" in no_gpu.stderr
        assert not results.exists()  # nothing written
    bad_step = run_check("--dry-run", "--steps", "tests,bogus", str(results), carry=tmp_path)
    assert bad_step.returncode == 2 and "unknown step 'bogus'" in bad_step.stderr
    results.mkdir()
    (results / "old.md").write_text("keep me")
    not_empty = run_check("--dry-run", str(results), carry=tmp_path)
    assert not_empty.returncode == 2 and "is not empty" in not_empty.stderr
    assert (results / "old.md").read_text() == "keep me"
