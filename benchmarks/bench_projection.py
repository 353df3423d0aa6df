#!/usr/bin/env python3
"""Projection speed: native CPU kernel vs the torch reference, vs open3d, and CUDA when present.

Every comparison runs side by side in this one process; times are medians of repeated runs. Writes
``benchmarks/results/projection.md`` (machine, tables, ratios) and ``projection_scaling.png``.

    python benchmarks/bench_projection.py [--quick] [--repeats 3] [--out benchmarks/results]
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

import pcpr_ext

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
    f = 0.5 * size / np.tan(np.radians(25))
    K = torch.tensor([[f, 0, (size - 1) / 2], [0, f, (size - 1) / 2], [0, 0, 1]],
                     dtype=torch.float32).repeat(batch, 1, 1)
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


def bench_cuda(n, size, layers, batches, repeats):
    rows = []
    for batch in batches:
        pts, K, c2w = scene(n, size, batch, "cuda")
        t = timed(lambda: pcpr_ext.project(pts, K, c2w, size, size, num_layers=layers, near=NEAR,
                                           far=FAR, backend="cuda"), repeats, torch.cuda.synchronize)
        # bytes a perfect kernel must move: read points once per layer pass, init + write the keys,
        # write depth and index
        pixels = batch * layers * size * size
        bytes_moved = layers * n * 12 + pixels * (8 + 8 + 4 + 8)
        props = torch.cuda.get_device_properties(0)
        bandwidth = getattr(props, "memory_bandwidth", None)
        rows.append((batch, t, t / batch, bytes_moved / t / 1e9, bandwidth))
        print(f"cuda N={n} {size}^2 L={layers} B={batch}: {t * 1e3:.3f} ms, "
              f"{t / batch * 1e3:.3f} ms/camera, {bytes_moved / t / 1e9:.0f} GB/s effective", flush=True)
    return rows


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
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    if "cpu" not in pcpr_ext.backends():
        raise SystemExit("pcpr_ext._C is not built; run `make install` first")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    counts = [10_000, 100_000] if args.quick else [100_000, 1_000_000, 4_000_000]
    sizes = [128] if args.quick else [512, 1024]
    desc = machine()
    print(desc)
    cpu_rows = bench_cpu(counts, sizes, [1, 4], [1, 4], args.repeats)
    o3d_rows = bench_open3d(counts, sizes[0], args.repeats)
    cuda_rows = bench_cuda(1_000_000, 1024, 4, [1, 8], 20) if "cuda" in pcpr_ext.backends() else []

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
    lines.append("\n## GPU\n")
    if cuda_rows:
        lines += ["| batch | ms per call | ms per camera | effective GB/s |", "|---|---|---|---|"]
        lines += [f"| {b} | {t * 1e3:.3f} | {tc * 1e3:.3f} | {bw:.0f} |" for b, t, tc, bw, _ in cuda_rows]
    else:
        lines.append("No CUDA device in this run; GPU figures not measured.")
    (out / "projection.md").write_text("\n".join(lines) + "\n")
    plot(cpu_rows, o3d_rows, out / "projection_scaling.png", sizes[0], desc.split(";")[0])
    print(f"wrote {out / 'projection.md'} and {out / 'projection_scaling.png'}")


if __name__ == "__main__":
    main()
