"""Betti numbers and Betti errors of binary images and volumes.

Conventions: 2D uses 8-connected foreground / 4-connected background; 3D uses
26-connected foreground / 6-connected background. The image is padded with
background, so shapes touching the border are closed by it.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.measure import euler_number

from ..validate import as_binary
from .._compat import renamed
from ._common import binary_pair

_FULL = {2: np.ones((3, 3), bool), 3: np.ones((3, 3, 3), bool)}


def betti_numbers(image) -> tuple[int, ...]:
    """Betti numbers of a binary image.

    Parameters
    ----------
    image : array_like of bool, shape (H, W) or (D, H, W)

    Returns
    -------
    betti : tuple of int
        2D: ``(b0, b1)``: components and holes. 3D: ``(b0, b1, b2)``:
        components, tunnels and cavities.
    """
    mask = as_binary(image)
    nd = mask.ndim
    b0 = ndimage.label(mask, structure=_FULL[nd])[1]
    padded = np.pad(~mask, 1, constant_values=True)
    n_bg = ndimage.label(padded, structure=ndimage.generate_binary_structure(nd, 1))[1]
    if nd == 2:
        return (b0, n_bg - 1)
    b2 = n_bg - 1
    chi = euler_number(np.pad(mask, 1), connectivity=3)
    return (b0, b0 + b2 - chi, b2)


def betti_errors(pred, ref) -> tuple[int, ...]:
    """Absolute differences of Betti numbers, ``|b_i(pred) - b_i(ref)|`` per dimension."""
    return tuple(abs(a - b) for a, b in zip(betti_numbers(pred), betti_numbers(ref)))


@renamed(output="pred", reference="ref")
def split_gaps(pred, ref) -> np.ndarray:
    """Pixels of ``ref`` missing from ``pred`` that join pieces of ``pred``.

    The missing pixels ``ref & ~pred`` form connected pieces; a piece
    that touches two or more components of ``pred`` is a gap where
    ``pred`` split something ``ref`` holds together. Putting such a
    piece back merges those components. This locates the ``b0`` errors of a
    skeleton against a reference skeleton (e.g. a learned skeleton against
    its teacher's).

    Parameters
    ----------
    pred : array_like of bool, shape (H, W) or (D, H, W)
    ref : array_like of bool, same shape

    Returns
    -------
    gaps : ndarray of bool, same shape
        The union of those pieces. Adjacency is 8- (2D) or 26- (3D)
        connectivity.
    """
    pred, ref = binary_pair(pred, ref)
    return _split_gaps(pred, ref, *_label(pred))


@renamed(output="pred", reference="ref")
def stray_components(pred, ref) -> np.ndarray:
    """Components of ``pred`` that hold no pixel of ``ref``.

    Pieces a skeleton keeps where the reference skeleton has nothing: each
    adds a ``b0`` error that no gap explains (see :func:`split_gaps`).

    Parameters
    ----------
    pred, ref : array_like of bool, shape (H, W) or (D, H, W)

    Returns
    -------
    stray : ndarray of bool, same shape
        The union of those components (8- / 26-connectivity).
    """
    pred, ref = binary_pair(pred, ref)
    return _stray_components(ref, *_label(pred))


@renamed(output="pred", reference="ref")
def component_errors(pred, ref) -> tuple[np.ndarray, np.ndarray]:
    """``(split_gaps(pred, ref), stray_components(pred, ref))``, labelling ``pred`` once."""
    pred, ref = binary_pair(pred, ref)
    labels, n = _label(pred)
    return _split_gaps(pred, ref, labels, n), _stray_components(ref, labels, n)


def _label(output: np.ndarray) -> tuple[np.ndarray, int]:
    return ndimage.label(output, structure=_FULL[output.ndim])


def _split_gaps(output, reference, labels, n) -> np.ndarray:
    foot = _FULL[output.ndim]
    pieces, n_pieces = ndimage.label(reference & ~output, structure=foot)
    if n < 2 or n_pieces == 0:
        return np.zeros(output.shape, bool)
    # per pixel, the largest and smallest adjacent output label; per piece, their extremes
    hi = ndimage.maximum_filter(labels, footprint=foot, mode="constant", cval=0)
    lo = ndimage.minimum_filter(np.where(labels > 0, labels, n + 1), footprint=foot, mode="constant", cval=n + 1)
    idx = np.arange(1, n_pieces + 1)
    p_hi = np.asarray(ndimage.maximum(hi, pieces, idx))
    p_lo = np.asarray(ndimage.minimum(lo, pieces, idx))
    bridging = np.concatenate([[False], (p_hi > 0) & (p_lo <= n) & (p_lo < p_hi)])
    return bridging[pieces]


def _stray_components(reference, labels, n) -> np.ndarray:
    hit = np.zeros(n + 1, bool)
    hit[np.unique(labels[reference])] = True
    hit[0] = True
    return ~hit[labels]
