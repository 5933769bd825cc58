"""Random Bezier-curve structures: synthetic tubular masks in 2D and 3D.

Each mask is the union of tubes around random cubic Bezier curves whose
radius varies along the curve. Some curves branch off earlier ones, some are
closed loops (so holes, b1 > 0, occur), curves cross each other and leave the
image. Everything is drawn from one ``numpy.random.Generator``, so a seed
reproduces the mask exactly.

The tubes are rendered by radius class: the centre line points of one
(quantised) radius are rasterised and thresholded with one Euclidean distance
transform, which keeps rendering cheap.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..errors import SkelkitError

#: Default options of :func:`synth_mask`, per dimensionality.
DEFAULTS = {
    2: dict(n_curves=(3, 7), radius=(0.5, 4.5), p_branch=0.4, n_loops=(0, 2), loop_size=(0.08, 0.25), margin=0.15, max_hole=8),
    3: dict(n_curves=(3, 6), radius=(0.5, 3.5), p_branch=0.4, n_loops=(0, 2), loop_size=(0.12, 0.3), margin=0.15, max_hole=8),
}
_RADIUS_STEP = 0.5  # radius quantisation of the renderer (pixels)


def bezier(ctrl: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Points of a cubic Bezier curve.

    Parameters
    ----------
    ctrl : ndarray, shape (4, d)
        Control points.
    t : ndarray, shape (n,)
        Curve parameters in [0, 1].

    Returns
    -------
    points : ndarray of float, shape (n, d)
    """
    t = np.asarray(t, float)[:, None]
    s = 1.0 - t
    return s**3 * ctrl[0] + 3 * s**2 * t * ctrl[1] + 3 * s * t**2 * ctrl[2] + t**3 * ctrl[3]


def _sample(ctrl: np.ndarray, spacing: float = 0.5) -> np.ndarray:
    """Points along a Bezier curve about ``spacing`` pixels apart."""
    length = np.linalg.norm(np.diff(ctrl, axis=0), axis=1).sum()  # control polygon bounds the arc length
    n = max(int(np.ceil(length / spacing)), 2)
    return bezier(ctrl, np.linspace(0.0, 1.0, n))


def _radius_profile(rng, n: int, lo: float, hi: float) -> np.ndarray:
    """Smoothly varying radius along ``n`` points: linear interpolation of 2-4 random knots."""
    k = int(rng.integers(2, 5))
    knots = rng.uniform(lo, hi, size=k)
    return np.interp(np.linspace(0, 1, n), np.linspace(0, 1, k), knots)


def _open_curve(rng, shape, margin, start=None) -> np.ndarray:
    """Control points of an open curve; control points may lie outside the image."""
    size = np.asarray(shape, float)
    lo, hi = -margin * size, (1 + margin) * size
    ctrl = rng.uniform(lo, hi, size=(4, len(shape)))
    if start is not None:
        ctrl[0] = start
        # keep branches local-ish: the far end is within half the image of the start
        ctrl[1:] = start + rng.uniform(-0.5, 0.5, size=(3, len(shape))) * size
    return ctrl


def _loop(rng, shape, size_range, r_max) -> list[np.ndarray]:
    """Control points of a closed, smooth loop (a Catmull-Rom ring as cubic Bezier pieces)."""
    size = np.asarray(shape, float)
    dim = len(shape)
    # big enough that the hole survives the tube's thickness
    ring = max(rng.uniform(*size_range) * size.min(), 3 * r_max + 4)
    centre = rng.uniform(0.1, 0.9, size=dim) * size
    if dim == 2:
        u, v = np.eye(2)
    else:
        q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        u, v = q[:, 0], q[:, 1]
    k = int(rng.integers(4, 7))
    ang = np.sort(rng.uniform(0, 2 * np.pi, k) * 0.3 + np.linspace(0, 2 * np.pi, k, endpoint=False))
    rad = ring * rng.uniform(0.75, 1.25, size=k)
    pts = centre + (rad * np.cos(ang))[:, None] * u + (rad * np.sin(ang))[:, None] * v
    tang = (np.roll(pts, -1, 0) - np.roll(pts, 1, 0)) / 6.0
    return [np.stack([pts[i], pts[i] + tang[i], pts[(i + 1) % k] - tang[(i + 1) % k], pts[(i + 1) % k]]) for i in range(k)]


def _render(shape, points: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Union of balls of radius ``radii[i]`` around ``points[i]``, one distance transform per radius class."""
    out = np.zeros(shape, bool)
    idx = np.rint(points).astype(np.int64)
    inside = np.all((idx >= 0) & (idx < np.asarray(shape)), axis=1)
    idx, radii = idx[inside], radii[inside]
    if len(idx) == 0:
        return out
    cls = np.maximum(np.rint(radii / _RADIUS_STEP).astype(int), 1)
    for c in np.unique(cls):
        r = c * _RADIUS_STEP
        sel = idx[cls == c]
        # restrict the transform to the class's bounding box (+ radius) for speed
        pad = int(np.ceil(r)) + 1
        lo = np.maximum(sel.min(0) - pad, 0)
        hi = np.minimum(sel.max(0) + pad + 1, shape)
        box = tuple(slice(a, b) for a, b in zip(lo, hi))
        seeds = np.ones(tuple(hi - lo), bool)
        seeds[tuple((sel - lo).T)] = False
        out[box] |= ndimage.distance_transform_edt(seeds) <= r
    return out


def synth_mask(shape, rng: np.random.Generator, **opts) -> np.ndarray:
    """Random tubular structure made of Bezier curves.

    Parameters
    ----------
    shape : tuple of int
        ``(H, W)`` for 2D or ``(D, H, W)`` for 3D.
    rng : numpy.random.Generator
        Source of randomness; the same seed gives the same mask.
    **opts
        Override :data:`DEFAULTS` for the dimensionality:
        ``n_curves`` (lo, hi) open curves, ``radius`` (lo, hi) tube radius in
        pixels, ``p_branch`` probability that a curve starts on an earlier one,
        ``n_loops`` (lo, hi) closed loops, ``loop_size`` (lo, hi) loop radius as
        a fraction of the smallest side, ``margin`` fraction of the image by
        which control points may lie outside it, ``max_hole`` enclosed
        background components up to this size are filled (renderer artefacts).

    Returns
    -------
    mask : ndarray of bool, shape ``shape``

    Examples
    --------
    >>> import numpy as np
    >>> m = synth_mask((64, 64), np.random.default_rng(0))
    >>> m.shape, m.dtype
    ((64, 64), dtype('bool'))
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (2, 3) or min(shape) < 4:
        raise SkelkitError(f"synth_mask shape must be 2D or 3D with sides >= 4, got {shape}")
    unknown = set(opts) - set(DEFAULTS[len(shape)])
    if unknown:
        raise SkelkitError(f"unknown synth_mask option(s): {', '.join(sorted(unknown))}")
    o = {**DEFAULTS[len(shape)], **opts}
    r_lo, r_hi = o["radius"]
    pts, rad = [], []
    n_open = int(rng.integers(o["n_curves"][0], o["n_curves"][1] + 1))
    for _ in range(n_open):
        start, r_cap = None, r_hi
        if pts and rng.random() < o["p_branch"]:
            parent = int(rng.integers(len(pts)))
            j = int(rng.integers(len(pts[parent])))
            start, r_cap = pts[parent][j], max(rad[parent][j], r_lo)  # branches are no thicker than the parent
        p = _sample(_open_curve(rng, shape, o["margin"], start))
        pts.append(p)
        rad.append(_radius_profile(rng, len(p), r_lo, r_cap))
    n_loops = int(rng.integers(o["n_loops"][0], o["n_loops"][1] + 1))
    for _ in range(n_loops):
        r = rng.uniform(r_lo, r_hi)
        p = np.concatenate([_sample(c) for c in _loop(rng, shape, o["loop_size"], r)])
        pts.append(p)
        rad.append(np.full(len(p), r) * rng.uniform(0.8, 1.0, len(p)).round(1))
    mask = _render(shape, np.concatenate(pts), np.concatenate(rad))
    return _fill_pinholes(mask, o["max_hole"])


def _fill_pinholes(mask: np.ndarray, max_size: int) -> np.ndarray:
    """Fill enclosed background components of at most ``max_size`` pixels.

    Rasterised thin tubes touching each other enclose single-pixel holes that
    are artefacts of the renderer, not loops of the structure.
    """
    if max_size <= 0:
        return mask
    lab, n = ndimage.label(~mask)  # face connectivity, the background's in both 2D and 3D
    if n == 0:
        return mask
    sizes = np.bincount(lab.ravel())
    small = sizes <= max_size
    small[0] = False
    # components touching the border are outside, not holes
    for ax in range(mask.ndim):
        small[np.take(lab, 0, axis=ax)] = False
        small[np.take(lab, -1, axis=ax)] = False
    return mask | small[lab]
