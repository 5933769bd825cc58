"""Band-by-band Skelite inference equals the reference loop."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import skelkit
from skelkit.core.morphology import erode_cross
from skelkit.data.augment import thicken
from skelkit.data.bezier import synth_mask
from skelkit.models.weights import weights_path
from skelkit.models.skelite import Skelite, load_model
from skelkit.models import skelite_bands
from skelkit.core.depth import _depth_by_erosion, city_block_depth_torch
from skelkit.models.skelite_bands import skeletonize_bands

torch.set_num_threads(1)


def _model(dim, seed, bias=0.0):
    torch.manual_seed(seed)
    m = Skelite(dim).eval().requires_grad_(False)
    m.g.convs[-1].bias.add_(bias)  # keeps logits off 0.5 so float rounding cannot flip a decision
    return m


def _reference(m, x, iters=None, guard=False):
    with torch.no_grad():
        return m(x.float(), iters, guard=guard) > 0.5


@settings(max_examples=40, deadline=None)
@given(arrays(bool, st.tuples(st.integers(1, 3), st.just(1), st.integers(1, 14), st.integers(1, 14))))
def test_depth_levels_are_the_erosions(x):
    x = torch.from_numpy(x)
    d, level = city_block_depth_torch(x), x.float()
    assert torch.equal(d, _depth_by_erosion(x))  # the accelerator path
    for j in range(sum(x.shape[2:]) + 2):  # an item with no background never erodes: depth is that bound
        assert torch.equal(level[:, 0] > 0, d > j)
        level = erode_cross(level)


@settings(max_examples=25, deadline=None)
@given(
    x=arrays(bool, st.tuples(st.integers(1, 2), st.just(1), st.integers(1, 24), st.integers(1, 24)),
             elements=st.booleans()),
    seed=st.integers(0, 3),
    guard=st.booleans(),
    iters=st.sampled_from([None, 1, 2]),
)
def test_equals_reference_2d_random(x, seed, guard, iters):
    m = _model(2, seed, bias=0.37)
    x = torch.from_numpy(x)
    assert torch.equal(skeletonize_bands(m, x, iters, guard), _reference(m, x, iters, guard))


@pytest.mark.parametrize("slab", [None, 37])
@pytest.mark.parametrize("guard", [False, True])
@pytest.mark.parametrize("dim,shape,thick", [(2, (80, 70), 2), (2, (64, 64), 4), (3, (24, 20, 22), 1)])
def test_equals_reference_on_structures(dim, shape, thick, guard, slab, monkeypatch):
    if slab is not None:  # band evaluated in many small slabs, each with its own halo
        monkeypatch.setitem(skelite_bands._SLAB, dim, slab)
    models = [_model(dim, 1, bias=0.37)]
    if weights_path(f"skelite{dim}d").is_file():
        models.append(load_model(dim))
    x = torch.stack([torch.from_numpy(thicken(synth_mask(shape, np.random.default_rng(s)), thick)) for s in range(2)])[:, None]
    for m in models:
        assert torch.equal(skeletonize_bands(m, x, None, guard), _reference(m, x, None, guard))


@pytest.mark.parametrize("border", ["background", "continue"])
def test_edge_cases(border):
    m = _model(2, 0)
    for x in (torch.zeros(1, 1, 5, 6, dtype=torch.bool), torch.ones(2, 1, 5, 6, dtype=torch.bool)):
        out = skeletonize_bands(m, x, border=border)
        with torch.no_grad():
            assert torch.equal(out, m(x.float(), border=border) > 0.5)
        if border == "continue" or not x.any():
            assert torch.equal(out, x)  # nothing to peel: all background, or no background to erode from
        else:
            assert out.sum() < x.sum()  # the image border is background: a full image is a box


@pytest.mark.parametrize("guard", [False, True])
def test_background_border_is_a_padded_continue_run(guard):
    m = _model(2, 1, bias=0.37)
    x = torch.from_numpy(thicken(synth_mask((40, 36), np.random.default_rng(4)), 2))[None, None]
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    want = skeletonize_bands(m, padded, None, guard, border="continue")[..., 2:-2, 2:-2]
    assert torch.equal(skeletonize_bands(m, x, None, guard), want)
    assert torch.equal(_reference(m, x, None, guard), want)
    with torch.no_grad():
        cont = m(x.float(), guard=guard, border="continue") > 0.5
    assert torch.equal(skeletonize_bands(m, x, None, guard, border="continue"), cont)


def test_api_uses_it_and_keeps_tensor_type():
    if not weights_path("skelite2d").is_file():
        pytest.skip("no shipped weights")
    mask = thicken(synth_mask((64, 64), np.random.default_rng(3)), 2)
    ref = _reference(load_model(2), torch.from_numpy(mask)[None, None])[0, 0].numpy()
    np.testing.assert_array_equal(skelkit.skeletonize(mask, method="skelite"), ref)
    np.testing.assert_array_equal(skelkit.skeletonize(mask, method="skelite", sparse=False), ref)
    t = torch.from_numpy(mask.astype(np.float64))[None, None]
    out = skelkit.skeletonize(t, method="skelite")
    assert out.dtype == torch.float64 and out.shape == t.shape
    np.testing.assert_array_equal(out[0, 0].numpy() > 0.5, ref)


def test_unknown_border_is_refused_on_every_path():
    from skelkit.errors import SkelkitError

    m = _model(2, 0)
    x = torch.zeros(1, 1, 8, 8, dtype=torch.bool)
    with pytest.raises(SkelkitError, match="border must be one of"):
        skeletonize_bands(m, x, border="wrap")
    with pytest.raises(SkelkitError, match="border must be one of"):
        m(x.float(), border="wrap")
