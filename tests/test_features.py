"""pcpr_ext.gather_features and FeatureLookup: values, background, gradients, the native gather."""
import os

import pytest
import torch
import torch.nn.functional as F

import pcpr_ext
from pcpr_ext import features


def test_gather_values_and_background():
    feats = torch.arange(12, dtype=torch.float32).view(4, 3)
    bg = torch.tensor([-1.0, -2.0, -3.0])
    index = torch.tensor([[[[0, -1], [3, 2]]]])  # (1, 1, 2, 2)
    out = pcpr_ext.gather_features(feats, index, bg)
    assert out.shape == (1, 1, 3, 2, 2)
    assert out[0, 0, :, 0, 0].tolist() == [0, 1, 2]
    assert out[0, 0, :, 0, 1].tolist() == [-1, -2, -3]
    assert out[0, 0, :, 1, 0].tolist() == [9, 10, 11]


def test_gradcheck_features_and_background():
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(5, 2, dtype=torch.float64, generator=g, requires_grad=True)
    bg = torch.randn(2, dtype=torch.float64, generator=g, requires_grad=True)
    index = torch.randint(-1, 5, (2, 3, 4, 4), generator=g)
    assert torch.autograd.gradcheck(lambda f, b: pcpr_ext.gather_features(f, index, b), (feats, bg))


def test_gradient_accumulates_per_use():
    feats = torch.zeros(3, 1, requires_grad=True)
    bg = torch.zeros(1, requires_grad=True)
    index = torch.tensor([[[[0, 0, 2, -1]]]])
    pcpr_ext.gather_features(feats, index, bg).sum().backward()
    assert feats.grad.view(-1).tolist() == [2, 0, 1] and bg.grad.tolist() == [1]


@pytest.mark.parametrize("index", [torch.tensor([[[[5]]]]), torch.tensor([[[[-2]]]]),
                                   torch.tensor([[[0]]]), torch.tensor([[[[0]]]], dtype=torch.int32)])
def test_bad_index_is_refused(index):
    with pytest.raises(ValueError):
        pcpr_ext.gather_features(torch.zeros(5, 2), index, torch.zeros(2))


def test_lookup_without_gradient_gives_the_same_features():
    """Rendering (no gradient) gathers each channel in place (or looks up rows when the table is
    larger than the lookup); training looks up rows: same values."""
    g = torch.Generator().manual_seed(3)
    feats, bg = torch.randn(40, 5, generator=g, requires_grad=True), torch.randn(5)
    index = torch.randint(-1, 40, (2, 3, 7, 9), generator=g)
    with_grad = pcpr_ext.gather_features(feats, index, bg)
    with torch.no_grad():
        without = pcpr_ext.gather_features(feats, index, bg)
    assert with_grad.requires_grad and not without.requires_grad
    assert without.shape == (2, 3, 5, 7, 9) and torch.equal(with_grad.detach(), without)
    # a table with more rows than the lookup has pixels is looked up by rows, not transposed
    big = torch.randn(500, 5, generator=g)
    few = torch.randint(-1, 500, (1, 2, 4, 6), generator=g)
    with torch.no_grad():
        lookup = pcpr_ext.FeatureLookup(big, bg)
        by_rows = lookup(few)
        assert lookup.columns is None
        lookup(torch.randint(-1, 500, (1, 2, 20, 30), generator=g))  # now the transpose pays
        assert lookup.columns is not None and torch.equal(lookup(few), by_rows)
    assert torch.equal(by_rows, torch.where(few[:, :, None] < 0, bg[:, None, None],
                                            big[few.clamp_min(0)].permute(0, 1, 4, 2, 3)))


def test_lookups_refuse_indices_out_of_range():
    """Both lookups (per layer and in pixel-major blocks) name the valid range instead of reading
    past the table; -1 is the background."""
    lookup = pcpr_ext.FeatureLookup(torch.randn(4, 2), torch.zeros(2))
    for bad in (4, -2):
        index = torch.zeros(1, 1, 2, 2, dtype=torch.int64)
        index[0, 0, 1, 1] = bad
        with pytest.raises(ValueError, match=r"\[-1, 4\)"):
            lookup(index)
        with pytest.raises(ValueError, match=r"\[-1, 4\)"):
            lookup.blocks(index, 2)
    assert lookup.blocks(torch.full((1, 1, 2, 2), -1), 2).equal(torch.zeros(1, 1, 1, 8))


@pytest.mark.parametrize("block", [1, 2, 3])
def test_blocks_native_and_torch_paths_agree(block, monkeypatch):
    """FeatureLookup.blocks: on the CPU the native gather (pcpr_ext._C.gather_blocks), elsewhere
    the torch path; both equal the pixel-unshuffled per-layer lookup, exactly. Rows of 40 blocks:
    wider than the native gather's prefetching distance (32 lookups)."""
    g = torch.Generator().manual_seed(block)
    feats, bg = torch.randn(60, 4, generator=g, requires_grad=True), torch.randn(4)
    index = torch.randint(-1, 60, (2, 3, 6 * block, 40 * block), generator=g)
    plain = pcpr_ext.gather_features(feats, index, bg).detach()
    expected = F.pixel_unshuffle(plain.flatten(1, 2), block).permute(0, 2, 3, 1)
    with monkeypatch.context() as m:
        m.setattr(features, "_C", None)
        by_torch = pcpr_ext.FeatureLookup(feats, bg).blocks(index, block)  # with a gradient
    assert by_torch.requires_grad and torch.equal(by_torch.detach(), expected)
    if os.environ.get("NPCR_NO_EXT") == "1":
        pytest.skip("native build skipped with NPCR_NO_EXT=1")
    assert features._C is not None, "pcpr_ext._C is not built: run `make install`"
    with torch.no_grad():
        lookup = pcpr_ext.FeatureLookup(feats, bg)
        native = features._C.gather_blocks(lookup.table, index, block, None)
        assert torch.equal(native, expected) and torch.equal(lookup.blocks(index, block), expected)
        # a background map where no point is (an environment's features)
        env = torch.randn(2, 4, *index.shape[-2:], generator=g)
        with_env = F.pixel_unshuffle(torch.where(index[:, :, None] < 0, env[:, None], plain)
                                     .flatten(1, 2), block).permute(0, 2, 3, 1)
        assert torch.equal(lookup.blocks(index, block, env), with_env)
    assert torch.equal(pcpr_ext.FeatureLookup(feats, bg).blocks(index, block, env).detach(),
                       with_env)
    with pytest.raises(IndexError, match="out of"):  # the kernel checks too
        features._C.gather_blocks(lookup.table, torch.full_like(index, 60), block, None)
    with pytest.raises(ValueError, match="blocks of 5x5"):
        lookup.blocks(index, 5)


def _block_gradients(block: int, index: torch.Tensor, env: bool, seed: int = 0):
    """Gradients of a weighted sum of FeatureLookup.blocks for the features, the background
    feature and (with ``env``) a background map; and the output's autograd node."""
    g = torch.Generator().manual_seed(seed)
    b, layers, h, w = index.shape
    feats = torch.randn(50, 5, generator=g, requires_grad=True)
    bg = torch.randn(5, generator=g, requires_grad=True)
    env_map = torch.randn(b, 5, h, w, generator=g, requires_grad=True) if env else None
    out = pcpr_ext.FeatureLookup(feats, bg).blocks(index, block, env_map)
    (out * torch.randn(out.shape, generator=g)).sum().backward()
    grads = [feats.grad, bg.grad] + ([env_map.grad] if env else [])
    return grads, type(out.grad_fn).__name__


@pytest.mark.parametrize("block,layers,env", [(1, 1, False), (2, 2, False), (2, 2, True),
                                              (3, 3, True)])
def test_blocks_native_gradient_equals_the_torch_paths(block, layers, env, monkeypatch):
    """Training on the CPU: the native gather's own gradient (one pass) sums what the torch
    path's lookup and transposes give, to rounding; run after run the same bits. Rows of 36
    blocks: wider than the native gather's prefetching distance (32 lookups)."""
    if os.environ.get("NPCR_NO_EXT") == "1":
        pytest.skip("native build skipped with NPCR_NO_EXT=1")
    g = torch.Generator().manual_seed(10 * block + layers)
    index = torch.randint(-1, 50, (2, layers, 4 * block, 36 * block), generator=g)
    index[:, :, :block] = 7  # many pixels on one point
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # more than one thread's table where a lookup has the pixels for it
    try:
        native, node = _block_gradients(block, index, env)
        again, _ = _block_gradients(block, index, env)
    finally:
        torch.set_num_threads(threads)
    assert node == "_BlockGatherBackward"
    assert all(torch.equal(a, b) for a, b in zip(native, again))
    with monkeypatch.context() as m:
        m.setattr(features, "_C", None)
        by_torch, torch_node = _block_gradients(block, index, env)
    assert torch_node != node
    for a, b in zip(native, by_torch):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    with pytest.raises(IndexError, match="out of"):
        features._C.gather_blocks_backward(torch.zeros(2, 4, 36, layers * 5 * block * block),
                                           torch.full_like(index, 50), block, 51, False)
    with pytest.raises(ValueError, match="does not match"):
        features._C.gather_blocks_backward(torch.zeros(2, 4, 36, 0), index, block, 51, False)
