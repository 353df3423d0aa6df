"""Checkpoints (npcr.engine.checkpoints) in the fast suite: the best model is the best epoch's,
KEEP_CHECKPOINTS keeps the newest pairs, non-finite weights are refused."""
import pytest
import torch
from ignite.engine import Engine

from npcr.engine.checkpoints import (RENDERER, BestModel, attach_checkpoints, load_checkpoint,
                                     read_best_record)
from npcr.errors import NpcrError


def test_best_model_keeps_the_highest_psnr_and_goes_on_from_its_record(tmp_path):
    model = torch.nn.Linear(2, 1)
    best = BestModel(tmp_path, model)
    for epoch, psnr in enumerate([20.0, 22.0, 21.0, 23.0, 19.0], 1):
        with torch.no_grad():
            model.weight.fill_(epoch)  # the weights say which epoch they are
        best.update(epoch, psnr, psnr + 1)
    assert read_best_record(tmp_path) == {"epoch": 4, "psnr": 23.0, "heldout_psnr": 24.0}
    saved = torch.load(tmp_path / RENDERER.best_model, weights_only=True)
    assert torch.equal(saved["weight"], torch.full((1, 2), 4.0))
    resumed = BestModel(tmp_path, model)  # a resumed run: a worse epoch does not replace it
    assert not resumed.update(6, 22.5, 22.5) and read_best_record(tmp_path)["epoch"] == 4
    assert resumed.update(7, 23.5, 23.0) and read_best_record(tmp_path)["epoch"] == 7


def _train(folder, epochs: int, period: int, keep: int) -> list[str]:
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    trainer = Engine(lambda engine, batch: None)
    attach_checkpoints(folder, model, {"optimizer": optimizer}, trainer, period, keep, 0)
    trainer.run([0], max_epochs=epochs)
    return sorted(p.name for p in folder.iterdir())


def test_keep_checkpoints_prunes_the_oldest_pairs(tmp_path):
    for name in ("keep2", "all", "period2"):
        (tmp_path / name).mkdir()
    assert _train(tmp_path / "keep2", 5, 1, 2) == [
        "nr_model_4.pth", "nr_model_5.pth", "nr_optimizer_4.pth", "nr_optimizer_5.pth"]
    assert RENDERER.epochs(tmp_path / "all") == [] and len(_train(tmp_path / "all", 3, 1, 0)) == 6
    assert RENDERER.epochs(tmp_path / "period2") == []
    _train(tmp_path / "period2", 5, 2, 0)
    assert RENDERER.epochs(tmp_path / "period2") == [2, 4, 5]  # every 2nd epoch and the last


def test_a_checkpoint_with_non_finite_weights_is_refused(tmp_path):
    """A diverged run's weights render black frames: loading them is an error naming the tensor,
    wherever it sits (a model's state, an optimizer's nested state)."""
    model = torch.nn.Linear(2, 1)
    torch.save(model.state_dict(), tmp_path / "fine.pth")
    assert set(load_checkpoint(tmp_path / "fine.pth")) == {"weight", "bias"}
    with torch.no_grad():
        model.weight[0, 1] = float("nan")
    torch.save(model.state_dict(), tmp_path / "nan.pth")
    with pytest.raises(NpcrError, match=r"nan.pth: 1 non-finite values \(NaN or inf\) in weight"):
        load_checkpoint(tmp_path / "nan.pth")
    torch.save({"optimizer": {"state": {0: {"exp_avg": torch.tensor([1.0, float("inf")])}}}},
               tmp_path / "inf.pth")
    with pytest.raises(NpcrError, match=r"in optimizer.state.0.exp_avg"):
        load_checkpoint(tmp_path / "inf.pth")
