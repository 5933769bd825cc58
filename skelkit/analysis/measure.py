"""Branch measurements in physical units: length, end-to-end distance, tortuosity, radius.

Lengths. A digital path steps by 1 or sqrt(2) (sqrt(3) in 3D) pixels, so its
pixel-path length over-estimates the length of an oblique or curved
centreline (a line at 22.5 degrees by 8%, a circle by about 5%). ``length``
therefore measures the path after smoothing its coordinates with a Gaussian
of :data:`SMOOTH_SIGMA` pixels along the path (ends held in place by odd
reflection, loops wrapped), which removes the staircase and keeps straight
runs exact; ``pixel_length`` is the plain sum of steps (what skan reports).
Both use the pixel spacing. The smoothing rounds sharp corners a little (a
right angle loses about 1.2 pixels), which skeletons of smooth structures
rarely have. With a sigma of 2 the lengths of rasterised rods, circles, L and
Y shapes in 2D and 3D, anisotropic spacing included, are within 2% of the
true lengths (``tests/test_analysis.py``); a sigma of 1 leaves up to 6%.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..errors import SkelkitError

#: Smoothing of branch paths before measuring ``length`` (pixels along the path).
SMOOTH_SIGMA = 2.0


def check_spacing(spacing, ndim: int) -> np.ndarray:
    """Pixel size per axis as a float array of length ``ndim`` (one number is used for every axis)."""
    if spacing is None:
        return np.ones(ndim)
    sp = np.atleast_1d(np.asarray(spacing, dtype=float))
    if sp.size == 1:
        sp = np.repeat(sp, ndim)
    if sp.size != ndim or not np.all(np.isfinite(sp)) or np.any(sp <= 0):
        raise SkelkitError(f"spacing must be {ndim} positive numbers (one per axis) or one number, got {tuple(sp)}")
    return sp


def pixel_length(path: np.ndarray, spacing: np.ndarray) -> float:
    """Sum of the steps of a path of pixel coordinates (n, ndim), in physical units."""
    if len(path) < 2:
        return 0.0
    return float(np.linalg.norm(np.diff(path, axis=0) * spacing, axis=1).sum())


def smooth_path(path: np.ndarray, closed: bool = False, sigma: float = SMOOTH_SIGMA) -> np.ndarray:
    """Path coordinates smoothed along the path (Gaussian, ``sigma`` steps); the ends stay where they are."""
    n = len(path)
    if n < 3 or sigma <= 0:
        return path.astype(float)
    if closed:
        core = path[:-1].astype(float)  # the last point repeats the first
        out = ndimage.gaussian_filter1d(core, sigma, axis=0, mode="wrap")
        return np.concatenate([out, out[:1]])
    k = min(n - 1, int(np.ceil(4 * sigma)))
    p = path.astype(float)
    # odd reflection about each end: a straight run stays straight and the end stays put
    head = 2 * p[0] - p[1:k + 1][::-1]
    tail = 2 * p[-1] - p[-k - 1:-1][::-1]
    out = ndimage.gaussian_filter1d(np.concatenate([head, p, tail]), sigma, axis=0, mode="nearest")[k:k + n]
    out[0], out[-1] = p[0], p[-1]
    return out


def branch_length(path: np.ndarray, spacing: np.ndarray, closed: bool = False) -> float:
    """Length of a branch's centreline in physical units (smoothed path, see the module docstring)."""
    return pixel_length(smooth_path(path, closed), spacing)


def radius_field(mask, spacing) -> np.ndarray:
    """Distance of each foreground pixel of ``mask`` to the background, in physical units (0 outside).

    Pixels outside the image count as background, so a vessel cut by the
    image border gets a radius no larger than its distance to the border.
    """
    m = np.pad(np.asarray(mask) != 0, 1)
    inner = (slice(1, -1),) * m.ndim
    return ndimage.distance_transform_edt(m, sampling=spacing)[inner]
