"""Example masks built on the fly from scikit-image's bundled data; nothing is downloaded or cached.

Every function returns a fresh bool array: 2D ``(H, W)`` or 3D ``(D, H, W)``.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["horse_mask", "retina_vessel_mask", "blobs", "tube_volume", "shape_mask", "EXAMPLES"]


def horse_mask() -> np.ndarray:
    """Silhouette of a horse (``skimage.data.horse``), foreground = the horse.

    Returns
    -------
    mask : ndarray of bool, shape (328, 400)
    """
    from skimage import data

    return ~data.horse()


def _remove_small(mask: np.ndarray, min_pixels: int) -> np.ndarray:
    labels, n = ndimage.label(mask, structure=np.ones((3,) * mask.ndim, bool))
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    keep = sizes >= min_pixels
    keep[0] = False
    return keep[labels]


def retina_vessel_mask(size: int = 512) -> np.ndarray:
    """Retinal vessel tree segmented from ``skimage.data.retina`` (a fundus photograph).

    Green channel (best vessel contrast), resized to ``size``; Sato tubeness
    filter for dark ridges at scales 1-3 px [1]_; Otsu threshold inside the
    field of view (eroded so its rim is not taken for a vessel); objects under
    100 px removed.

    Parameters
    ----------
    size : int
        Output side length in pixels.

    Returns
    -------
    mask : ndarray of bool, shape (size, size)

    References
    ----------
    .. [1] Sato, Y., et al. "Three-dimensional multi-scale line filter for
       segmentation and visualization of curvilinear structures in medical
       images", Medical Image Analysis 2(2), 1998.
    """
    from skimage import data, filters, transform

    rgb = data.retina()
    green = transform.resize(rgb[..., 1] / 255.0, (size, size), anti_aliasing=True)
    fov = transform.resize((rgb[..., 0] > 30).astype(float), (size, size)) > 0.5
    fov = ndimage.binary_erosion(fov, iterations=max(1, size // 80))
    ridges = filters.sato(green, sigmas=(1, 2, 3), black_ridges=True)
    thr = filters.threshold_otsu(ridges[fov])
    return _remove_small((ridges > thr) & fov, min_pixels=max(10, (100 * size * size) // 512**2))


def blobs(size: int = 512, seed: int = 0) -> np.ndarray:
    """Random binary blobs (``skimage.data.binary_blobs``): many components and holes.

    Returns
    -------
    mask : ndarray of bool, shape (size, size)
    """
    from skimage.data import binary_blobs

    return binary_blobs(length=size, blob_size_fraction=0.1, volume_fraction=0.5, rng=seed)


def _draw_tube(vol: np.ndarray, points: np.ndarray, radii: np.ndarray) -> None:
    """Set every voxel within ``radii[i]`` of ``points[i]`` (a chain of balls sweeps a tube)."""
    grid_max = np.array(vol.shape) - 1
    for p, r in zip(points, radii):
        lo = np.clip(np.floor(p - r).astype(int), 0, grid_max)
        hi = np.clip(np.ceil(p + r).astype(int), 0, grid_max) + 1
        box = np.ogrid[tuple(slice(a, b) for a, b in zip(lo, hi))]
        d2 = sum((c - pc) ** 2 for c, pc in zip(box, p))
        vol[tuple(slice(a, b) for a, b in zip(lo, hi))] |= d2 <= r * r


def _polyline(a, b, n: int, wiggle: np.ndarray | None = None) -> np.ndarray:
    t = np.linspace(0.0, 1.0, n)[:, None]
    pts = (1 - t) * np.asarray(a, float) + t * np.asarray(b, float)
    if wiggle is not None:  # smooth sideways bend, zero at both ends
        pts += np.sin(np.pi * t) * wiggle
    return pts


def tube_volume(size: int = 64, seed: int = 0) -> np.ndarray:
    """Small synthetic vessel-like volume: a trunk, four tapering branches and one loop.

    A wavy trunk runs along the last axis; a tilted ring (the loop) is
    pierced once by the trunk at mid-length; branches leave the trunk on both
    sides of the ring and lean away from it. The result is one component with
    one tunnel (Betti numbers (1, 1, 0)) for every seed; the seed moves the
    branches and the bends. A layout whose voxelisation adds a stray tunnel or
    cavity (a one-voxel gap where a branch leaves the trunk; a few percent of
    seeds) is redrawn from the same random stream, so the result stays a
    deterministic function of ``seed``. Axis 0 is the viewing axis of max
    projections.

    Parameters
    ----------
    size : int
        Side of the cubic volume (>= 32).
    seed : int
        Random seed for branch directions, lengths and bends.

    Returns
    -------
    volume : ndarray of bool, shape (size, size, size)
    """
    from ..metrics.topology import betti_numbers

    rng = np.random.default_rng(seed)
    for _ in range(50):
        vol = _tube_layout(size, rng)
        if betti_numbers(vol) == (1, 1, 0):
            return vol
    raise RuntimeError(f"could not draw a tube volume with one loop (size={size}, seed={seed})")


def _tube_layout(size: int, rng: np.random.Generator) -> np.ndarray:
    s = size / 64.0
    vol = np.zeros((size,) * 3, bool)
    c = (size - 1) / 2.0
    ring_r, tilt = 13 * s, np.deg2rad(50)
    pierce = np.array([c, c + ring_r / 2, c])  # where the trunk crosses the ring
    # ring: radius ring_r in the plane spanned by the y axis and a z/x diagonal (so x is not in it)
    theta = np.linspace(0, 2 * np.pi, int(12 * ring_r) + 8)
    u, v = np.array([0.0, 1.0, 0.0]), np.array([np.cos(tilt), 0.0, np.sin(tilt)])
    ring = pierce - ring_r * u + ring_r * (np.cos(theta)[:, None] * u + np.sin(theta)[:, None] * v)
    _draw_tube(vol, ring, np.full(len(ring), max(1.0, 2.0 * s)))
    n = int(8 * size)
    t = np.linspace(0.0, 1.0, n)
    trunk = _polyline(pierce - [0, 0, c - 3 * s], pierce + [0, 0, c - 3 * s], n)
    # S-shaped bends, zero at the ends and at the crossing
    trunk[:, 0] += rng.uniform(2, 4) * s * np.sin(2 * np.pi * t)
    trunk[:, 1] += rng.uniform(-3, 3) * s * np.sin(2 * np.pi * t)
    _draw_tube(vol, trunk, np.linspace(3.2, 2.2, n) * s)
    for side, fracs in ((-1.0, (0.08, 0.2)), (1.0, (0.8, 0.92))):
        # two branches per side, in opposite half-planes around the trunk so they never meet
        phi0 = rng.uniform(-0.7, 0.7)
        phis = rng.permutation([phi0, phi0 + np.pi + rng.uniform(-0.4, 0.4)])
        for frac, phi in zip(fracs, phis):
            start = trunk[int(frac * (n - 1))]
            length = rng.uniform(15, 21) * s
            d = np.array([np.sin(phi), np.cos(phi), 0.5 * side])  # lean away from the ring along x
            end = np.clip(start + length * d / np.linalg.norm(d), 2 * s, size - 1 - 2 * s)
            pts = _polyline(start, end, int(6 * length) + 2, np.array([rng.uniform(-2, 2) * s, 0.0, 0.0]))
            _draw_tube(vol, pts, np.linspace(2.0, 1.0, len(pts)) * max(s, 0.75))
    return vol


def shape_mask(size: int = 256) -> np.ndarray:
    """A wheel with a handle: an annulus split by a bar (two holes) and a thick tail.

    Betti numbers (1, 2); plain geometry, handy for checking topology by eye.

    Returns
    -------
    mask : ndarray of bool, shape (size, size)
    """
    yy, xx = np.mgrid[:size, :size] / size
    r = np.hypot(yy - 0.42, xx - 0.42)
    wheel = (r < 0.33) & (r > 0.2)
    bar = (np.abs(yy - 0.42) < 0.04) & (r < 0.3)
    tail = (np.abs((yy - xx)) < 0.09) & (yy > 0.6) & (yy < 0.93) & (xx > 0.6) & (xx < 0.93)
    return wheel | bar | tail


# name -> builder used by `skelkit demo`
EXAMPLES = {
    "horse": horse_mask,
    "retina": retina_vessel_mask,
    "blobs": blobs,
    "shape": shape_mask,
    "tubes3d": tube_volume,
}
