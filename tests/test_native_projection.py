"""Native backends (C++ CPU, CUDA) against the pure-torch reference: identical indices and depths.

The CPU kernel is built by `make` (pip install -e .); these tests fail if it is missing unless the
build was skipped on purpose with NPCR_NO_EXT=1. CUDA tests skip cleanly without a GPU.
"""
import os
import subprocess
import sys
import textwrap

import pytest
import torch

import pcpr_ext
from helpers import camera, intrinsics

NATIVE_SKIPPED = os.environ.get("NPCR_NO_EXT") == "1"
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]


@pytest.fixture(autouse=True)
def native_built():
    if NATIVE_SKIPPED:
        pytest.skip("native build skipped with NPCR_NO_EXT=1")
    assert "cpu" in pcpr_ext.backends(), "pcpr_ext._C is not built: run `make install`"


def awkward_cloud(n: int, seed: int) -> torch.Tensor:
    """Random points with duplicates, NaN/inf, points behind the cameras and beyond far."""
    g = torch.Generator().manual_seed(seed)
    pts = torch.randn(n, 3, generator=g) * 1.5
    pts[: n // 10] = pts[n // 10: 2 * (n // 10)]  # duplicated points: equal depth, lower index wins
    pts[-1] = float("nan")
    pts[-2, 2] = float("inf")
    pts[-3, 0] = -float("inf")
    pts[-4] = torch.tensor([0.0, 0.0, 1e6])
    return pts


def rig(batch: int, height: int, width: int):
    eyes = [(0.0, 0.5, -4.0), (3.0, -1.0, 2.0), (-2.5, 1.5, 1.0)][:batch]
    c2w = torch.stack([camera(eye=e, up=(0, -1, 0)) for e in eyes])
    K = torch.stack([intrinsics(f=0.9 * width + 5 * b, cx=width / 2 - 0.5 + b, cy=height / 2 - 0.5)
                     for b in range(batch)])
    return K, c2w


def compare(points, K, c2w, h, w, device, **kw):
    ref_d, ref_i = pcpr_ext.project(points, K, c2w, h, w, backend="torch", **kw)
    dev = torch.device(device)
    d, i = pcpr_ext.project(points.to(dev), K.to(dev), c2w.to(dev), h, w, backend=device, **kw)
    assert torch.equal(i.cpu(), ref_i), f"{int((i.cpu() != ref_i).sum())} indices differ"
    assert torch.equal(d.cpu().view(torch.int32), ref_d.view(torch.int32)), "depth bits differ"
    return ref_i


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("max_splat", [1, 2, 3, 7, 16])
@pytest.mark.parametrize("num_layers", [1, 2, 4, 8])
def test_parity_random_scenes(device, batch, max_splat, num_layers):
    h, w = 40, 56
    points = awkward_cloud(1500, seed=num_layers * 100 + max_splat)
    K, c2w = rig(batch, h, w)
    near = torch.tensor([0.5, 1.0, 2.0][:batch])
    index = compare(points, K, c2w, h, w, device, num_layers=num_layers, near=near, far=7.0,
                    max_splat=max_splat)
    assert (index[:, -1] >= 0).any() or num_layers == 8


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("max_splat", [1, 3])
@pytest.mark.parametrize("num_layers", [1, 2, 5])
def test_parity_many_points_on_few_pixels(device, batch, max_splat, num_layers):
    # more points than keys (L x H x W) on a small image: the CPU kernel's direct path (each
    # slice of the points keeps its own nearest keys per pixel, then they are merged), which the
    # sparser scenes above do not take; two threads at least, so that slices are merged
    h, w = 12, 20
    points = awkward_cloud(20000, seed=num_layers * 10 + max_splat)  # >= 2 points a key
    K, c2w = rig(batch, h, w)
    threads = torch.get_num_threads()
    torch.set_num_threads(max(2, threads))
    try:
        index = compare(points, K, c2w, h, w, device, num_layers=num_layers, near=0.5, far=7.0,
                        max_splat=max_splat)
    finally:
        torch.set_num_threads(threads)
    assert (index[:, -1] >= 0).float().mean() > 0.5


@pytest.mark.parametrize("device", DEVICES)
def test_points_on_image_borders(device):
    # points placed exactly on pixel centres and half-pixel edges along all four borders
    h, w, f = 16, 20, 20.0
    K = intrinsics(f=f, cx=0.0, cy=0.0)[None]
    cols = torch.tensor([-1.5, -0.5, 0.0, 0.49, 0.5, w - 1.5, w - 1.0, w - 0.5, w + 0.5])
    rows = torch.tensor([-1.0, -0.5, 0.0, 7.0, h - 1.0, h - 0.5, h + 1.0])
    cc, rr = torch.meshgrid(cols, rows, indexing="ij")
    z = 2.0
    pts = torch.stack([cc.flatten() * z / f, rr.flatten() * z / f, torch.full_like(cc.flatten(), z)], 1)
    for ms in (1, 3, 4):
        compare(pts, K, torch.eye(4)[None], h, w, device, num_layers=3, near=1.0, far=10.0,
                max_splat=ms)


@pytest.mark.parametrize("device", DEVICES)
def test_points_far_outside_the_image_are_skipped(device):
    # centres 2^30 to 2^33 pixels away (past 32-bit integers: a wrapped corner would land inside),
    # beside one point on the image; enough points that the CPU draws them directly too
    h, w, f = 8, 8, 10.0
    K = intrinsics(f=f, cx=0.0, cy=0.0)[None]
    far_px = torch.tensor([2.0 ** 30, 2.0 ** 31 + 3, 2.0 ** 32 + 3, 2.0 ** 33])
    offsets = torch.cat([far_px, -far_px])
    pts = torch.zeros(len(offsets) * 2 + 1, 3)
    pts[:, 2] = 1.0
    pts[:len(offsets), 0] = offsets / f
    pts[len(offsets):-1, 1] = offsets / f
    pts[-1, :2] = 3.0 / f
    pts = pts.repeat(16, 1)
    for ms in (1, 3):
        index = compare(pts, K, torch.eye(4)[None], h, w, device, num_layers=2, near=0.5,
                        far=10.0, max_splat=ms)
        drawn = index[index >= 0]
        assert len(drawn) and bool((drawn % (len(offsets) * 2 + 1) == len(offsets) * 2).all())


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("h,w,n", [(1, 1, 50), (1, 37, 300), (23, 1, 300), (8, 8, 0), (8, 8, 400)])
def test_edge_shapes(device, h, w, n):
    points = awkward_cloud(max(n, 8), seed=n)[:n]
    K, c2w = rig(2, h, w)
    compare(points, K, c2w, h, w, device, num_layers=3, near=0.5, far=7.0, max_splat=16)


@pytest.mark.parametrize("device", DEVICES)
def test_non_contiguous_and_float64_inputs(device):
    points = awkward_cloud(600, seed=7).double().t().contiguous().t()
    assert not points.is_contiguous()
    K, c2w = rig(2, 24, 24)
    compare(points, K.double(), c2w[:, :3, :].double(), 24, 24, device, num_layers=2, near=0.5,
            far=7.0, max_splat=3)


@pytest.mark.parametrize("device", DEVICES)
def test_deterministic(device):
    points = awkward_cloud(20000, seed=1).to(device)
    K, c2w = rig(3, 64, 64)
    runs = [pcpr_ext.project(points, K.to(device), c2w.to(device), 64, 64, num_layers=4, near=0.5,
                             far=7.0, max_splat=5, backend=device) for _ in range(2)]
    assert torch.equal(runs[0][1], runs[1][1])
    assert torch.equal(runs[0][0].view(torch.int32), runs[1][0].view(torch.int32))


def test_auto_picks_native_cpu(monkeypatch):
    import pcpr_ext.projection as projection

    def reference_must_not_run(*args, **kwargs):
        raise AssertionError("backend auto ran the torch reference on the CPU")

    monkeypatch.setattr(projection, "project_reference", reference_must_not_run)
    points = awkward_cloud(200, seed=2)
    K, c2w = rig(1, 16, 16)
    auto = pcpr_ext.project(points, K, c2w, 16, 16, num_layers=2, near=0.5, far=7.0)
    cpu = pcpr_ext.project(points, K, c2w, 16, 16, num_layers=2, near=0.5, far=7.0, backend="cpu")
    assert torch.equal(auto[1], cpu[1])


def test_native_host_checks_arguments():
    from pcpr_ext import _C

    pts, K, c2w = torch.zeros(3, 3), torch.eye(3)[None], torch.eye(4)[None, :3]
    near, far = torch.tensor([0.5]), torch.tensor([5.0])
    with pytest.raises(TypeError, match="points must be float32"):
        _C.project(pts.double(), K, c2w, 4, 4, 1, near, far, 1)
    with pytest.raises(RuntimeError, match="contiguous"):
        _C.project(torch.zeros(3, 6)[:, ::2], K, c2w, 4, 4, 1, near, far, 1)
    with pytest.raises(ValueError, match="num_layers must be >= 1"):
        _C.project(pts, K, c2w, 4, 4, 0, near, far, 1)
    with pytest.raises(ValueError, match="max_splat"):
        _C.project(pts, K, c2w, 4, 4, 1, near, far, 0)
    with pytest.raises(ValueError, match="near < far"):
        _C.project(pts, K, c2w, 4, 4, 1, far, near, 1)
    with pytest.raises(ValueError, match=r"cam_to_world must have shape"):
        _C.project(pts, K, torch.eye(4)[None], 4, 4, 1, near, far, 1)
    with pytest.raises(ValueError, match="at most 32767 rows"):
        _C.project(pts, K, c2w, 40000, 4, 1, near, far, 1)


@pytest.mark.slow
def test_twenty_million_points_in_bounded_memory():
    """20M points at 256x256: extra memory grows with N (16-byte splat records), never N x pixels."""
    script = textwrap.dedent("""
        import resource, torch, pcpr_ext
        torch.manual_seed(0)
        pts = torch.randn(20_000_000, 3)
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        K = torch.tensor([[[200.0, 0, 127.5], [0, 200.0, 127.5], [0, 0, 1]]])
        c2w = torch.eye(4)[None].clone(); c2w[0, 2, 3] = -6.0
        d, i = pcpr_ext.project(pts, K, c2w, 256, 256, num_layers=2, near=0.5, far=20.0,
                                max_splat=2, backend="cpu")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print((peak - base) / 1024, int((i[0, 1] >= 0).sum()))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    extra_mib, filled = out.stdout.split()
    bound = 24 * 20_000_000 / 2**20 + 64  # 24 bytes a point, 64 MiB slack
    assert float(extra_mib) < bound, f"projection used {extra_mib} MiB beyond its input"
    assert int(filled) > 256 * 256 // 4
