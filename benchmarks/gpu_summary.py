#!/usr/bin/env python3
"""The last step of benchmarks/gpu_check.sh: tables and targets from the benchmarks' raw files.

Reads what the steps left in ``--bench`` (projection_<dev>.*, cost_<dev>.*, unet_<dev>.*,
render_cost_<dev>.*, scaling_<dev>.*, train_<amp>.json, eval_off.json, render_<amp>.json,
vs_gsplat_<dev>.*), copies the benchmark tables and plots to ``--results`` (the U-Net table
appended to the cost table), writes ``demo_<dev>.md`` (when the demo ran) and ``gpu_check.json``
(every figure, and each target of issues 13 and 35 as met / not met / not measured) there, and
prints the summary.
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

# Issue 13's targets on a GPU.
PROJECTION_MS = 2.0  # 1M points at 1024², L = 4, splat 2
RENDER_MS = 25.0  # full frame at 1024² at NPCR-like settings
TRAIN_PEAK_MIB = 4096  # training at NPCR-like settings
# Issue 35's targets against 3D Gaussian Splatting at equal training time on a real capture.
PSNR_GAP_DB = -1.0  # npcr's held-out PSNR at least gsplat's less 1 dB
FRAME_RATIO = 0.5  # npcr's frame in at most half gsplat's time


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def verdict(ok: bool | None) -> str:
    return "not measured" if ok is None else ("met" if ok else "NOT met")


def targets(projection: dict | None, cost: dict | None) -> list[dict]:
    rows = []
    one_m = next((r for r in (projection or {}).get("rows", []) if r["points"] == 1_000_000), None)
    rows.append({"target": f"projection 1M points 1024² L 4 splat 2 < {PROJECTION_MS:g} ms, "
                           "indices bit-identical to the CPU kernel",
                 "measured": None if one_m is None else
                 f"{one_m['ms']:.3f} ms, bit-identical: {one_m['bit_identical_to_cpu']}",
                 "status": verdict(None if one_m is None else
                                   one_m["ms"] < PROJECTION_MS and one_m["bit_identical_to_cpu"])})
    render = (cost or {}).get("render_ms")
    rows.append({"target": f"full render 1024² (projection + gather + U-Net) < {RENDER_MS:g} ms",
                 "measured": None if not render else
                 ", ".join(f"{k} {v:.1f} ms" for k, v in render.items()),
                 "status": verdict(None if not render else min(render.values()) < RENDER_MS)})
    training = (cost or {}).get("training")
    rows.append({"target": f"training at NPCR-like settings <= {TRAIN_PEAK_MIB} MiB peak",
                 "measured": None if not training else
                 ", ".join(f"{r['variant']} {r['peak_mib']:.0f} MiB" for r in training),
                 "status": verdict(None if not training else
                                   min(r["peak_mib"] for r in training) <= TRAIN_PEAK_MIB)})
    return rows


def capture_targets(capture: dict | None) -> list[dict]:
    """Issue 35's targets for each training budget both systems ran."""
    results = (capture or {}).get("results", {})
    rows = []
    for key, n in results.items():
        system, budget = key.split("@")
        g = results.get(f"gsplat@{budget}")
        if system != "npcr":
            continue
        gap = None if g is None else n["psnr"] - g["psnr"]
        ratio = None if g is None else n["render_ms"] / g["render_ms"]
        rows.append({"target": f"capture at {budget} s: npcr held-out PSNR >= gsplat's "
                               f"{PSNR_GAP_DB:+g} dB",
                     "measured": None if gap is None else
                     f"{n['psnr']:.2f} against {g['psnr']:.2f} dB ({gap:+.2f})",
                     "status": verdict(None if gap is None else gap >= PSNR_GAP_DB)})
        rows.append({"target": f"capture at {budget} s: npcr frame <= {FRAME_RATIO:g}x gsplat's",
                     "measured": None if ratio is None else
                     f"{n['render_ms']:.1f} against {g['render_ms']:.1f} ms ({ratio:.2f}x)",
                     "status": verdict(None if ratio is None else ratio <= FRAME_RATIO)})
    return rows


def demo_table(bench: Path, dev: str) -> tuple[list[str], dict]:
    """demo_<dev>.md lines and the figures: one row per autocast setting of the demo training."""
    runs = {}
    # autocast off first
    for path in sorted(bench.glob("train_*.json"), key=lambda p: p.stem != "train_off"):
        amp = path.stem.removeprefix("train_")
        runs[amp] = {"training": read_json(path), "render": read_json(bench / f"render_{amp}.json")}
    evaluation = read_json(bench / "eval_off.json")
    lines = [f"# Demo scene on {dev}\n",
             "The procedural fur ball (`make demo`'s scene: 48 cameras at 128², 4 held out), "
             "`configs/demo.yml` (L = 2, splat 2) trained with autocast off and on; it/s is wall "
             "time over all iterations, evaluation included; render times are full frames of the "
             "72-camera turntable (projection, gather, U-Net; median), the autocast column with "
             "the PSNR of its frames against fp32 frames.\n",
             "| autocast | epochs | it/s | peak MiB | held-out PSNR | mean-colour baseline | "
             "size | fp32 ms/frame | autocast ms/frame | autocast vs fp32 |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for amp, run in runs.items():
        t, r = run["training"] or {}, run["render"] or {}
        head = (f"| {amp} | {t.get('epoch', '?')} | {t.get('it_per_s', float('nan')):.1f} | "
                f"{t.get('peak_memory_mib', float('nan')):.0f} | "
                f"{t.get('heldout_psnr', float('nan')):.2f} dB | "
                f"{t.get('mean_colour_psnr', float('nan')):.2f} dB")
        amp_key = f"{r.get('autocast', '')}_ms"
        for row in r.get("rows", []) or [{}]:
            lines.append(f"{head} | {row.get('size', '?')}² | {row.get('fp32_ms', float('nan')):.2f} | "
                         f"{row.get(amp_key, float('nan')):.2f} | "
                         f"{row.get('autocast_vs_fp32_psnr', float('nan')):.1f} dB |")
            head = "| | | | | | "
    if evaluation:
        lines += ["", f"Held-out views of the autocast-off model (`tools/evaluate.py`): PSNR "
                      f"{evaluation['mean_psnr']:.2f} dB, SSIM {evaluation['mean_ssim']:.4f}, alpha "
                      f"MAE {evaluation['mean_alpha_mae']:.4f}; truth | prediction | 4x error in "
                      f"`demo_{dev}_heldout.png`."]
    return lines, {"runs": runs, "evaluation": evaluation}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bench", required=True, help="folder the benchmark steps wrote to")
    parser.add_argument("--results", required=True)
    parser.add_argument("--device", required=True, help="cuda, or cpu for a dry run")
    parser.add_argument("--failed", default="", help="steps that failed (space-separated)")
    parser.add_argument("--seconds", type=int, default=0, help="time the steps took")
    args = parser.parse_args()
    bench, results, dev = Path(args.bench), Path(args.results), args.device
    for name in (f"projection_{dev}.md", f"cost_{dev}.md", f"scaling_{dev}.md", f"scaling_{dev}.png",
                 f"vs_gsplat_{dev}.md", f"vs_gsplat_{dev}.png"):
        if (bench / name).exists():
            shutil.copyfile(bench / name, results / name)
    for name in (f"unet_{dev}.md", f"render_cost_{dev}.md"):
        extra = bench / name
        if extra.exists():  # beside the cost table: RESULTS_DIR may hold 8 files
            with open(results / f"cost_{dev}.md", "a") as cost_md:
                cost_md.write("\n#" + extra.read_text())  # its title one level down
    projection = read_json(bench / f"projection_{dev}.json")
    cost = read_json(bench / f"cost_{dev}.json")
    lines, demo = demo_table(bench, dev)
    if demo["runs"]:
        (results / f"demo_{dev}.md").write_text("\n".join(lines) + "\n")
    capture = read_json(bench / f"vs_gsplat_{dev}.json")
    checks = targets(projection, cost) + capture_targets(capture)
    if dev != "cuda":
        for c in checks:
            c["status"] = "not judged (not a GPU run)"
    report = {"device": dev, "failed_steps": args.failed.split(), "seconds": args.seconds,
              "targets": checks, "projection": projection, "cost": cost,
              "network": read_json(bench / f"unet_{dev}.json"),
              "scaling": read_json(bench / f"scaling_{dev}.json"),
              "render_cost": read_json(bench / f"render_cost_{dev}.json"), "demo": demo,
              "capture": capture}
    (results / "gpu_check.json").write_text(json.dumps(report, indent=1) + "\n")
    if demo["runs"]:
        print("\n".join(lines))
    print("\nTargets (issues 13 and 35):")
    for c in checks:
        print(f"- {c['target']}: {c['status']} ({c['measured'] or 'no figure'})")


if __name__ == "__main__":
    main()
