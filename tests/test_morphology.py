"""Torch morphology against scipy's grey-level morphology (an independent implementation)."""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage

from skelkit.core.morphology import dilate_square, erode_cross

shapes = st.sampled_from([(1,), (1, 7), (5, 1), (4, 6), (1, 1, 5), (3, 4, 5), (2, 1, 6)])


@st.composite
def maps(draw):
    shape = draw(shapes)
    if len(shape) == 1:
        shape = (shape[0], 3)
    return draw(arrays(np.float32, shape, elements=st.floats(0, 1, width=32)))


@settings(max_examples=80, deadline=None)
@given(maps())
def test_erode_and_dilate_match_scipy(a):
    x = torch.from_numpy(a)[None, None]
    xg = x.clone().requires_grad_(True)  # the pooling path, used when autograd records
    cross = ndimage.generate_binary_structure(a.ndim, 1)
    # outside the image never wins: +inf padding for erosion, -inf for dilation
    want_e = ndimage.grey_erosion(a, footprint=cross, mode="constant", cval=np.inf)
    want_d = ndimage.grey_dilation(a, size=(3,) * a.ndim, mode="constant", cval=-np.inf)
    np.testing.assert_array_equal(erode_cross(x)[0, 0].numpy(), want_e)
    np.testing.assert_array_equal(dilate_square(x)[0, 0].numpy(), want_d)
    np.testing.assert_array_equal(erode_cross(xg)[0, 0].detach().numpy(), want_e)
    np.testing.assert_array_equal(dilate_square(xg)[0, 0].detach().numpy(), want_d)


def test_gradients_are_subgradients():
    x = torch.rand(2, 1, 9, 8, dtype=torch.float64, requires_grad=True)
    erode_cross(x).sum().backward()
    # each output takes its gradient from one of its inputs (ties may split it): total preserved
    assert torch.isclose(x.grad.sum(), torch.tensor(2 * 9 * 8.0, dtype=torch.float64))
    assert (x.grad >= 0).all()
    y = torch.rand(1, 1, 4, 5, 6, requires_grad=True)
    g = torch.autograd.grad(dilate_square(y)[0, 0, 2, 2, 3], y)[0]
    assert g.sum() == 1 and g[0, 0, 1:4, 1:4, 2:5].sum() == 1  # from inside the 3x3x3 window
