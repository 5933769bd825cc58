"""`analyze`: the skeleton's graph and a branch table in physical units."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import SkelkitError
from ..validate import as_binary
from .graph import END, JUNCTION, SkeletonGraph, skeleton_graph
from .measure import branch_length, check_spacing, pixel_length, radius_field

#: Branch types, numbered as skan numbers them.
BRANCH_TYPES = {0: "end-end", 1: "end-junction", 2: "junction-junction", 3: "cycle"}
BRANCH_COLUMNS = ("branch", "component", "type", "node_start", "node_end", "length", "pixel_length",
                  "end_to_end", "tortuosity", "radius_mean", "radius_min", "radius_max", "n_pixels")


@dataclass
class SkeletonAnalysis:
    """What :func:`analyze` measured.

    Attributes
    ----------
    graph : SkeletonGraph
        Nodes and branches in pixel coordinates.
    spacing : ndarray of float
        Pixel size per axis (array axis order).
    branches : list of dict
        One row per branch, keys :data:`BRANCH_COLUMNS` (lengths and radii in
        spacing units; radii NaN without a mask).
    summary : dict
        Totals over the skeleton.
    radius : ndarray or None
        Distance-to-background of the mask (spacing units), when a mask was given.
    """

    graph: SkeletonGraph
    spacing: np.ndarray
    branches: list = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    radius: np.ndarray | None = None

    def paths(self, physical: bool = True) -> list:
        """Each branch's path, (n, ndim) coordinates in spacing units (``physical``) or pixels."""
        return [self.graph.path(i) * (self.spacing if physical else 1) for i in range(len(self.graph.branches))]

    def to_networkx(self):
        """A ``networkx.MultiGraph``: nodes with ``kind`` and ``coords``; edges with the branch table's columns.

        Edges also carry ``path`` (the branch's coordinates, spacing units).
        Needs networkx (``pip install skelkit[analysis]``).
        """
        try:
            import networkx as nx
        except ImportError:
            raise SkelkitError("the graph export needs networkx: pip install 'skelkit[analysis]'") from None
        g = nx.MultiGraph()
        for i, (kind, c) in enumerate(zip(self.graph.node_kind, self.graph.node_coords)):
            g.add_node(i, kind=kind, coords=tuple(float(v) for v in c * self.spacing))
        loops = 0
        for row, path in zip(self.branches, self.paths()):
            a, b = row["node_start"], row["node_end"]
            if a < 0:  # a closed loop without nodes gets a node of its own
                a = b = f"loop{loops}"
                loops += 1
                g.add_node(a, kind="loop", coords=tuple(float(v) for v in path[0]))
            g.add_edge(a, b, **{k: v for k, v in row.items() if k not in ("node_start", "node_end")}, path=path)
        return g


def analyze(skeleton, image=None, spacing=None) -> SkeletonAnalysis:
    """Graph, branch table and totals of a skeleton.

    Parameters
    ----------
    skeleton : array_like of bool, shape (H, W) or (D, H, W)
        A thin skeleton (e.g. from :func:`skelkit.skeletonize`).
    image : array_like of bool, optional
        The mask it was computed from; gives each branch's radius (distance
        of its pixels to the mask's background, :func:`radius_field`).
    spacing : float or sequence of float, optional
        Pixel size per axis (array axis order); lengths and radii are in its
        units. Default 1 (pixels).

    Returns
    -------
    result : SkeletonAnalysis
        ``branches`` per branch: ``length`` (centreline length, see
        :mod:`skelkit.analysis.measure`), ``pixel_length`` (sum of pixel
        steps), ``end_to_end`` (distance between its end nodes), ``tortuosity``
        (length / end_to_end; NaN for loops), ``type`` (``end-end``,
        ``end-junction``, ``junction-junction``, ``cycle``), ``radius_mean``,
        ``radius_min``, ``radius_max``; ``summary`` with counts of branches,
        end points, junctions, components and independent cycles, total and
        mean length, length-weighted mean radius.

    Examples
    --------
    >>> s = np.zeros((9, 30), bool); s[4, 2:28] = True
    >>> r = analyze(s, spacing=0.5)
    >>> r.summary["n_branches"], r.branches[0]["type"], r.branches[0]["length"]
    (1, 'end-end', 12.5)
    """
    skel = as_binary(skeleton, name="skeleton")
    sp = check_spacing(spacing, skel.ndim)
    radius = None
    if image is not None:
        mask = as_binary(image, name="image")
        if mask.shape != skel.shape:
            raise SkelkitError(f"image has shape {mask.shape} but skeleton has shape {skel.shape}")
        radius = radius_field(mask, sp)
    g = skeleton_graph(skel)
    comp = _components(skel, g)
    rows = []
    for i, (a, b, pix) in enumerate(g.branches):
        path = g.path(i)
        closed = a < 0 or (a == b and g.node_kind[a] != END)
        kinds = [g.node_kind[n] for n in (a, b) if n >= 0]
        btype = 3 if a < 0 else (0 if kinds.count(JUNCTION) == 0 else (1 if kinds.count(JUNCTION) == 1 else 2))
        length = branch_length(path, sp, closed=a < 0)
        e2e = 0.0 if a < 0 else float(np.linalg.norm((path[-1] - path[0]) * sp))
        r = radius[tuple(pix.T)] if radius is not None and len(pix) else np.array([])
        if radius is not None and not len(pix):  # two nodes next to each other: their own pixels
            r = radius[tuple(np.concatenate([g.node_pixels[a], g.node_pixels[b]]).T)]
        rows.append({
            "branch": i, "component": int(comp[i]), "type": BRANCH_TYPES[btype], "node_start": a, "node_end": b,
            "length": length, "pixel_length": pixel_length(path, sp), "end_to_end": e2e,
            "tortuosity": length / e2e if e2e > 0 and not closed else float("nan"),
            "radius_mean": float(r.mean()) if r.size else float("nan"),
            "radius_min": float(r.min()) if r.size else float("nan"),
            "radius_max": float(r.max()) if r.size else float("nan"),
            "n_pixels": int(len(pix)),
        })
    return SkeletonAnalysis(g, sp, rows, _summary(skel, g, rows, radius), radius)


def _components(skel, g: SkeletonGraph) -> np.ndarray:
    """Component (8-/26-connected) of each branch."""
    from scipy import ndimage

    labels, _ = ndimage.label(skel, structure=np.ones((3,) * skel.ndim, bool))
    out = []
    for a, b, pix in g.branches:
        p = pix[0] if len(pix) else g.node_pixels[a][0]
        out.append(labels[tuple(p)])
    return np.array(out, int)


def _summary(skel, g: SkeletonGraph, rows, radius) -> dict:
    from scipy import ndimage

    n_comp = ndimage.label(skel, structure=np.ones((3,) * skel.ndim, bool))[1]
    lengths = np.array([r["length"] for r in rows]) if rows else np.zeros(0)
    n_nodes = len(g.node_kind) + sum(1 for a, _, _ in g.branches if a < 0)  # a node-less loop has one node
    out = {
        "n_pixels": int(skel.sum()),
        "n_components": int(n_comp),
        "n_branches": len(rows),
        "n_endpoints": g.node_kind.count(END),
        "n_junctions": g.node_kind.count(JUNCTION),
        "n_cycles": int(len(rows) - n_nodes + n_comp),  # independent cycles of the graph: E - V + C
        "total_length": float(lengths.sum()),
        "mean_branch_length": float(lengths.mean()) if len(lengths) else float("nan"),
    }
    for t in BRANCH_TYPES.values():
        out[f"n_{t.replace('-', '_')}"] = sum(1 for r in rows if r["type"] == t)
    if radius is not None:
        w = np.array([r["length"] for r in rows if np.isfinite(r["radius_mean"])])
        rm = np.array([r["radius_mean"] for r in rows if np.isfinite(r["radius_mean"])])
        out["radius_mean"] = float((w * rm).sum() / w.sum()) if w.sum() > 0 else float("nan")
    return out
