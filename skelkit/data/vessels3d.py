"""Realistic 3D vessel masks: branching trees and dense capillary meshes, partial-volume rendered.

What makes real vessel masks hard, and what the Bezier curves of
:mod:`skelkit.data.bezier` lack: branching trees whose radius tapers from a few
voxels to below one; dense meshes with loops (capillary beds, up to ~20%
foreground); partial-volume rendering then thresholding, which turns thin
vessels into jagged one-voxel paths that may break, and makes neighbouring
vessels touch; anisotropic voxels; crops, through whose faces many vessels
leave.

A vessel is a chain of segments with a radius at each end, in physical units
(voxel ``i`` along axis ``a`` sits at ``i * spacing[a]``). Each voxel gets the
fraction of it a vessel covers, approximated by ``clip(r - d + 0.5, 0, 1)``
with ``d`` the distance of its centre to the vessel axis and ``r`` the radius
there; a little noise is added and the result thresholded at 0.5.

Examples
--------
>>> import numpy as np
>>> m = vessel_volume((32, 40, 40), np.random.default_rng(0), kind="tree")
>>> m.dtype, m.shape, bool(0 < m.mean() < 0.5)
(dtype('bool'), (32, 40, 40), True)
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..errors import SkelkitError

KINDS = ("tree", "mesh", "mixed")


def _tree_segments(rng, box, n_roots: int, r0: tuple, min_radius: float):
    """Segments (p0, p1, r0, r1) of branching, tapering, gently curving trees grown from the box faces."""
    segs = []
    box = np.asarray(box, float)
    stack = []
    for _ in range(n_roots):
        axis, side = int(rng.integers(3)), int(rng.integers(2))
        p = rng.uniform(0.15, 0.85, 3) * box
        p[axis] = side * box[axis]
        d = rng.normal(size=3)
        d[axis] = abs(d[axis]) * (1 if side == 0 else -1) + (1.5 if side == 0 else -1.5)
        stack.append((p, d / np.linalg.norm(d), rng.uniform(*r0), 0))
    while stack and len(segs) < 4000:
        p, d, r, depth = stack.pop()
        length = rng.uniform(6, 14) * max(r, 1.0) ** 0.7 + rng.uniform(4, 10)
        n = max(2, int(length / 2.5))
        r_end = r * rng.uniform(0.75, 0.95)
        for i in range(n):  # a curving branch of short segments, tapering
            d = d + rng.normal(scale=0.18, size=3)
            d /= np.linalg.norm(d)
            q = p + d * length / n
            ra = r + (r_end - r) * i / n
            rb = r + (r_end - r) * (i + 1) / n
            segs.append((p, q, ra, rb))
            p = q
            if np.any(p < -5) or np.any(p > box + 5):
                break
        else:
            if r_end > min_radius and depth < 9:
                # Murray's law: r^3 = r1^3 + r2^3; the split is uneven
                f = rng.uniform(0.3, 0.7)
                for share in (f, 1 - f):
                    rc = r_end * share ** (1 / 3)
                    axis = np.cross(d, rng.normal(size=3))
                    axis /= np.linalg.norm(axis) + 1e-9
                    ang = rng.uniform(0.35, 1.1)
                    dc = d * np.cos(ang) + np.cross(axis, d) * np.sin(ang)
                    stack.append((p, dc / np.linalg.norm(dc), rc, depth + 1))
    return segs


def _mesh_segments(rng, box, density: float, radius: tuple):
    """A capillary bed: random points each joined to its 2-4 nearest neighbours by thin tubes (many loops)."""
    from scipy.spatial import cKDTree

    box = np.asarray(box, float)
    n = max(8, int(density * np.prod(box) / 250.0))
    pts = rng.uniform(0, 1, (n, 3)) * (box + 8) - 4
    tree = cKDTree(pts)
    segs, seen = [], set()
    for i, p in enumerate(pts):
        k = int(rng.integers(2, 5))
        _, idx = tree.query(p, k + 1)
        for j in np.atleast_1d(idx)[1:]:
            key = (min(i, j), max(i, j))
            if key in seen:
                continue
            seen.add(key)
            q = pts[j]
            mid = (p + q) / 2 + rng.normal(scale=0.15 * np.linalg.norm(q - p), size=3)  # a bent capillary
            r = rng.uniform(*radius)
            segs += [(p, mid, r, r * rng.uniform(0.8, 1.2)), (mid, q, r, r)]
    return segs


def render(shape, segs, spacing=(1.0, 1.0, 1.0), rng=None, noise: float = 0.05) -> np.ndarray:
    """Partial-volume occupancy of the segments on a voxel grid, plus noise, thresholded at 0.5; bool (shape)."""
    shape = tuple(int(s) for s in shape)
    sp = np.asarray(spacing, float)
    occ = np.zeros(shape, np.float32)
    for p0, p1, r0, r1 in segs:
        p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
        rmax = max(r0, r1) + 1.0
        lo = np.maximum(np.floor((np.minimum(p0, p1) - rmax) / sp).astype(int), 0)
        hi = np.minimum(np.ceil((np.maximum(p0, p1) + rmax) / sp).astype(int) + 1, shape)
        if np.any(hi <= lo):
            continue
        grid = np.stack(np.meshgrid(*[np.arange(a, b) * s for a, b, s in zip(lo, hi, sp)], indexing="ij"), -1)
        v = p1 - p0
        L2 = float(v @ v) or 1e-9
        t = np.clip(((grid - p0) @ v) / L2, 0, 1)
        dist = np.linalg.norm(grid - (p0 + t[..., None] * v), axis=-1)
        cover = np.clip(r0 + (r1 - r0) * t - dist + 0.5, 0, 1)
        sl = tuple(slice(a, b) for a, b in zip(lo, hi))
        np.maximum(occ[sl], cover, out=occ[sl])
    if noise and rng is not None:
        occ = occ + ndimage.gaussian_filter(rng.normal(scale=noise, size=shape), 0.7).astype(np.float32) * 2
    return occ > 0.5


def vessel_volume(shape, rng=None, *, kind: str = "mixed", spacing=(1.0, 1.0, 1.0), crop: bool = False,
                  mesh_density: float | None = None) -> np.ndarray:
    """A random realistic vessel mask.

    Parameters
    ----------
    shape : tuple of 3 int
        Output shape (voxels).
    rng : numpy.random.Generator or int, optional
    kind : {"tree", "mesh", "mixed"}
        Branching trees (trunk radius 2-6, tapering below 1 voxel); a dense
        capillary mesh with loops; or both.
    spacing : tuple of 3 float
        Voxel size (z, y, x); anisotropic spacing gives anisotropic voxels.
    crop : bool
        Render a volume twice as large and return a random crop, so that many
        vessels leave through its faces.
    mesh_density : float, optional
        Relative density of the mesh (default random, up to about 20%
        foreground).

    Returns
    -------
    mask : ndarray of bool, ``shape``
    """
    if kind not in KINDS:
        raise SkelkitError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    rng = np.random.default_rng(rng)
    shape = tuple(int(s) for s in shape)
    full = tuple(2 * s for s in shape) if crop else shape
    sp = np.asarray(spacing, float)
    box = np.asarray(full) * sp
    segs = []
    if kind in ("tree", "mixed"):
        segs += _tree_segments(rng, box, int(rng.integers(1, 4)), (2.0, 6.0), rng.uniform(0.3, 0.6))
    if kind in ("mesh", "mixed"):
        dens = rng.uniform(0.3, 1.6) if mesh_density is None else mesh_density
        segs += _mesh_segments(rng, box, dens * (0.5 if kind == "mixed" else 1.0), (0.4, 1.4))
    mask = render(full, segs, sp, rng)
    if not crop:
        return mask
    o = [int(rng.integers(0, f - s + 1)) for f, s in zip(full, shape)]
    return np.ascontiguousarray(mask[tuple(slice(a, a + s) for a, s in zip(o, shape))])
