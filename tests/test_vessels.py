"""Grey-level vessel renderer: dtype/range, determinism, contrast, 3D, bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skelkit.data.vessels import render_vessels
from skelkit.errors import SkelkitError


def _two_branches(shape=(48, 48)):
    m = np.zeros(shape, bool)
    m[10:16, 4:44] = True  # thick horizontal vessel
    m[16:44, 30:32] = True  # thin vertical branch off it
    return m


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), h=st.integers(16, 56), w=st.integers(16, 56))
def test_output_types_and_range(seed, h, w):
    img, mask = render_vessels((h, w), np.random.default_rng(seed))
    assert img.dtype == np.float32 and img.shape == (h, w)
    assert mask.dtype == bool and mask.shape == (h, w)
    assert np.isfinite(img).all() and img.min() >= 0 and img.max() <= 1


def test_deterministic_per_seed():
    a = render_vessels((48, 48), np.random.default_rng(7))
    b = render_vessels((48, 48), np.random.default_rng(7))
    c = render_vessels((48, 48), np.random.default_rng(8))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])
    np.testing.assert_array_equal(render_vessels((32, 32), 3)[0], render_vessels((32, 32), 3)[0])


def test_vessels_brighter_than_background():
    imgs = [render_vessels((64, 64), np.random.default_rng(s)) for s in range(4)]
    for img, mask in imgs:
        if mask.any() and (~mask).any():
            assert img[mask].mean() > img[~mask].mean() + 0.05


def test_contrast_varies_per_branch_and_thin_branches_fade():
    mask = _two_branches()
    clean = dict(blur=(0, 0), noise=(0, 0), texture=(0, 0), inhomogeneity=0.0, background=(0.2, 0.2))
    faint = dict(clean, contrast=(0.5, 0.5), faint_width=3.0, faint_prob=1.0, faint_factor=(0.2, 0.2))
    img, out = render_vessels(mask.shape, 0, mask=mask, **faint)
    np.testing.assert_array_equal(out, mask)
    assert np.allclose(img[~mask], 0.2)
    thick, thin = img[12, 10], img[35, 30:32].max()
    assert thick > 0.2 + 0.4  # full contrast at the centre line
    assert 0.2 < thin < 0.2 + 0.5 * 0.2 + 1e-6  # faint branch: factor 0.2
    levels = render_vessels(mask.shape, 1, mask=mask, **dict(clean, faint_prob=0.0))[0]
    assert not np.isclose(levels[12, 10], levels[35, 30:32].max(), atol=1e-3)


def test_empty_mask_renders_background():
    img, mask = render_vessels((32, 32), 0, mask=np.zeros((32, 32), bool), noise=(0, 0))
    assert not mask.any()
    assert img.std() < 0.2


def test_3d():
    img, mask = render_vessels((20, 24, 24), np.random.default_rng(0))
    assert img.shape == mask.shape == (20, 24, 24)
    assert img.dtype == np.float32 and 0 <= img.min() and img.max() <= 1
    if mask.any():
        assert img[mask].mean() > img[~mask].mean()


@pytest.mark.parametrize(
    "shape, kwargs, match",
    [
        ((32,), {}, "dimensions"),
        ((4, 32), {}, "too small"),
        ((32, 32), dict(mask=np.zeros((16, 16), bool)), "mask has shape"),
        ((32, 32), dict(bogus=1), "unknown synth_mask option"),
    ],
)
def test_bad_input(shape, kwargs, match):
    with pytest.raises(SkelkitError, match=match):
        render_vessels(shape, 0, **kwargs)
