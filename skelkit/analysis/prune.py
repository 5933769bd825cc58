"""Spur pruning by physical length, keeping the skeleton's topology."""

from __future__ import annotations

import numpy as np

from ..core.neighbours import codes_of
from ..core.simple import SIMPLE_ENDPOINT, classify_codes
from ..errors import SkelkitError
from ..validate import as_binary
from .graph import END, JUNCTION, skeleton_graph
from .measure import branch_length, check_spacing


def prune(skeleton, min_length: float, spacing=None, *, max_cycle_length: float | None = None) -> np.ndarray:
    """Remove terminal branches shorter than ``min_length``, again and again until none is left.

    A terminal branch joins an end point to a junction; removing it never cuts
    the skeleton apart or opens a loop. Each pixel is deleted only while it
    is simple (8/4 in 2D, 26/6 in 3D), so the topology is kept by
    construction. Branches between two end points (a whole component) are
    never removed. When a junction loses branches, the branches it joined
    merge, and the merged branch is judged again in the next round.

    Parameters
    ----------
    skeleton : array_like of bool, shape (H, W) or (D, H, W)
    min_length : float
        In spacing units (:func:`skelkit.analysis.analyze`'s ``length``).
    spacing : float or sequence of float, optional
        Pixel size per axis; default 1.
    max_cycle_length : float, optional
        Also open loops shorter than this (one pixel is removed, so the loop
        becomes spurs that the length rule may then remove). This changes
        the topology on purpose: each opened loop removes one hole.

    Returns
    -------
    pruned : ndarray of bool, same shape

    Examples
    --------
    >>> s = np.zeros((11, 21), bool); s[5, 1:20] = True; s[2:5, 10] = True   # a line with a 3-pixel spur
    >>> int(s.sum() - prune(s, 5).sum())
    3
    """
    skel = as_binary(skeleton, name="skeleton").copy()
    sp = check_spacing(spacing, skel.ndim)
    if not min_length >= 0:
        raise SkelkitError(f"min_length must be a number >= 0, got {min_length}")
    while True:
        g = skeleton_graph(skel)
        lengths = [branch_length(g.path(i), sp, closed=a < 0) for i, (a, _, _) in enumerate(g.branches)]
        if max_cycle_length is not None:
            i = _smallest_cycle_branch(g, lengths, max_cycle_length)
            if i is not None:  # open one loop per round (changes b1 by design); opening two of one cycle could cut
                pix = g.branches[i][2]
                skel[tuple(pix[len(pix) // 2])] = False
                continue
        spurs = []
        for i, (a, b, pix) in enumerate(g.branches):
            if a >= 0 and sorted((g.node_kind[a], g.node_kind[b])) == [END, JUNCTION] and lengths[i] < min_length:
                end = a if g.node_kind[a] == END else b
                # pixels from the end point towards the junction
                spurs.append([g.node_pixels[end][0]] + (list(pix) if end == a else list(pix[::-1])))
        changed = False
        for order in spurs:
            for p in order:
                if not _simple(skel, p):
                    break
                skel[tuple(p)] = False
                changed = True
        if not changed:
            return skel


def _smallest_cycle_branch(g, lengths, limit: float):
    """The branch on the shortest cycle shorter than ``limit`` (a branch with pixels to remove), or None.

    The shortest cycle through branch ``e`` from ``a`` to ``b`` is ``e`` plus the
    shortest path from ``b`` back to ``a`` that does not use ``e`` (Dijkstra on
    the graph of nodes and branches).
    """
    import heapq

    adj = {}
    for i, (a, b, _) in enumerate(g.branches):
        if a >= 0:
            adj.setdefault(a, []).append((b, i))
            adj.setdefault(b, []).append((a, i))
    best = (limit, None)
    for i, (a, b, pix) in enumerate(g.branches):
        if not len(pix) or lengths[i] >= best[0]:
            continue
        if a < 0 or a == b:  # a loop on its own
            best = (lengths[i], i)
            continue
        dist, heap = {b: 0.0}, [(0.0, b)]
        while heap:
            d, n = heapq.heappop(heap)
            if n == a or d + lengths[i] >= best[0]:
                break
            if d > dist.get(n, float("inf")):
                continue
            for m, j in adj.get(n, ()):
                if j != i and d + lengths[j] < dist.get(m, float("inf")):
                    dist[m] = d + lengths[j]
                    heapq.heappush(heap, (dist[m], m))
        if a in dist and dist[a] + lengths[i] < best[0]:
            best = (dist[a] + lengths[i], i)
    return best[1]


def _simple(skel: np.ndarray, p) -> bool:
    """Whether deleting pixel ``p`` keeps the topology (it is simple; an end point counts)."""
    lo = [max(int(c) - 1, 0) for c in p]
    window = skel[tuple(slice(a, int(c) + 2) for a, c in zip(lo, p))]
    centre = tuple(int(c) - a for a, c in zip(lo, p))
    where = np.zeros(window.shape, bool)
    where[centre] = True
    kind = classify_codes(codes_of(window, where), skel.ndim)[0]
    return kind >= SIMPLE_ENDPOINT
