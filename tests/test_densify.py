"""Dense points from posed photos (npcr.capture.densify): the depths of coarser stereo levels are
interpolated within one surface only, and fill only what the finer levels left without a depth
nearby. (What they give back on a capture: benchmarks/bench_complete.py; the pipeline end to end:
tests/test_capture.py.)"""
import torch

from npcr.capture.densify import fill_from_coarse, upsample_depth


def test_upsample_depth_interpolates_inverse_depth_within_one_surface():
    depth = torch.tensor([[2.0, 2.0, 4.0], [2.0, 2.0, 4.0]])
    up = upsample_depth(depth, (4, 6))
    assert torch.equal(up[:, :3], torch.full((4, 3), 2.0))  # inside a flat block: its depth
    assert (up[:, 3:5] == 0).all()  # between 2 and 4: two surfaces, no depth
    assert torch.equal(up[:, 5], torch.full((4,), 4.0))
    ramp = upsample_depth(torch.tensor([[1.0, 2.0], [1.0, 2.0]]), (2, 4), spread=2.0)
    # fine pixel centres at coarse x = -0.25, 0.25, 0.75, 1.25 (clamped): inverse depth linear
    assert torch.allclose(ramp[0], 1 / torch.tensor([1.0, 0.75 + 0.25 / 2, 0.25 + 0.75 / 2, 0.5]))
    holed = torch.tensor([[2.0, 0.0], [2.0, 2.0]])
    assert (upsample_depth(holed, (4, 4))[:2, 2:] == 0).all()  # no depth next to a pixel without


def test_coarse_depth_fills_only_away_from_fine_depths_and_inside_the_mask():
    depth = torch.zeros(16, 16)
    depth[:, :4] = 3.0  # a surface the fine level covers
    coarse = torch.full((4, 4), 5.0)  # level 2: one coarse pixel a 4x4 block
    mask = torch.ones(16, 16, dtype=torch.bool)
    mask[12:] = False  # pixels without a source
    filled, count = fill_from_coarse(depth, coarse, mask, 2)
    assert torch.equal(filled[:, :4], depth[:, :4])  # fine depths kept
    reach = 2 ** 3 + 1  # within a coarse pixel's reach of a fine depth: no coarse depth
    assert (filled[:, 4:4 + reach // 2] == 0).all()
    assert (filled[:12, 4 + reach // 2:] == 5.0).all() and (filled[12:, 4:] == 0).all()
    assert count == 12 * (16 - 4 - reach // 2)
    _, none = fill_from_coarse(depth, torch.zeros(4, 4), mask, 2)
    assert none == 0
