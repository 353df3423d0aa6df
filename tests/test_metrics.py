"""Image quality figures (npcr.metrics)."""
import pytest
import torch

from npcr.metrics import colour_matched_psnr, psnr, ssim


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


def _views(seed=0):
    """A render and a photo whose right quarter has no source (an undistorted photo's corner),
    where the render is far off: counted as matched, it would raise the figures."""
    g = torch.Generator().manual_seed(seed)
    truth = torch.rand(2, 3, 32, 40, generator=g)
    pred = (truth + 0.05 * torch.randn(2, 3, 32, 40, generator=g)).clamp(0, 1)
    valid = torch.ones(2, 1, 32, 40)
    valid[..., 30:] = 0
    pred[..., 30:] = 1 - truth[..., 30:]
    return pred, truth, valid


def test_the_engines_metrics_score_as_the_baselines_and_evaluate_do():
    """One definition everywhere: the training's held-out PSNR and SSIM (create_evaluator's ignite
    metrics) give a render the score npcr.metrics gives it, the one the baselines and
    tools/evaluate.py report, over the same valid pixels."""
    from npcr.engine.trainer import create_evaluator

    pred, truth, valid = _views()

    class Render:  # the model's part in the evaluator: this render for the batch's views
        def eval(self):
            return self

        def __call__(self, clouds, frames, cameras):
            return {"rgb": pred[:len(frames)]}

    batch = {"image": truth, "valid": valid, "frame": torch.zeros(2, dtype=torch.long),
             "K": torch.eye(3).expand(2, 3, 3), "cam_to_world": torch.eye(4).expand(2, 4, 4)}
    metrics = create_evaluator(Render(), None, torch.device("cpu")).run([batch]).metrics
    per_view = [(psnr(pred[i:i + 1], truth[i:i + 1], valid[i:i + 1]),
                 ssim(pred[i:i + 1], truth[i:i + 1], valid[i:i + 1])) for i in range(2)]
    assert metrics["psnr"] == pytest.approx(sum(p for p, _ in per_view) / 2, abs=1e-9)
    assert metrics["ssim"] == pytest.approx(sum(s for _, s in per_view) / 2, abs=1e-9)
    matched = torch.where(valid > 0, truth, pred)  # the old evaluator's truth: 1.5 dB kinder here
    assert psnr(pred, matched) > psnr(pred, truth, valid) + 1


def test_masked_ssim_is_pytorch_msssims_where_all_is_valid_and_ignores_the_rest():
    from pytorch_msssim import ssim as reference

    pred, truth, valid = _views(1)
    assert ssim(pred, truth) == pytest.approx(float(reference(pred, truth, data_range=1.0)),
                                              abs=1e-6)
    other = pred.clone()
    other[..., 30:] = truth[..., 30:]  # only where the photo has no source
    assert ssim(other, truth, valid) == ssim(pred, truth, valid) != ssim(pred, truth)
