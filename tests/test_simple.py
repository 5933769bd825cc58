"""Simple-point tests against independent brute force (component counts and Euler numbers)."""

import itertools

import numpy as np
import pytest
import torch
from scipy import ndimage
from skimage.measure import euler_number

from skelkit.core import simple as sp


# ----------------------------------------------------------- brute force ---
def _n_components(blocks: np.ndarray, connectivity: int) -> np.ndarray:
    """Components in each block of a batch (N, *spatial), blocks labelled independently."""
    nd = blocks.ndim - 1
    inner = ndimage.generate_binary_structure(nd, connectivity)
    structure = np.zeros((3,) + inner.shape, bool)
    structure[1] = inner  # no connections along the batch axis
    labels, _ = ndimage.label(blocks, structure=structure)
    lab = np.sort(labels.reshape(len(blocks), -1), axis=1)
    new = np.diff(lab, axis=1, prepend=0) != 0
    return (new & (lab != 0)).sum(1)


def _euler_26(blocks: np.ndarray) -> np.ndarray:
    """Euler characteristic V - E + F - C of the union of closed voxel cubes, per block (N, d, h, w).

    A cell (vertex, edge, face, cube) of the lattice belongs to the union iff
    any voxel containing it is foreground; a cell is indexed by which axes it
    spans, and the voxels containing it are those straddling the other axes.
    """
    padded = np.pad(blocks, ((0, 0), (1, 1), (1, 1), (1, 1)))
    chi = np.zeros(len(blocks), np.int64)
    for spans in itertools.product((0, 1), repeat=3):  # 1 = the cell extends along that axis
        cells = padded
        for axis, span in enumerate(spans, start=1):
            if not span:  # lattice points between voxel i-1 and i on this axis
                a = np.take(cells, np.arange(cells.shape[axis] - 1), axis=axis)
                b = np.take(cells, np.arange(1, cells.shape[axis]), axis=axis)
                cells = a | b
        dim = sum(spans)
        chi += (-1) ** dim * cells.reshape(len(blocks), -1).sum(1)
    return chi


def _brute_simple(nb: np.ndarray, nd: int) -> np.ndarray:
    """x is simple iff deleting it from the padded 3x3(x3) block keeps fg/bg component counts (and chi in 3D)."""
    n = len(nb)
    before = np.zeros((n,) + (5,) * nd, bool)
    centre = (slice(None),) + (slice(1, 4),) * nd
    cube = np.insert(nb, len(nb[0]) // 2, True, axis=1).reshape((n,) + (3,) * nd)
    before[centre] = cube
    after = before.copy()
    after[(slice(None),) + (2,) * nd] = False
    fg_conn = nd  # 8 in 2D, 26 in 3D
    same = (_n_components(before, fg_conn) == _n_components(after, fg_conn)) & (
        _n_components(~before, 1) == _n_components(~after, 1)
    )
    if nd == 3:
        same &= _euler_26(before) == _euler_26(after)
    return same


# -------------------------------------------------------------------- 2D ---
def test_simple_lut_2d_matches_brute_force():
    codes = np.arange(256, dtype=np.uint8)
    nb = np.unpackbits(codes[:, None], axis=1, bitorder="little").astype(bool)
    expected = _brute_simple(nb, 2)
    lut = sp.simple_lut_2d()
    assert lut.shape == (256,) and lut.dtype == bool
    np.testing.assert_array_equal(lut, expected)
    assert not lut[0] and not lut[255]  # isolated and interior points


def test_deletable_lut_2d_excludes_endpoints():
    lut, simple = sp.deletable_lut_2d(), sp.simple_lut_2d()
    for k in range(8):
        assert simple[1 << k] and not lut[1 << k]
    ones = np.array([bin(c).count("1") for c in range(256)])
    np.testing.assert_array_equal(lut, simple & (ones != 1))


def test_neighbour_code_bit_order():
    rng = np.random.default_rng(1)
    mask = rng.random((7, 9)) < 0.5
    codes = sp.neighbour_codes_2d(mask)
    assert codes.dtype == np.uint8
    padded = np.pad(mask, 1)
    for k, (dy, dx) in enumerate(sp.OFFSETS_2D):
        bit = (codes >> k) & 1
        np.testing.assert_array_equal(bit.astype(bool), padded[1 + dy : 8 + dy, 1 + dx : 10 + dx])
    vol = rng.random((4, 5, 6)) < 0.5
    codes3 = sp.neighbour_codes_3d(vol)
    pv = np.pad(vol, 1)
    for k, (dz, dy, dx) in enumerate(sp.OFFSETS_3D):
        np.testing.assert_array_equal(((codes3 >> k) & 1).astype(bool), pv[1 + dz : 5 + dz, 1 + dy : 6 + dy, 1 + dx : 7 + dx])
    assert list(sp.OFFSETS_2D[[0, 1, 7]].tolist()) == [[-1, -1], [-1, 0], [1, 1]]


# -------------------------------------------------------------------- 3D ---
def test_own_euler_matches_skimage():
    rng = np.random.default_rng(2)
    blocks = rng.random((150, 4, 5, 3)) < rng.uniform(0.1, 0.9, (150, 1, 1, 1))
    ours = _euler_26(blocks)
    ref = [euler_number(np.pad(b, 1), connectivity=3) for b in blocks]
    np.testing.assert_array_equal(ours, ref)


def test_is_simple_3d_matches_brute_force_random():
    rng = np.random.default_rng(3)
    n = 20_000
    density = rng.uniform(0.03, 0.97, (n, 1))
    nb = rng.random((n, 26)) < density
    got = sp.is_simple_3d(nb)
    expected = _brute_simple(nb, 3)
    assert 0.1 < expected.mean() < 0.9  # the sample exercises both answers
    np.testing.assert_array_equal(got, expected)
    # the flood itself, bypassing the memo table
    np.testing.assert_array_equal(sp._simple_from_codes(sp.pack_codes(nb).astype(np.int32)), expected)


def test_is_simple_3d_known_configurations():
    nb = np.zeros((5, 26), bool)
    nb[1] = True  # interior point
    nb[2, 0] = True  # endpoint (corner neighbour only)
    nb[3, [4, 21]] = True  # two opposite face neighbours: a curve point
    nb[4, :] = True
    nb[4, 12] = False  # full but one face neighbour missing: a surface dent
    np.testing.assert_array_equal(sp.is_simple_3d(nb), [False, False, True, False, True])
    with pytest.raises(ValueError):
        sp.is_simple_3d(np.zeros((3, 8), bool))


def test_classify_codes_memoised_and_consistent():
    rng = np.random.default_rng(4)
    codes = rng.integers(0, 1 << 26, 3000)
    first = sp.classify_codes_3d(codes)
    np.testing.assert_array_equal(sp.classify_codes_3d(codes), first)
    ends = np.bitwise_count(codes) == 1
    assert set(np.unique(first[ends])) <= {sp.SIMPLE_ENDPOINT}
    assert not (first[~ends] == sp.SIMPLE_ENDPOINT).any()


def test_torch_flood_matches_numpy_table():
    """The table-free torch path (used on GPUs) agrees with the memoised numpy path."""
    rng = np.random.default_rng(5)
    codes = (rng.random((4000, 26)) < rng.uniform(0.1, 0.9, (4000, 1)))
    packed = sp.pack_codes(codes).astype(np.int64)
    got = sp._deletable_torch_3d(torch.from_numpy(packed)).numpy()
    np.testing.assert_array_equal(got, sp.classify_codes_3d(packed) == sp.DELETABLE)


# ----------------------------------------------------------------- torch ---
@pytest.mark.parametrize("shape", [(3, 1, 17, 23), (2, 1, 9, 11, 10)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bool])
def test_torch_removable_matches_numpy(shape, dtype):
    rng = np.random.default_rng(6)
    masks = rng.random(shape) < rng.uniform(0.3, 0.8, (shape[0],) + (1,) * (len(shape) - 1))
    x = torch.from_numpy(masks).to(dtype)
    got = sp.removable(x)
    assert got.shape == x.shape and got.dtype == torch.bool and got.device == x.device
    for b in range(shape[0]):
        np.testing.assert_array_equal(got[b, 0].numpy(), sp.removable_points(masks[b, 0]))


def test_removable_points_definition():
    img = np.zeros((5, 7), bool)
    img[2, 1:6] = True  # a line: ends are endpoints, middle pixels are not simple
    assert not sp.removable_points(img).any()
    img[1, 3] = True  # a bump on the line is simple
    assert sp.removable_points(img)[1, 3]


@pytest.mark.parametrize("shape", [(6, 7), (4, 5, 6)])
def test_subfield_masks_partition_non_adjacent(shape):
    masks = sp.subfield_masks(shape, "cpu")
    assert len(masks) == 2 ** len(shape)
    stack = torch.stack(masks).numpy()
    np.testing.assert_array_equal(stack.sum(0), 1)
    full = np.ones((3,) * len(shape), bool)
    full[(1,) * len(shape)] = False
    for m in stack:  # no pixel has a neighbour in its own subfield
        assert not (m & ndimage.binary_dilation(m, structure=full)).any()


@pytest.mark.parametrize("nd", [2, 3])
def test_p_simple_matches_definition(nd):
    # x is P-simple iff x stays simple whatever subset of its P-neighbours is deleted first
    rng = np.random.default_rng(nd)
    n_bits = 8 if nd == 2 else 26
    codes, p_codes, want = [], [], []
    for _ in range(150 if nd == 3 else 400):
        code = int(rng.integers(0, 1 << n_bits)) & int(rng.integers(0, 1 << n_bits))
        p = code & int(rng.integers(0, 1 << n_bits)) & int(rng.integers(0, 1 << n_bits))
        bits = [b for b in range(n_bits) if p >> b & 1]
        subsets = [code & ~sum(1 << b for b in sub) for r in range(len(bits) + 1) for sub in itertools.combinations(bits, r)]
        nb = np.array([[c >> b & 1 for b in range(n_bits)] for c in subsets], bool)
        simple = sp.simple_lut_2d()[sp.pack_codes(nb)] if nd == 2 else sp.is_simple_3d(nb)
        codes.append(code)
        p_codes.append(p)
        want.append(bool(simple.all()) and len(bits) <= 8)
    got = sp.p_simple(np.array(codes), np.array(p_codes), nd)
    np.testing.assert_array_equal(got, want)
    assert 0 < np.mean(want) < 1  # both answers occur


def test_compiled_3d_classification_equals_the_numpy_flood_fill():
    if sp._thinc is None:
        pytest.skip("compiled kernel not built")
    codes = np.random.default_rng(7).integers(0, 1 << 26, 50000).astype(np.int64)
    flood = sp._simple_from_codes(codes)
    ends = np.bitwise_count(codes) == 1
    want = np.where(flood, np.where(ends, sp.SIMPLE_ENDPOINT, sp.DELETABLE), sp.NOT_SIMPLE)
    sp.clear_cache_3d()
    np.testing.assert_array_equal(sp.classify_codes_3d(codes), want)


def test_device_memo_table_matches_the_numpy_classification():
    """The 3D memo table kept on an accelerator (run here on the CPU) classifies as the numpy one."""
    codes = np.random.default_rng(8).integers(0, 1 << 26, 20000)
    got = sp.classify_torch_3d(torch.from_numpy(codes)).numpy()
    np.testing.assert_array_equal(got, sp.classify_codes_3d(codes))
    np.testing.assert_array_equal(sp.classify_torch_3d(torch.from_numpy(codes)).numpy(), got)  # now from the table
