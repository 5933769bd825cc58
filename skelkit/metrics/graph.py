"""Graph statistics of a skeleton: components, end points, junctions."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..validate import as_binary


def neighbour_count(skel) -> np.ndarray:
    """Number of foreground 8- (2D) or 26- (3D) neighbours of every pixel.

    Parameters
    ----------
    skel : array_like of bool, shape (H, W) or (D, H, W)

    Returns
    -------
    count : ndarray of uint8, same shape (0 outside the foreground)
    """
    s = as_binary(skel, name="skeleton")
    kernel = np.ones((3,) * s.ndim, np.uint8)
    kernel[(1,) * s.ndim] = 0
    count = ndimage.convolve(s.astype(np.uint8), kernel, mode="constant")
    return np.where(s, count, 0).astype(np.uint8)


def skeleton_graph_stats(skel) -> dict:
    """Count the pieces of a skeleton graph.

    Parameters
    ----------
    skel : array_like of bool, shape (H, W) or (D, H, W)

    Returns
    -------
    stats : dict of int
        ``pixels``; ``components`` (8-/26-connected); ``endpoints`` (pixels
        with exactly 1 neighbour); ``junctions`` (pixels with >= 3
        neighbours; a junction region of several pixels counts each);
        ``branch_points`` (connected clusters of junction pixels: a T made of
        one-pixel lines has 4 junction pixels but 1 branch point);
        ``isolated`` (pixels with no neighbour).
    """
    s = as_binary(skel, name="skeleton")
    count = neighbour_count(s)
    full = np.ones((3,) * s.ndim, bool)
    junction = s & (count >= 3)
    return {
        "pixels": int(s.sum()),
        "components": int(ndimage.label(s, structure=full)[1]),
        "endpoints": int(np.count_nonzero(s & (count == 1))),
        "junctions": int(np.count_nonzero(junction)),
        "branch_points": int(ndimage.label(junction, structure=full)[1]),
        "isolated": int(np.count_nonzero(s & (count == 0))),
    }
