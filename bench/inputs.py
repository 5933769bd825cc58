"""Deterministic benchmark inputs shared by the benchmark scripts.

Every function returns a fresh C-contiguous bool array; the same arguments
always give the same array (no downloads: scikit-image's bundled images only).
"""

from __future__ import annotations

import numpy as np


def _capsule(mask: np.ndarray, a: np.ndarray, b: np.ndarray, ra: float, rb: float) -> None:
    """OR a tapering capsule (segment a-b, radius ra at a to rb at b) into ``mask``."""
    r = max(ra, rb)
    lo = np.maximum(np.floor(np.minimum(a, b) - r), 0).astype(int)
    hi = np.minimum(np.ceil(np.maximum(a, b) + r) + 1, mask.shape).astype(int)
    if np.any(hi <= lo):
        return
    grids = np.meshgrid(*[np.arange(l, h, dtype=np.float32) for l, h in zip(lo, hi)], indexing="ij")
    p = np.stack(grids, -1)
    ab = (b - a).astype(np.float32)
    t = np.clip(((p - a) @ ab) / max(float(ab @ ab), 1e-9), 0, 1)
    dist = np.linalg.norm(p - (a + t[..., None] * ab), axis=-1)
    box = tuple(slice(l, h) for l, h in zip(lo, hi))
    mask[box] |= dist <= ra + t * (rb - ra)


def _turn(rng, v: np.ndarray, angle: float) -> np.ndarray:
    """Rotate unit vector ``v`` by ``angle`` towards a random perpendicular direction."""
    w = rng.normal(size=v.shape)
    w -= (w @ v) * v
    w /= np.linalg.norm(w) + 1e-12
    return np.cos(angle) * v + np.sin(angle) * w


def _tree(shape, seed: int, r0: float, depth: int, roots: int = 1) -> np.ndarray:
    """Branching trees of tapering, gently curving tubes grown inwards from the first face."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(shape, bool)
    size = np.array(shape, float)
    stack = []
    for i in range(roots):
        start = size / 2 if roots == 1 else size * rng.uniform(0.2, 0.8, len(shape))
        start[0] = 0.0
        direction = np.zeros(len(shape))
        direction[0] = 1.0
        stack.append((start, direction, r0 * (1 - 0.15 * i), size.min() * 0.3, 0))
    while stack:
        p, v, r, length, level = stack.pop()
        r_end = max(r * 0.72, 1.0)
        n_pieces = 6
        for i in range(n_pieces):
            v = _turn(rng, v, rng.normal(0, 0.15))
            q = p + v * length / n_pieces
            ra = r + (r_end - r) * i / n_pieces
            rb = r + (r_end - r) * (i + 1) / n_pieces
            _capsule(mask, p, q, ra, rb)
            p = q
        inside = np.all((p >= 0) & (p < size))
        if level < depth and inside:
            for sign in (-1, 1):
                angle = rng.uniform(0.35, 0.7)
                child = _turn(rng, v, angle) if len(shape) == 3 else _rot2(v, sign * angle)
                stack.append((p, child, r_end, length * rng.uniform(0.65, 0.85), level + 1))
    return np.ascontiguousarray(mask)


def _rot2(v: np.ndarray, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([c * v[0] - s * v[1], s * v[0] + c * v[1]])


def vessel_mask_2d(size: int = 512, seed: int = 0) -> np.ndarray:
    """Vessel-like 2D mask: a branching tree of tapering tubes, shape (size, size), bool."""
    return _tree((size, size), seed, r0=size * 0.016, depth=6)


def tube_volume(size: int = 128, seed: int = 0) -> np.ndarray:
    """3D branching tubes (three trees), shape (size, size, size), bool; trunk radius about ``size / 25``."""
    return _tree((size, size, size), seed, r0=size * 0.04, depth=5, roots=3)


def blobs_2d(size: int = 1024, seed: int = 0) -> np.ndarray:
    """``skimage.data.binary_blobs`` (blob size fraction 0.1, half foreground), shape (size, size), bool."""
    from skimage.data import binary_blobs

    return np.ascontiguousarray(binary_blobs(length=size, rng=seed))


def horse() -> np.ndarray:
    """scikit-image's horse silhouette, foreground True, shape (328, 400), bool."""
    from skimage.data import horse as _horse

    return np.ascontiguousarray(~_horse())


def retina_vessel_mask() -> np.ndarray:
    """Vessel mask of scikit-image's retina image (2D bool).

    Uses ``skelkit.data.examples.retina_vessel_mask`` when it exists, else a
    Sato ridge filter on the green channel thresholded at its 88th percentile
    inside the field of view.
    """
    try:
        from skelkit.data.examples import retina_vessel_mask as example
    except ImportError:
        example = None
    if example is not None:
        return np.ascontiguousarray(np.asarray(example(), bool))
    from scipy import ndimage
    from skimage import data, filters, morphology, transform

    green = transform.rescale(data.retina()[..., 1].astype(float) / 255, 0.5, anti_aliasing=True)
    fov = ndimage.binary_erosion(green > 0.1, iterations=8)
    ridges = filters.sato(green, sigmas=(1, 2, 3), black_ridges=True)
    mask = (ridges > np.percentile(ridges[fov], 88)) & fov
    return np.ascontiguousarray(morphology.remove_small_objects(mask, 64))
