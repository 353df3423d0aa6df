#!/usr/bin/env python3
"""Projection speed: native CPU kernel vs the torch reference, vs open3d, and CUDA when present.

Every comparison runs side by side in this one process; times are medians of repeated runs. Writes
``benchmarks/results/projection.md`` (machine, tables, ratios) and ``projection_scaling.png``.

``--device cuda`` runs the device sweep instead: the kernel on that device at 1024x1024, L = 4,
splat 2, from 1M points up to ``--max-points`` (as far as memory allows), one camera and a batch of
8, each size checked bit for bit (indices and depths) against the CPU kernel. It writes
``projection_cuda.md`` and ``projection_cuda.json``. ``--device cpu --sweep device`` runs the same
sweep on the CPU kernel (a dry run of the GPU check).

    python benchmarks/bench_projection.py [--quick] [--repeats 3] [--out benchmarks/results]
    python benchmarks/bench_projection.py --device cuda [--max-points 100000000]
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

import pcpr_ext
from npcr.cli import results_folder
from npcr.geometry import pinhole

NEAR, FAR = 0.5, 10.0


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return (f"{cpu}, {torch.get_num_threads()} torch threads; GPU: {gpu}; torch {torch.__version__}; "
            f"backends {pcpr_ext.backends()}")


def scene(n: int, size: int, batch: int = 1, device: str = "cpu"):
    """A ball of ``n`` points 3 units in front of ``batch`` cameras with a 50 degree field of view."""
    g = torch.Generator().manual_seed(0)
    pts = torch.randn(n, 3, generator=g)
    pts = pts / pts.norm(dim=1, keepdim=True) * torch.rand(n, 1, generator=g) ** (1 / 3)
    K = torch.tensor(pinhole(size, size, 50.0), dtype=torch.float32).repeat(batch, 1, 1)
    c2w = torch.eye(4).repeat(batch, 1, 1)
    c2w[:, 2, 3] = -3.0
    c2w[:, 0, 3] = torch.linspace(-0.2, 0.2, batch)
    return pts.to(device), K.to(device), c2w.to(device)


def timed(fn, repeats: int, sync=None) -> float:
    """Median seconds of ``fn()`` over ``repeats`` runs after one warm-up."""
    fn()
    times = []
    for _ in range(repeats):
        if sync:
            sync()
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_cpu(counts, sizes, layers, splats, repeats):
    rows = []
    for n in counts:
        for size in sizes:
            pts, K, c2w = scene(n, size)
            for L in layers:
                for s in splats:
                    kw = dict(num_layers=L, near=NEAR, far=FAR, max_splat=s)
                    native = timed(lambda: pcpr_ext.project(pts, K, c2w, size, size, backend="cpu",
                                                            **kw), repeats)
                    # the reference is slow: fewer repeats where one run already takes seconds
                    ref = timed(lambda: pcpr_ext.project(pts, K, c2w, size, size, backend="torch",
                                                         **kw), 1 if native * 20 > 2 else repeats)
                    rows.append((n, size, L, s, ref, native))
                    print(f"cpu  N={n:>8} {size}^2 L={L} splat={s}: torch {ref * 1e3:9.1f} ms, "
                          f"native {native * 1e3:8.1f} ms, x{ref / native:5.1f}", flush=True)
    return rows


def bench_open3d(counts, size, repeats):
    import open3d as o3d

    rows = []
    for n in counts:
        pts, K, c2w = scene(n, size)
        pcd = o3d.t.geometry.PointCloud(o3d.core.Tensor(pts.numpy()))
        intr = o3d.core.Tensor(K[0].double().numpy())
        extr = o3d.core.Tensor(torch.linalg.inv(c2w[0]).double().numpy())
        o3d_t = timed(lambda: pcd.project_to_depth_image(size, size, intr, extr, depth_scale=1.0,
                                                         depth_max=FAR), repeats)
        native = timed(lambda: pcpr_ext.project(pts, K, c2w, size, size, near=NEAR, far=FAR,
                                                backend="cpu"), repeats)
        depth = np.asarray(pcd.project_to_depth_image(size, size, intr, extr, depth_scale=1.0,
                                                      depth_max=FAR).as_tensor().numpy())[..., 0]
        ours = pcpr_ext.project(pts, K, c2w, size, size, near=NEAR, far=FAR, backend="cpu")[0][0, 0]
        both = (depth > 0) & (ours.numpy() > 0)
        agree = float(np.mean(np.abs(depth[both] - ours.numpy()[both]) < 1e-4)) if both.any() else 0
        rows.append((n, size, o3d_t, native, agree))
        print(f"open3d N={n:>8} {size}^2: open3d {o3d_t * 1e3:8.1f} ms, native {native * 1e3:8.1f} ms, "
              f"x{o3d_t / native:5.1f}; same depth on {agree:.1%} of pixels both fill", flush=True)
    return rows


def bench_device(device: str, counts: list[int], size: int, layers: int, splat: int, batch: int,
                 repeats: int) -> list[dict]:
    """Median ms of the ``device`` kernel for each cloud size, for one camera and a batch, and
    whether its indices and depths equal the CPU kernel's bit for bit (one camera). Stops at the
    first size that does not fit in the device's memory."""
    dev = torch.device(device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else None
    kw = dict(num_layers=layers, near=NEAR, far=FAR, max_splat=splat, backend=device)
    rows = []
    for n in counts:
        try:
            pts, K, c2w = scene(n, size, batch, device)

            def call(cameras: int, pts=pts, K=K, c2w=c2w):
                return pcpr_ext.project(pts, K[:cameras], c2w[:cameras], size, size, **kw)
            ms = {b: 1e3 * timed(lambda: call(b), repeats, sync) for b in (1, batch)}
            depth, index = call(1)
        except torch.OutOfMemoryError:
            print(f"{device} N={n:,}: out of memory, sweep stops", flush=True)
            break
        cpu_depth, cpu_index = pcpr_ext.project(pts.cpu(), K[:1].cpu(), c2w[:1].cpu(), size, size,
                                                **{**kw, "backend": "cpu"})
        same = (torch.equal(index.cpu(), cpu_index)
                and torch.equal(depth.cpu().view(torch.int32), cpu_depth.view(torch.int32)))
        # bytes a perfect kernel must move: read the points once per layer pass, initialise and
        # write the 64-bit keys, write depth (4 B) and index (8 B)
        moved = layers * n * 12 + layers * size * size * (8 + 8 + 4 + 8)
        row = {"points": n, "size": size, "layers": layers, "splat": splat,
               "ms": ms[1], f"ms_batch{batch}": ms[batch], "ms_per_camera_batched": ms[batch] / batch,
               "effective_gb_s": moved / (ms[1] / 1e3) / 1e9,
               "filled_layer0": float((cpu_index[0, 0] >= 0).float().mean()),
               "bit_identical_to_cpu": same}
        rows.append(row)
        print(f"{device} N={n:>11,} {size}^2 L={layers} splat={splat}: {ms[1]:.3f} ms, batch {batch} "
              f"{ms[batch] / batch:.3f} ms/camera, {row['effective_gb_s']:.0f} GB/s effective, "
              f"bit-identical to the CPU kernel: {same}", flush=True)
        del pts, depth, index
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    return rows


def write_device_report(rows: list[dict], device: str, desc: str, batch: int, out: Path) -> None:
    lines = [f"# Projection on {device}\n", f"Machine: {desc}\n",
             "A ball of points 3 units in front of the camera, 50 degree field of view; median of "
             "repeated calls after a warm-up. Target (issue 13): 1M points at 1024², L = 4, "
             "splat 2 in < 2 ms, indices bit-identical to the CPU kernel.\n",
             f"| points | image | L | splat | ms (1 camera) | ms per camera (batch {batch}) | "
             "effective GB/s | layer-0 pixels filled | bit-identical to CPU kernel |",
             "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['points']:,} | {r['size']}² | {r['layers']} | {r['splat']} | {r['ms']:.3f} | "
              f"{r['ms_per_camera_batched']:.3f} | {r['effective_gb_s']:.0f} | "
              f"{r['filled_layer0']:.1%} | {'yes' if r['bit_identical_to_cpu'] else '**no**'} |"
              for r in rows]
    out.mkdir(parents=True, exist_ok=True)
    (out / f"projection_{device}.md").write_text("\n".join(lines) + "\n")
    (out / f"projection_{device}.json").write_text(
        json.dumps({"machine": desc, "rows": rows}, indent=1) + "\n")
    print(f"wrote {out / f'projection_{device}.md'}")


def plot(cpu_rows, o3d_rows, path: Path, size: int, title: str):
    """Time against point count at ``size``², L = 1, splat 1, for every CPU backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sel = [r for r in cpu_rows if r[1] == size and r[2] == 1 and r[3] == 1]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.loglog([r[0] for r in sel], [r[4] * 1e3 for r in sel], "o-", label="torch reference")
    ax.loglog([r[0] for r in sel], [r[5] * 1e3 for r in sel], "s-", label="native CPU")
    ax.loglog([r[0] for r in o3d_rows], [r[2] * 1e3 for r in o3d_rows], "^-",
              label="open3d project_to_depth_image")
    ax.set_xlabel("points")
    ax.set_ylabel("ms per call (median)")
    ax.set_title(f"projection, {size}x{size}, L=1, splat 1\n{title}", fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes only (a smoke run)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=results_folder, default="benchmarks/results")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                        help="cuda: the device sweep on the GPU (see above)")
    parser.add_argument("--sweep", choices=["auto", "compare", "device"], default="auto",
                        help="compare: CPU backends side by side; device: one backend at large "
                             "sizes; auto: device on cuda, compare on the CPU")
    parser.add_argument("--max-points", type=int, default=100_000_000,
                        help="largest cloud of the device sweep")
    parser.add_argument("--size", type=int, default=1024, help="image side of the device sweep")
    args = parser.parse_args()
    if "cpu" not in pcpr_ext.backends():
        raise SystemExit("pcpr_ext._C is not built; run `make install` first")
    if args.device not in pcpr_ext.backends():
        raise SystemExit(f"no {args.device} backend here; available: {pcpr_ext.backends()}")
    out = Path(args.out)
    desc = machine()
    print(desc)
    if args.sweep == "device" or (args.sweep == "auto" and args.device == "cuda"):
        counts = [n for n in (1_000_000, 10_000_000, 30_000_000, 100_000_000) if n <= args.max_points]
        rows = bench_device(args.device, counts or [args.max_points], args.size, 4, 2, 8,
                            args.repeats)
        write_device_report(rows, args.device, desc, 8, out)
        return
    out.mkdir(parents=True, exist_ok=True)
    counts = [10_000, 100_000] if args.quick else [100_000, 1_000_000, 4_000_000]
    sizes = [128] if args.quick else [512, 1024]
    cpu_rows = bench_cpu(counts, sizes, [1, 4], [1, 4], args.repeats)
    o3d_rows = bench_open3d(counts, sizes[0], args.repeats)

    lines = ["# Projection benchmark\n", f"Machine: {desc}\n",
             "## CPU: native kernel vs torch reference (median ms)\n",
             "| points | image | L | splat | torch | native | speed-up |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {n:,} | {s}² | {L} | {sp} | {r * 1e3:.1f} | {nt * 1e3:.1f} | {r / nt:.1f}x |"
              for n, s, L, sp, r, nt in cpu_rows]
    lines += ["\n## CPU: native (L=1, splat 1) vs open3d `project_to_depth_image` (median ms)\n",
              "| points | image | open3d | native | speed-up | same depth where both fill |",
              "|---|---|---|---|---|---|"]
    lines += [f"| {n:,} | {s}² | {o * 1e3:.1f} | {nt * 1e3:.1f} | {o / nt:.1f}x | {a:.1%} |"
              for n, s, o, nt, a in o3d_rows]
    lines.append("\nGPU figures: `--device cuda` (projection_cuda.md).")
    (out / "projection.md").write_text("\n".join(lines) + "\n")
    plot(cpu_rows, o3d_rows, out / "projection_scaling.png", sizes[0], desc.split(";")[0])
    print(f"wrote {out / 'projection.md'} and {out / 'projection_scaling.png'}")


if __name__ == "__main__":
    main()
