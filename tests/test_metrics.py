"""Image quality figures (npcr.metrics)."""
import torch

from npcr.metrics import colour_matched_psnr, psnr


def test_colour_matched_psnr_takes_out_gain_and_offset_over_the_valid_pixels_only():
    torch.manual_seed(0)
    truth = torch.rand(1, 3, 20, 30)
    gains, offsets = torch.tensor([0.7, 1.2, 0.9]), torch.tensor([0.1, -0.05, 0.02])
    pred = truth * gains[:, None, None] + offsets[:, None, None]
    valid = torch.ones(1, 1, 20, 30)
    valid[..., :5] = 0
    pred[..., :5] = 3.0  # pixels without a source: kept out of the fit and of the error
    assert psnr(pred, truth, valid) < 30
    assert colour_matched_psnr(pred, truth, valid) > 100
    noisy = truth + 0.05 * torch.randn_like(truth)  # what no gain or offset explains stays
    assert 0 <= colour_matched_psnr(noisy, truth) - psnr(noisy, truth) < 0.5  # (clipping to [0, 1])
