"""Hausdorff distances between foreground point sets, with voxel spacing.

Distances come from one Euclidean distance transform per direction
(O(number of pixels)), not from all point pairs.
Empty sets: the distance is 0 when both sets are empty and ``inf`` when
exactly one is.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..errors import SkelkitError
from .._compat import renamed
from ._common import binary_pair


def _spacing(spacing, ndim: int) -> tuple[float, ...]:
    if spacing is None:
        return (1.0,) * ndim
    sp = np.atleast_1d(np.asarray(spacing, dtype=float))
    if sp.size == 1:
        sp = np.repeat(sp, ndim)
    if sp.size != ndim or not np.all(np.isfinite(sp)) or np.any(sp <= 0):
        raise SkelkitError(f"spacing must be {ndim} positive numbers (one per axis), got {tuple(sp)}")
    return tuple(float(s) for s in sp)


@renamed(a="pred", b="ref")
def directed_distances(pred, ref, spacing=None) -> np.ndarray:
    """Distance from every foreground point of ``pred`` to the nearest foreground point of ``ref``.

    Parameters
    ----------
    pred, ref : array_like of bool, shape (H, W) or (D, H, W)
    spacing : float or sequence of float, optional
        Physical size of a pixel along each axis (array axis order).

    Returns
    -------
    d : ndarray of float64, shape (count of pred,)
        ``inf`` everywhere when ``ref`` is empty.
    """
    pred, ref = binary_pair(pred, ref)
    sp = _spacing(spacing, pred.ndim)
    if not ref.any():
        return np.full(np.count_nonzero(pred), np.inf)
    return ndimage.distance_transform_edt(~ref, sampling=sp)[pred]


def _both(pred, ref, spacing):
    da, db = directed_distances(pred, ref, spacing), directed_distances(ref, pred, spacing)
    if da.size == 0 and db.size == 0:
        return None
    if da.size == 0 or db.size == 0:
        return np.inf
    return da, db


@renamed(a="pred", b="ref")
def hausdorff(pred, ref, spacing=None) -> float:
    """Symmetric Hausdorff distance between the foreground pixels of ``pred`` and ``ref``.

    Parameters
    ----------
    pred, ref : array_like of bool, shape (H, W) or (D, H, W)
    spacing : float or sequence of float, optional
        Pixel size per axis (e.g. ``(dz, dy, dx)``); default 1.

    Returns
    -------
    hd : float
        ``max(max_p d(p, ref), max_r d(r, pred))`` in spacing units; 0 if both
        are empty, ``inf`` if exactly one is.
    """
    d = _both(pred, ref, spacing)
    if d is None or np.isscalar(d):
        return 0.0 if d is None else float(d)
    return float(max(d[0].max(), d[1].max()))


@renamed(a="pred", b="ref")
def hd95(pred, ref, spacing=None) -> float:
    """95th-percentile Hausdorff distance: the larger of the two directed 95th percentiles.

    Less sensitive to a few outliers than :func:`hausdorff` and never larger.
    Same arguments, units and empty-set rules as :func:`hausdorff`.

    Returns
    -------
    hd95 : float
    """
    d = _both(pred, ref, spacing)
    if d is None or np.isscalar(d):
        return 0.0 if d is None else float(d)
    return float(max(np.percentile(d[0], 95), np.percentile(d[1], 95)))
