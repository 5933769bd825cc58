"""Breaking full 2x2 blocks of a 2D skeleton without changing its topology.

A learned skeleton (the U-Net's thresholded probabilities) is often two pixels
wide in places: full 2x2 blocks, which a one-pixel skeleton does not have.
Thinning the whole output moves pixels off the learned line; this removes only
pixels that sit in a full block, one at a time, lowest priority (probability)
first, and only when the pixel is simple (8-connected foreground,
4-connected background, as :mod:`skelkit.core.simple`), so components and holes
stay as they were.
"""

from __future__ import annotations

import itertools

import numpy as np

from ..errors import SkelkitError
from .simple import OFFSETS_2D, simple_lut_2d

# weight of each 3x3 window position in the 8-neighbour code (bit order of OFFSETS_2D)
_CODE_WEIGHTS = np.zeros((3, 3), np.int64)
for _bit, (_dy, _dx) in enumerate(OFFSETS_2D):
    _CODE_WEIGHTS[_dy + 1, _dx + 1] = 1 << _bit


def full_block_windows(skel: np.ndarray) -> np.ndarray:
    """Where ``skel`` (2D or 3D bool) has a full 2x2 / 2x2x2 block: bool, one shorter per axis, True at
    each block's first corner."""
    a = np.asarray(skel, bool)
    block = np.ones(tuple(max(n - 1, 0) for n in a.shape), bool)
    for corner in itertools.product((0, 1), repeat=a.ndim):
        block &= a[tuple(slice(c, c + n - 1) for c, n in zip(corner, a.shape))]
    return block


def full_block_pixels(skel: np.ndarray) -> np.ndarray:
    """Pixels of ``skel`` (2D or 3D bool) that belong to at least one full block; bool, same shape."""
    a = np.asarray(skel, bool)
    block = full_block_windows(a)
    out = np.zeros_like(a)
    for corner in itertools.product((0, 1), repeat=a.ndim):
        out[tuple(slice(c, c + n - 1) for c, n in zip(corner, a.shape))] |= block
    return out


def break_blocks(skel, priority=None) -> np.ndarray:
    """Remove full 2x2 blocks from a 2D skeleton, keeping its topology.

    Parameters
    ----------
    skel : array_like of bool, shape (H, W)
    priority : array_like of float, shape (H, W), optional
        Pixels with lower values are removed first (e.g. the skeleton
        probability); ties in raster order. Default: raster order.

    Returns
    -------
    out : ndarray of bool, shape (H, W)
        A subset of ``skel`` with the same 8-connected components and
        4-connected holes. A full block remains only where none of its pixels
        is simple (e.g. the 2x2 centre of a crossing whose four arms each touch
        one pixel).
    """
    a = np.array(skel, dtype=bool)
    if a.ndim != 2:
        raise SkelkitError(f"break_blocks takes a 2D skeleton, got shape {a.shape}")
    pri = np.zeros(a.shape, np.float64) if priority is None else np.asarray(priority, np.float64)
    if pri.shape != a.shape:
        raise SkelkitError(f"priority shape {pri.shape} != skeleton shape {a.shape}")
    lut = simple_lut_2d()
    padded = np.pad(a, 1)  # outside the image is background; padded[y + 1, x + 1] is a[y, x]
    while True:
        ys, xs = np.nonzero(full_block_pixels(padded[1:-1, 1:-1]))
        removed = False
        for i in np.argsort(pri[ys, xs], kind="stable"):
            y, x = int(ys[i]), int(xs[i])
            win = padded[y:y + 3, x:x + 3]
            if _in_full_block(win) and lut[int((win * _CODE_WEIGHTS).sum())]:
                padded[y + 1, x + 1] = False
                removed = True
        if not removed:  # every remaining block pixel is needed for the topology
            return padded[1:-1, 1:-1].copy()


def _in_full_block(win: np.ndarray) -> bool:
    """Whether the centre of a 3x3 window is in one of the four 2x2 blocks it touches."""
    return bool(win[0:2, 0:2].all() or win[0:2, 1:3].all() or win[1:3, 0:2].all() or win[1:3, 1:3].all())
