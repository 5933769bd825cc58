"""The graph of a skeleton: nodes (end points, junctions) and branches (pixel paths between them).

Pixels are 8-connected (2D) or 26-connected (3D). A diagonal link between two
pixels that also meet through a common foreground face neighbour is
redundant (a staircase corner, not a fork) and is not counted, so such
corners do not turn into junctions. Then:

* end points are pixels with one link, isolated pixels have none;
* junctions are pixels with three or more links; touching junction pixels
  form one junction node (placed at their centroid);
* branches are the chains of two-link pixels between two nodes (or closed
  loops of them without any node). A branch's path runs from the coordinate
  of its first node through its pixels to the coordinate of its last node.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..validate import as_binary

END, JUNCTION, ISOLATED = "end", "junction", "isolated"


@dataclass
class SkeletonGraph:
    """Nodes and branches of a skeleton, in pixel coordinates (array axis order).

    Attributes
    ----------
    shape : tuple of int
    node_coords : ndarray of float, shape (n_nodes, ndim)
        End points at their pixel; junctions at the centroid of their pixels.
    node_kind : list of str
        ``"end"``, ``"junction"`` or ``"isolated"``.
    node_pixels : list of ndarray of int, shape (k, ndim)
        The pixels of each node.
    branches : list of tuple
        ``(start_node, end_node, pixels)``: node ids (``-1`` for both on a
        closed loop without nodes) and the branch's own pixels in path order,
        shape (m, ndim), excluding node pixels.
    """

    shape: tuple
    node_coords: np.ndarray
    node_kind: list
    node_pixels: list
    branches: list

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def path(self, i: int) -> np.ndarray:
        """Coordinates (float, pixel units) along branch ``i``: start node, its pixels, end node."""
        a, b, pix = self.branches[i]
        parts = [self.node_coords[a][None]] if a >= 0 else []
        parts.append(pix.astype(float))
        if b >= 0:
            parts.append(self.node_coords[b][None])
        elif len(pix):  # a closed loop: back to its first pixel
            parts.append(pix[:1].astype(float))
        return np.concatenate(parts)

    def degree(self) -> np.ndarray:
        """Number of branch ends at each node."""
        deg = np.zeros(len(self.node_kind), int)
        for a, b, _ in self.branches:
            for n in (a, b):
                if n >= 0:
                    deg[n] += 1
        return deg


def _offsets(nd: int) -> np.ndarray:
    return np.array([o for o in itertools.product((-1, 0, 1), repeat=nd) if any(o)], np.intp)


def links(skel: np.ndarray):
    """Pixel adjacency of a skeleton without redundant diagonal links.

    Returns
    -------
    coords : ndarray of int, shape (n, ndim)
        The skeleton's pixels (C order).
    pairs : ndarray of int, shape (m, 2)
        Each link once, as indices into ``coords``.
    """
    nd = skel.ndim
    padded = np.pad(skel, 1)
    shape = padded.shape
    strides = np.array([int(np.prod(shape[a + 1:])) for a in range(nd)], np.intp)
    flat = np.flatnonzero(padded)
    ids = np.full(padded.size, -1, np.intp)
    ids[flat] = np.arange(len(flat))
    img = padded.ravel()
    pairs = []
    for off in _offsets(nd):
        if tuple(off) <= (0,) * nd:  # each unordered pair once
            continue
        d = int(off @ strides)
        nb = flat + d
        ok = img[nb]
        if np.abs(off).sum() > 1:  # a diagonal link: redundant if a face path of foreground joins the two
            ok &= ~_face_bridged(img, flat, off, strides)
        pairs.append(np.stack([ids[flat[ok]], ids[nb[ok]]], 1))
    coords = np.stack(np.unravel_index(flat, shape), 1) - 1
    return coords, (np.concatenate(pairs) if pairs else np.zeros((0, 2), np.intp))


def _face_bridged(img, flat, off, strides):
    """Whether ``p`` and ``p + off`` are joined through foreground pixels that each change one coordinate.

    Such a diagonal link adds nothing to connectivity: the pixels meet anyway
    through the path of face steps, which is the one the skeleton follows.
    """
    axes = np.flatnonzero(off)
    out = np.zeros(len(flat), bool)
    for order in itertools.permutations(axes):  # walk the face steps in every order
        pos, ok = flat.copy(), np.ones(len(flat), bool)
        for a in order[:-1]:
            pos = pos + int(off[a] * strides[a])
            ok &= img[pos]
        out |= ok
    return out


def skeleton_graph(skeleton) -> SkeletonGraph:
    """Build the :class:`SkeletonGraph` of a 2D or 3D skeleton.

    Parameters
    ----------
    skeleton : array_like of bool, shape (H, W) or (D, H, W)

    Returns
    -------
    graph : SkeletonGraph

    Examples
    --------
    >>> s = np.zeros((7, 7), bool); s[3, 1:6] = True; s[1:3, 3] = True   # a T
    >>> g = skeleton_graph(s)
    >>> sorted(g.node_kind), len(g.branches)
    (['end', 'end', 'end', 'junction'], 3)
    """
    skel = as_binary(skeleton, name="skeleton")
    coords, pairs = links(skel)
    n = len(coords)
    deg = np.bincount(pairs.ravel(), minlength=n)
    nbrs = [[] for _ in range(n)]
    for a, b in pairs.tolist():
        nbrs[a].append(b)
        nbrs[b].append(a)
    is_node = deg != 2
    # junction pixels that touch form one node
    node_of = np.full(n, -1, np.intp)
    node_coords, node_kind, node_pixels = [], [], []
    junction = np.zeros(skel.shape, bool)
    jj = deg >= 3
    junction[tuple(coords[jj].T)] = True
    labels, n_j = ndimage.label(junction, structure=np.ones((3,) * skel.ndim, bool))
    jl = labels[tuple(coords.T)] if n else np.zeros(0, int)
    for k in range(1, n_j + 1):
        members = np.flatnonzero(jl == k)
        node_of[members] = len(node_kind)
        node_coords.append(coords[members].mean(0))
        node_kind.append(JUNCTION)
        node_pixels.append(coords[members])
    for i in np.flatnonzero(is_node & ~jj):
        node_of[i] = len(node_kind)
        node_coords.append(coords[i].astype(float))
        node_kind.append(END if deg[i] == 1 else ISOLATED)
        node_pixels.append(coords[i][None])
    branches, used = [], set()  # used: links already walked, as (min, max)
    for start in np.flatnonzero(is_node):
        for nb in nbrs[start]:
            key = (min(start, nb), max(start, nb))
            if key in used or (is_node[nb] and node_of[nb] == node_of[start]):
                continue  # walked already, or a link inside one junction
            used.add(key)
            path, prev, cur = [], start, nb
            while not is_node[cur]:
                path.append(cur)
                nxt = nbrs[cur][0] if nbrs[cur][0] != prev else nbrs[cur][1]
                used.add((min(cur, nxt), max(cur, nxt)))
                prev, cur = cur, nxt
            branches.append((int(node_of[start]), int(node_of[cur]), coords[path] if path else coords[:0]))
    seen = np.zeros(n, bool)
    on_branch = {i for key in used for i in key}
    for i in range(n):  # closed loops without nodes
        if is_node[i] or seen[i] or i in on_branch:
            continue
        path, prev, cur = [], -1, i
        while not seen[cur]:
            seen[cur] = True
            path.append(cur)
            nxt = nbrs[cur][0] if nbrs[cur][0] != prev else nbrs[cur][1]
            prev, cur = cur, nxt
        branches.append((-1, -1, coords[path]))
    nd = skel.ndim
    return SkeletonGraph(skel.shape, np.array(node_coords, float).reshape(-1, nd), node_kind, node_pixels, branches)
