import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skelkit.core.blocks import break_blocks, full_block_pixels
from skelkit.core.simple import neighbour_codes_2d, simple_lut_2d
from skelkit.errors import SkelkitError
from skelkit.metrics import betti_numbers
from skelkit.metrics.thinness import full_blocks

images = st.tuples(st.integers(2, 14), st.integers(2, 14), st.floats(0.3, 0.9), st.integers(0, 2**31 - 1))


def _draw(h, w, density, seed):
    rng = np.random.default_rng(seed)
    return rng.random((h, w)) < density, rng.random((h, w))


@settings(max_examples=200, deadline=None)
@given(images)
def test_break_blocks_keeps_topology_and_leaves_only_needed_blocks(params):
    img, pri = _draw(*params)
    out = break_blocks(img, pri)
    assert not (out & ~img).any()  # a subset
    assert betti_numbers(out) == betti_numbers(img)
    # a block that remains has no pixel whose deletion keeps the topology
    left = full_block_pixels(out)
    assert not (simple_lut_2d()[neighbour_codes_2d(out)] & left).any()
    assert np.array_equal(break_blocks(out, pri), out)  # idempotent
    # only block pixels are removed
    assert not ((img & ~out) & ~full_block_pixels(img)).any()


def test_lower_priority_goes_first():
    band = np.zeros((4, 12), bool)
    band[1:3, 1:11] = True  # a two-pixel-wide line: 9 full blocks
    pri = np.zeros(band.shape)
    pri[1] = 1.0  # the top row is the likelier line
    out = break_blocks(band, pri)
    assert full_blocks(out) == 0 and out[1, 1:11].all() and not out[2, 2:10].any()
    pri[1], pri[2] = 0.0, 1.0
    assert break_blocks(band, pri)[2, 1:11].all()


def test_bad_arguments():
    with pytest.raises(SkelkitError, match="2D"):
        break_blocks(np.ones((2, 2, 2), bool))
    with pytest.raises(SkelkitError, match="priority shape"):
        break_blocks(np.ones((3, 3), bool), np.ones((2, 3)))
