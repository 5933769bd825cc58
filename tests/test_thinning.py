"""Invariants of exact thinning: topology, subset, idempotence, thinness, composition, locality."""

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage
from skimage.data import horse

from skelkit.core import simple as sp
from skelkit.core import thinning
from skelkit.core.thinning import DIRECTIONS, REACH_PER_ITER, _Thinner, depth_stages, thin, thin_iteration
from skelkit.metrics.topology import betti_numbers


@st.composite
def images(draw, nd, max_side):
    """Random masks: salt-and-pepper noise or thresholded smooth noise (blobs with holes)."""
    shape = tuple(draw(st.integers(1, max_side)) for _ in range(nd))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    density = draw(st.floats(0.05, 0.95))
    field = rng.random(shape)
    if draw(st.booleans()):
        field = ndimage.gaussian_filter(field, draw(st.floats(0.5, 2.5)))
    return field > np.quantile(field, 1 - density)


def _check_invariants(img, by_depth=False, equivariant=False):
    out = thin(img, by_depth=by_depth, equivariant=equivariant)
    assert out.dtype == bool and out.shape == img.shape
    assert not (out & ~img).any(), "output must be a subset of the input"
    assert betti_numbers(out) == betti_numbers(img)
    assert not sp.removable_points(out).any(), "a simple non-endpoint pixel survived"
    np.testing.assert_array_equal(thin(out), out)
    np.testing.assert_array_equal(thin(out, by_depth=True), out)
    return out


@settings(max_examples=150, deadline=None)
@given(images(2, 40))
def test_invariants_2d(img):
    _check_invariants(img)


@settings(max_examples=60, deadline=None)
@given(images(3, 14))
def test_invariants_3d(img):
    _check_invariants(img)


@settings(max_examples=80, deadline=None)
@given(st.one_of(images(2, 40), images(3, 12)))
def test_invariants_by_depth(img):
    _check_invariants(img, by_depth=True)


@settings(max_examples=80, deadline=None)
@given(st.one_of(images(2, 40), images(3, 12)), st.booleans())
def test_invariants_equivariant(img, by_depth):
    _check_invariants(img, by_depth=by_depth, equivariant=True)


@settings(max_examples=60, deadline=None)
@given(st.one_of(images(2, 30), images(3, 12)), st.data())
def test_equivariant_iteration_ignores_origin(img, data):
    # no subfields: the pixel grid's parity plays no part (unlike thin_iteration)
    origin = data.draw(st.tuples(*[st.integers(0, 1)] * img.ndim))
    states = []
    for o in (None, origin):
        t = _Thinner(img, o, equivariant=True)
        t.iterate_equivariant()
        states.append(t.result())
    np.testing.assert_array_equal(*states)


@pytest.mark.parametrize("side", [2, 4])
def test_equivariant_rod_moves_with_the_image(side):
    # an even-width rod has no centre voxel; subfields pick one by parity, P-simple deletion by direction
    img = np.zeros((side + 4, side + 4, 24), bool)
    img[2 : 2 + side, 2 : 2 + side, 2:22] = True
    origins = list(itertools.product((0, 1), repeat=3))
    eq = [thin(img, equivariant=True, origin=o) for o in origins]
    sub = [thin(img, origin=o) for o in origins]
    assert all((e == eq[0]).all() for e in eq)
    assert any((s != sub[0]).any() for s in sub)  # what the option is for
    assert betti_numbers(eq[0]) == (1, 0, 0) and not sp.removable_points(eq[0]).any()


@settings(max_examples=40, deadline=None)
@given(st.one_of(images(2, 40), images(3, 12)))
def test_by_depth_stages_delete_only_their_layers(img):
    # stage k (all but the last) deletes only depths 2k + 1, 2k + 2: what Skelite's band k can delete
    skel, hist = thin(img, by_depth=True, return_history=True)
    stage = depth_stages(img)
    assert len(hist) == stage.max()
    np.testing.assert_array_equal(hist[-1] if hist else img, skel)
    prev = img
    for k, state in enumerate(hist[:-1]):
        gone = prev & ~state
        assert not (gone & (stage != k + 1)).any()
        prev = state
    np.testing.assert_array_equal(thin(img, by_depth=True, max_num_iter=2), hist[min(2, len(hist)) - 1] if hist else img)


@settings(max_examples=25, deadline=None)
@given(images(2, 32), st.integers(0, 4), st.integers(0, 4))
def test_max_iter_composition_2d(img, a, b):
    np.testing.assert_array_equal(thin(thin(img, max_num_iter=a), max_num_iter=b), thin(img, max_num_iter=a + b))


@settings(max_examples=10, deadline=None)
@given(images(3, 12), st.integers(0, 3), st.integers(0, 3))
def test_max_iter_composition_3d(img, a, b):
    np.testing.assert_array_equal(thin(thin(img, max_num_iter=a), max_num_iter=b), thin(img, max_num_iter=a + b))


def test_horse():
    img = ~horse()
    out = _check_invariants(img)
    assert betti_numbers(img) == (1, 1)
    assert 0 < out.sum() < 0.05 * img.sum()


def _torus(n=24, big=7.0, small=2.5):
    z, y, x = np.mgrid[:n, :n, :n] - (n - 1) / 2
    return (np.hypot(np.hypot(y, x) - big, z) <= small)


def test_torus_becomes_a_loop():
    vol = _torus()
    out = _check_invariants(vol)
    assert betti_numbers(out) == (1, 1, 0)
    # a closed curve: every voxel has exactly two neighbours
    nbrs = ndimage.convolve(out.astype(int), np.ones((3, 3, 3), int), mode="constant") - 1
    assert (nbrs[out] == 2).mean() > 0.9


def test_tubes_and_shell():
    vol = np.zeros((20, 30, 30), bool)
    vol[2:18, 8:13, 8:13] = True  # straight tube along axis 0
    vol[10:14, 8:13, 8:26] = True  # a branch
    z, y, x = np.mgrid[:20, :30, :30]
    r = np.sqrt((z - 10) ** 2 + (y - 20) ** 2 + (x - 8) ** 2)
    vol |= (r >= 4) & (r <= 6)  # hollow shell: a cavity that must survive
    out = _check_invariants(vol)
    assert betti_numbers(out)[2] == 1


def test_history_and_single_iteration():
    img = ~horse()[100:200, 100:220]
    out, hist = thin(img, return_history=True)
    assert len(hist) > 2
    np.testing.assert_array_equal(hist[-1], out)
    state = img
    for h in hist:
        state, n = thin_iteration(state)
        assert n > 0
        np.testing.assert_array_equal(state, h)
    assert thin_iteration(out)[1] == 0
    np.testing.assert_array_equal(thin(img, max_num_iter=2), hist[1])
    np.testing.assert_array_equal(thin(img, max_num_iter=0), img)


@pytest.mark.parametrize(
    "shape, box",
    [
        ((8, 30), (slice(3, 5), slice(2, 28))),  # 2-wide rod
        ((10, 30), (slice(3, 7), slice(2, 28))),  # 4-wide rod
        ((6, 6), (slice(2, 4), slice(2, 4))),  # 2x2 square
        ((8, 8), (slice(2, 6), slice(2, 6))),  # 4x4 square
        ((6, 6, 30), (slice(2, 4), slice(2, 4), slice(2, 28))),  # 2x2 rod
        ((8, 8, 30), (slice(2, 6), slice(2, 6), slice(2, 28))),  # 4x4 rod
        ((6, 6, 6), (slice(2, 4),) * 3),  # 2x2x2 cube
        ((8, 8, 8), (slice(2, 6),) * 3),  # 4x4x4 cube
    ],
)
@pytest.mark.parametrize("by_depth", [False, True])
def test_even_width_shapes_do_not_vanish(shape, box, by_depth):
    img = np.zeros(shape, bool)
    img[box] = True
    out = _check_invariants(img, by_depth)
    assert betti_numbers(out)[0] == 1
    if shape[-1] == 30:  # rods keep (nearly) their length
        cols = np.flatnonzero(out.any(axis=tuple(range(len(shape) - 1))))
        assert cols.max() - cols.min() >= 20


@pytest.mark.parametrize("shape", [(9, 7), (5, 6, 7)])
def test_empty_and_full(shape):
    empty = np.zeros(shape, bool)
    np.testing.assert_array_equal(thin(empty), empty)
    full = np.ones(shape, bool)  # outside is background: a box, thinned to a connected curve
    out = _check_invariants(full)
    assert betti_numbers(out) == (1,) + (0,) * (len(shape) - 1)
    assert 0 < out.sum() < full.sum() / 2


def test_single_pixel_and_1x1():
    np.testing.assert_array_equal(thin(np.ones((1, 1), bool)), [[True]])
    np.testing.assert_array_equal(thin(np.ones((1, 1, 1), bool)), [[[True]]])


@pytest.mark.parametrize("nd, shape", [(2, (48, 48)), (3, (56, 14, 14))])
def test_reach_per_iteration(nd, shape):
    """Flipping a pixel changes one iteration's output only within REACH_PER_ITER of it."""
    reach = REACH_PER_ITER[nd]
    assert reach == (16 if nd == 2 else 48)
    rng = np.random.default_rng(7)
    for trial in range(6):
        base = ndimage.gaussian_filter(rng.random(shape), 1.0) > 0.5
        q = tuple(int(rng.integers(0, 3)) if a == 0 else int(rng.integers(0, n)) for a, n in enumerate(shape))
        flipped = base.copy()
        flipped[q] = ~flipped[q]
        diff = thin_iteration(base)[0] != thin_iteration(flipped)[0]
        far = np.ones(shape, bool)
        far[tuple(slice(max(c - reach, 0), c + reach + 1) for c in q)] = False
        assert far.any() and not (diff & far).any()


def test_origin_matches_crop_of_larger_image():
    rng = np.random.default_rng(8)
    img = ndimage.gaussian_filter(rng.random((30, 33)), 1.5) > 0.5
    big = np.zeros((31, 34), bool)
    big[1:, 1:] = img  # img starts at odd global coordinates
    np.testing.assert_array_equal(thin(img, origin=(1, 1)), thin(big)[1:, 1:])
    vol = ndimage.gaussian_filter(rng.random((10, 11, 12)), 1.0) > 0.5
    bigv = np.zeros((11, 11, 13), bool)
    bigv[1:, :, 1:] = vol
    np.testing.assert_array_equal(thin(vol, origin=(1, 0, 1)), thin(bigv)[1:, :, 1:])


def _reference_iteration(img, origin=None):
    """Dense, direct transcription of one iteration (no active set)."""
    img = img.copy()
    ids = sp.subfield_ids(img.shape, origin)
    for axis, step in DIRECTIONS[img.ndim]:
        padded = np.pad(img, 1)
        sl = [slice(1, -1)] * img.ndim
        sl[axis] = slice(1 + step, padded.shape[axis] - 1 + step)
        cand = img & ~padded[tuple(sl)]  # neighbour in direction `step` is background
        for k in range(2**img.ndim):
            img &= ~(cand & (ids == k) & sp.removable_points(img))
    return img


@settings(max_examples=25, deadline=None)
@given(st.one_of(images(2, 24), images(3, 9)), st.integers(0, 3))
def test_active_set_matches_dense_reference(img, parity):
    origin = [(parity >> a) & 1 for a in range(img.ndim)]
    state = img
    for _ in range(4):
        expected = _reference_iteration(state, origin)
        got, n = thin_iteration(state, origin=origin)
        np.testing.assert_array_equal(got, expected)
        assert n == int(state.sum() - got.sum())
        state = got


@pytest.mark.parametrize("shape", [(20, 23), (9, 10, 11)])
def test_torch_removable_and_subfields_reproduce_one_iteration(shape):
    """Skelite's guard (removable + subfield_masks, torch) replays thin_iteration exactly."""
    rng = np.random.default_rng(9)
    img = ndimage.gaussian_filter(rng.random(shape), 1.0) > 0.45
    x = torch.from_numpy(img)[None, None]
    nd = len(shape)
    masks = sp.subfield_masks(shape, x.device)
    for axis, step in DIRECTIONS[nd]:  # the neighbour at `step` along `axis` is background
        bg_nbr = ~torch.roll(x, -step, dims=2 + axis)
        edge = [slice(None)] * (nd + 2)
        edge[2 + axis] = -1 if step == 1 else 0
        bg_nbr[tuple(edge)] = True  # outside the image is background
        cand = x & bg_nbr
        for m in masks:
            x = x & ~(cand & m & sp.removable(x))
    np.testing.assert_array_equal(x[0, 0].numpy(), thin_iteration(img)[0])


@pytest.mark.parametrize("shape", [(7, 9), (5, 6, 7)])
def test_packed_codes_match_neighbour_codes(shape):
    img = np.random.default_rng(10).random(shape) < 0.6
    state = _Thinner(img, equivariant=True)  # the numpy gathers of the equivariant passes
    idx = np.flatnonzero(np.pad(img, 1))
    dense = (sp.neighbour_codes_2d if len(shape) == 2 else sp.neighbour_codes_3d)(np.pad(img, 1)).ravel()
    np.testing.assert_array_equal(state._codes(idx), dense[idx])
    packed = _Thinner(img)
    if packed.packed:  # the kernel's state: foreground in bit 0
        np.testing.assert_array_equal(packed.state & 1, np.pad(img, 1).ravel())


def test_bad_input():
    with pytest.raises(ValueError):
        thin(np.zeros((3, 3), bool), max_num_iter=-1)
    with pytest.raises(ValueError, match="origin"):
        thin(np.zeros((3, 3), bool), origin=(1, 2, 3))
    with pytest.raises(ValueError):
        thin(np.zeros((2, 3, 4, 5), bool))


def test_by_depth_through_the_api():
    import skelkit

    img = horse() == 0
    want = thin(img, by_depth=True)
    np.testing.assert_array_equal(skelkit.skeletonize(img, method="exact", by_depth=True), want)
    x = torch.from_numpy(img.astype(np.float32))[None, None]
    np.testing.assert_array_equal(skelkit.skeletonize(x, method="exact", by_depth=True)[0, 0].numpy() > 0.5, want)
    assert not np.array_equal(want, thin(img))  # a different skeleton: the option is really passed through


@pytest.mark.skipif(thinning._thinc is None, reason="compiled kernel not built")
@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**20), nd=st.sampled_from([2, 3]), density=st.floats(0.3, 0.85),
       mode=st.sampled_from(["plain", "by_depth", "equivariant", "max_num_iter", "origin"]))
def test_compiled_kernel_equals_numpy(seed, nd, density, mode):
    """The C kernel makes the numpy sweep's decisions in the same order: identical skeletons in every mode."""
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 70)), int(rng.integers(1, 70))) if nd == 2 else tuple(int(v) for v in rng.integers(1, 22, 3))
    mask = ndimage.binary_opening(rng.random(shape) < density) | (rng.random(shape) < 0.05)
    kw = {"plain": {}, "by_depth": {"by_depth": True}, "equivariant": {"equivariant": True},
          "max_num_iter": {"max_num_iter": int(rng.integers(0, 4))},
          "origin": {"origin": tuple(int(v) for v in rng.integers(0, 3, nd))}}[mode]
    try:
        thinning._use_kernel = False
        want = thin(mask, **kw)
    finally:
        thinning._use_kernel = True
    np.testing.assert_array_equal(thin(mask, **kw), want)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**20), nd=st.sampled_from([2, 3]), batch=st.integers(1, 4),
       max_num_iter=st.sampled_from([None, 0, 1, 3]))
def test_thin_values_equals_thin_of_threshold(seed, nd, batch, max_num_iter):
    """The tensor path's float32 entry (threshold in the kernel, one state reused over the batch, only the
    skeleton's ones written) gives thin(values > 0.5) item by item; 0.5 itself is background."""
    rng = np.random.default_rng(seed)
    shape = (batch,) + tuple(int(v) for v in rng.integers(1, 40 if nd == 2 else 14, nd))
    values = ndimage.gaussian_filter(rng.random(shape), (0,) + (1.5,) * nd).astype(np.float32)
    values = (values - values.min()) / max(float(np.ptp(values)), 1e-6)
    values[rng.random(shape) < 0.1] = 0.5
    out = thinning.thin_values(values, np.zeros(shape, np.float32), max_num_iter)
    for v, o in zip(values, out):
        np.testing.assert_array_equal(o, thin(v > 0.5, max_num_iter).astype(np.float32))


@pytest.mark.parametrize("kernel", [True, False])
def test_thin_values_refuses_nan_anywhere(kernel, monkeypatch):
    monkeypatch.setattr(thinning, "_use_kernel", kernel)
    values = np.zeros((3, 6, 7, 9), np.float32)
    values[2, -1, -1, -1] = np.nan  # the last voxel of the last item
    with pytest.raises(thinning.SkelkitError, match="NaN"):
        thinning.thin_values(values, np.zeros_like(values))
    import skelkit

    with pytest.raises(thinning.SkelkitError, match="NaN"):
        skelkit.skeletonize(torch.from_numpy(values)[:, None])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**20), nd=st.sampled_from([2, 3]), batch=st.integers(1, 3),
       mode=st.sampled_from(["plain", "by_depth", "max_num_iter"]))
def test_torch_sweep_equals_numpy_batched(seed, nd, batch, mode):
    """The device sweep (run here on CPU tensors) gives the numpy skeleton of every item of a batch."""
    from skelkit.core.thinning_torch import thin_torch

    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(5, 40)), int(rng.integers(5, 40))) if nd == 2 else tuple(int(v) for v in rng.integers(4, 16, 3))
    masks = np.stack([ndimage.binary_opening(rng.random(shape) < rng.uniform(0.3, 0.85)) | (rng.random(shape) < 0.05)
                      for _ in range(batch)])
    kw = {"plain": {}, "by_depth": {"by_depth": True}, "max_num_iter": {"max_num_iter": int(rng.integers(0, 4))}}[mode]
    got = thin_torch(torch.from_numpy(masks)[:, None], **kw)[:, 0].numpy()
    want = np.stack([thin(m, **kw) for m in masks])
    np.testing.assert_array_equal(got, want)


def test_thin_only_reads_its_input():
    """thin() skips the copy of a canonical bool input, so it must leave the caller's array as it was."""
    img = np.zeros((12, 15), bool)
    img[2:10, 3:13] = True
    before = img.copy()
    want = thin(img)
    np.testing.assert_array_equal(img, before)
    odd = img.copy()
    odd.view(np.uint8)[odd] = 0xFF  # 1-bit images store True as 0xFF: copied to 0/1, same skeleton
    np.testing.assert_array_equal(thin(odd), want)
    assert odd.view(np.uint8).max() == 0xFF
