"""The Menten et al. baseline (bench/menten.py): simple points, topology, gradients."""

import importlib.util
import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage

from skelkit.metrics.topology import betti_numbers

_spec = importlib.util.spec_from_file_location(
    "bench_menten", Path(__file__).resolve().parents[1] / "bench" / "menten.py"
)
menten = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(menten)


def _t(a):
    return torch.as_tensor(np.asarray(a, dtype=np.float32))[None, None]


def _simple_oracle(patch):
    """Textbook local test: one fg component among the other neighbours, one bg face-component touching the centre.

    2D: 8-components of N8*, 4-components of background N8 4-adjacent to the
    centre. 3D: 26-components of N26*, 6-components of background N18
    6-adjacent to the centre (Bertrand & Malandain).
    """
    nd = patch.ndim
    centre = (1,) * nd
    fg = patch.copy()
    fg[centre] = False
    if ndimage.label(fg, structure=np.ones((3,) * nd))[1] != 1:
        return False
    dist = np.abs(np.indices((3,) * nd) - 1).sum(0)
    bg = ~patch & (dist > 0) & (dist <= (2 if nd == 3 else 2))
    labels = ndimage.label(bg, structure=ndimage.generate_binary_structure(nd, 1))[0]
    touching = {labels[tuple(np.add(centre, d))] for d in np.vstack([np.eye(nd, dtype=int), -np.eye(nd, dtype=int)])}
    return len(touching - {0}) == 1


def test_simple_points_2d_all_neighbourhoods():
    patches = []
    for bits in itertools.product((False, True), repeat=8):
        p = np.insert(np.array(bits), 4, True).reshape(3, 3)
        patches.append(p)
    patches = np.array(patches)
    ours = menten.simple_points(torch.as_tensor(patches[:, None], dtype=torch.float32))[:, 0, 1, 1].numpy()
    want = np.array([_simple_oracle(p) for p in patches])
    assert want.sum() > 0 and (ours == want).all()


def test_simple_points_3d_random_neighbourhoods():
    rng = np.random.default_rng(0)
    n = 3000
    density = rng.uniform(0.1, 0.9, (n, 1))
    patches = (rng.random((n, 27)) < density).reshape(n, 3, 3, 3)
    patches[:, 1, 1, 1] = True
    ours = menten.simple_points(torch.as_tensor(patches[:, None], dtype=torch.float32))[:, 0, 1, 1, 1].numpy()
    want = np.array([_simple_oracle(p) for p in patches])
    assert 0.1 < want.mean() < 0.9
    assert (ours == want).all()


def test_euler_alone_is_not_enough_in_3d():
    # Ring of four 18-neighbours above the centre plus the opposite corner: chi(A) = 1 but A is disconnected.
    p = np.zeros((3, 3, 3), bool)
    p[1, 1, 1] = True
    for q in [(2, 1, 0), (2, 1, 2), (2, 0, 1), (2, 2, 1), (0, 2, 2)]:
        p[q] = True
    assert not _simple_oracle(p)
    assert not menten.simple_points(_t(p))[0, 0, 1, 1, 1]


def _check_topology(mask, num_iter=None):
    skel = menten.menten_skeletonize(mask, num_iter=num_iter)
    assert skel.shape == mask.shape and skel.dtype == bool
    assert not (skel & ~mask).any()
    assert betti_numbers(skel) == betti_numbers(mask)
    return skel


@settings(max_examples=25, deadline=None)
@given(arrays(bool, (14, 14), elements=st.booleans()))
def test_topology_preserved_2d(mask):
    _check_topology(mask)


@settings(max_examples=12, deadline=None)
@given(arrays(bool, (7, 8, 8), elements=st.booleans()), st.sampled_from([None, 1, 2]))
def test_topology_preserved_3d(mask, num_iter):
    _check_topology(mask, num_iter)


def test_thins_thick_shapes_and_keeps_lines():
    disc = np.hypot(*np.mgrid[-12:13, -12:13]) <= 10
    skel = _check_topology(disc)
    assert 0 < skel.sum() < 0.15 * disc.sum()
    line = np.zeros((5, 20), bool)
    line[2, 2:18] = True
    assert (menten.menten_skeletonize(line) == line).all()  # endpoints kept, nothing simple to remove
    tube = np.zeros((12, 12, 24), bool)
    tube[3:9, 3:9, 2:22] = True
    skel3 = _check_topology(tube)
    assert 0 < skel3.sum() < 0.2 * tube.sum()


def test_num_iter_and_convergence():
    rng = np.random.default_rng(3)
    mask = ndimage.binary_dilation(rng.random((40, 40)) < 0.02, iterations=4)
    one = menten.menten_skeletonize(mask, num_iter=1)
    full = menten.menten_skeletonize(mask)
    assert full.sum() < one.sum() < mask.sum()
    assert (menten.menten_skeletonize(full) == full).all()  # converged output is a fixed point
    assert (menten.menten_skeletonize(mask, num_iter=200) == full).all()


@pytest.mark.parametrize("shape", [(2, 1, 16, 16), (1, 1, 8, 10, 10)])
@pytest.mark.parametrize("stochastic", [False, True])
def test_gradients_flow(shape, stochastic):
    torch.manual_seed(0)
    x = torch.rand(shape, requires_grad=True)
    out = menten.MentenSkeletonize(num_iter=3, stochastic=stochastic)(x)
    assert out.shape == x.shape
    assert set(out.detach().unique().tolist()) <= {0.0, 1.0}
    (out * torch.rand_like(out)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    kept = out.detach() > 0.5
    assert kept.any() and (x.grad[kept] != 0).all()
    assert (x.grad[~kept] == 0).all()


def test_module_matches_hard_thinning_and_rejects_bad_shapes():
    mask = np.zeros((20, 20), bool)
    mask[4:16, 3:17] = True
    out = menten.MentenSkeletonize()(_t(mask))
    assert ((out[0, 0].numpy() > 0.5) == menten.menten_skeletonize(mask)).all()
    with pytest.raises(ValueError, match="expected"):
        menten.MentenSkeletonize()(torch.zeros(4, 4))
