"""Augmentations of binary masks for skeletonizer training.

* :func:`thicken` -- dilation by a few pixels: the same structure at many widths.
* :func:`jagged` -- down- then up-sampling with re-binarisation: rough boundaries.
* :func:`random_crop` -- a crop that contains part of a given target (the skeleton).
* :func:`augment` -- a random combination of the above plus flips/transposes.

All functions take and return numpy bool arrays of 2 or 3 dimensions and draw
randomness only from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..errors import SkelkitError


def thicken(mask: np.ndarray, level: int) -> np.ndarray:
    """Dilate ``level`` times, alternating cross and square elements (rounder than either).

    Parameters
    ----------
    mask : ndarray of bool, shape (H, W) or (D, H, W)
    level : int
        Number of dilation steps (0 returns a copy). Each step widens tubes by
        about 2 pixels.

    Returns
    -------
    thick : ndarray of bool, same shape
    """
    out = np.array(mask, bool)
    cross = ndimage.generate_binary_structure(out.ndim, 1)
    square = np.ones((3,) * out.ndim, bool)
    for i in range(int(level)):
        out = ndimage.binary_dilation(out, cross if i % 2 == 0 else square)
    return out


def jagged(mask: np.ndarray, factor: float, threshold: float = 0.5) -> np.ndarray:
    """Down-sample by ``factor`` (linear), up-sample back (linear) and re-binarise.

    Parameters
    ----------
    mask : ndarray of bool, shape (H, W) or (D, H, W)
    factor : float
        Down-sampling factor (> 1); larger gives rougher, more blocky boundaries.
    threshold : float
        Re-binarisation level in (0, 1); below 0.5 thickens, above thins.

    Returns
    -------
    rough : ndarray of bool, same shape as ``mask``
    """
    if factor <= 1:
        raise SkelkitError(f"jagged factor must be > 1, got {factor}")
    small = ndimage.zoom(mask.astype(np.float32), 1.0 / factor, order=1, grid_mode=True, mode="grid-constant")
    zoom = [n / s for n, s in zip(mask.shape, small.shape)]
    back = ndimage.zoom(small, zoom, order=1, grid_mode=True, mode="nearest")
    back = back[tuple(slice(0, n) for n in mask.shape)]
    if back.shape != mask.shape:  # zoom may round one short; pad by edge values
        back = np.pad(back, [(0, n - b) for n, b in zip(mask.shape, back.shape)], mode="edge")
    return back > threshold


def crop_origin(target: np.ndarray, size, rng: np.random.Generator) -> tuple[int, ...]:
    """Origin of a ``size`` crop whose centre region contains a random ``target`` pixel.

    Falls back to a uniformly random crop when ``target`` is empty.
    """
    size = tuple(int(s) for s in size)
    if any(s > n for s, n in zip(size, target.shape)):
        raise SkelkitError(f"crop {size} is larger than the image {target.shape}")
    hi = np.array(target.shape) - np.array(size)
    pts = np.flatnonzero(target)
    if len(pts) == 0:
        return tuple(int(rng.integers(0, h + 1)) for h in hi)
    p = np.array(np.unravel_index(pts[rng.integers(len(pts))], target.shape))
    jitter = rng.integers(-np.array(size) // 4, np.array(size) // 4 + 1)
    return tuple(int(v) for v in np.clip(p - np.array(size) // 2 + jitter, 0, hi))


def random_crop(target: np.ndarray, size, rng: np.random.Generator, *arrays):
    """Crop ``target`` and ``arrays`` (same shape) at an origin from :func:`crop_origin`.

    Returns
    -------
    crops : tuple of ndarray
        ``(target_crop, *array_crops)``.
    """
    o = crop_origin(target, size, rng)
    sl = tuple(slice(a, a + s) for a, s in zip(o, size))
    return (target[sl],) + tuple(a[sl] for a in arrays)


def flip_transpose(arrays, rng: np.random.Generator):
    """Apply one random axis permutation and random flips to every array (same for all).

    The permutation is dropped when it would change the shape (non-cubic arrays).
    """
    nd = arrays[0].ndim
    perm = rng.permutation(nd)
    if any(arrays[0].shape[p] != arrays[0].shape[i] for i, p in enumerate(perm)):
        perm = np.arange(nd)
    flips = tuple(ax for ax in range(nd) if rng.random() < 0.5)
    return [np.ascontiguousarray(np.flip(np.transpose(a, perm), flips) if flips else np.transpose(a, perm)) for a in arrays]


def augment(mask: np.ndarray, rng: np.random.Generator, *, max_thicken: int = 3, p_jagged: float = 0.5) -> np.ndarray:
    """Random thickening, roughening and flips of a mask.

    Parameters
    ----------
    mask : ndarray of bool, shape (H, W) or (D, H, W)
    rng : numpy.random.Generator
    max_thicken : int
        Thickening level is drawn from ``0..max_thicken``.
    p_jagged : float
        Probability of the down/up-sampling step.

    Returns
    -------
    out : ndarray of bool, same shape
    """
    out = thicken(mask, int(rng.integers(0, max_thicken + 1)))
    if rng.random() < p_jagged:
        out = jagged(out, float(rng.uniform(1.5, 3.0)), float(rng.uniform(0.35, 0.6))) | (mask & (rng.random() < 0.5))
    return flip_transpose([out], rng)[0]
