"""Writing an analysis: branch table and totals as CSV, the graph as GraphML, the skeleton as SWC.

Every file is written atomically (:mod:`skelkit.io.atomic`).
"""

from __future__ import annotations

import csv
import io
import math

import numpy as np

from ..io.atomic import atomic_write_text
from .analyze import BRANCH_COLUMNS, SkeletonAnalysis


def csv_text(rows: list, columns=None) -> str:
    """Rows (dicts) as CSV text; floats with 6 significant digits, NaN as an empty cell."""
    columns = list(columns or (rows[0].keys() if rows else []))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([_cell(r.get(c)) for c in columns])
    return buf.getvalue()


def _cell(v):
    if isinstance(v, (float, np.floating)):
        return "" if not math.isfinite(v) else f"{float(v):.6g}"
    return v


def write_branches_csv(result: SkeletonAnalysis, path) -> None:
    """One row per branch (:data:`skelkit.analysis.BRANCH_COLUMNS`)."""
    atomic_write_text(path, csv_text(result.branches, BRANCH_COLUMNS))


def write_graphml(result: SkeletonAnalysis, path) -> None:
    """The graph as GraphML (networkx): node ``kind`` and coordinates, edge columns of the branch table."""
    import networkx as nx

    g = result.to_networkx()
    for _, data in g.nodes(data=True):
        coords = data.pop("coords")
        for axis, v in zip("zyx"[-len(coords):], coords):
            data[axis] = v
    for _, _, data in g.edges(data=True):
        data.pop("path")
        for k, v in list(data.items()):
            if isinstance(v, float) and not math.isfinite(v):
                data[k] = -1.0  # GraphML readers choke on NaN; -1 means "not measured"
    buf = io.BytesIO()
    nx.write_graphml(g, buf)
    atomic_write_text(path, buf.getvalue().decode("utf-8"))


def swc_text(result: SkeletonAnalysis) -> str:
    """The skeleton as an SWC tree (one sample per pixel), for neuron and vessel tools.

    Columns ``id type x y z radius parent``: x, y, z are the last, middle and
    first array axes times the spacing (2D: z = 0); type 3 (dendrite);
    radius from the mask (1 spacing unit without one). Each component is a
    tree grown breadth-first from an end point (any pixel for a loop); the
    links that close loops are not in the tree (SWC has no cycles).
    """
    from collections import deque

    from .graph import links

    g = result.graph
    skel = np.zeros(g.shape, bool)
    for a, b, pix in g.branches:
        skel[tuple(pix.T)] = True
    for pix in g.node_pixels:
        skel[tuple(pix.T)] = True
    coords, pairs = links(skel)
    nbrs = [[] for _ in range(len(coords))]
    for a, b in pairs.tolist():
        nbrs[a].append(b)
        nbrs[b].append(a)
    deg = np.array([len(n) for n in nbrs])
    order = np.argsort(deg != 1, kind="stable")  # roots at end points first
    sp = result.spacing
    xyz = coords[:, ::-1] * sp[::-1]
    if coords.shape[1] == 2:
        xyz = np.concatenate([xyz, np.zeros((len(xyz), 1))], 1)
    radius = result.radius[tuple(coords.T)] if result.radius is not None else np.ones(len(coords))
    ident = np.zeros(len(coords), int)
    lines = ["# SWC written by skelkit: id type x y z radius parent", f"# spacing (array axes) {list(map(float, sp))}"]
    next_id = 1
    for root in order:
        if ident[root]:
            continue
        queue = deque([(root, -1)])
        ident[root] = -1  # queued
        while queue:
            i, parent = queue.popleft()
            ident[i] = next_id
            x, y, z = xyz[i]
            lines.append(f"{next_id} 3 {x:.6g} {y:.6g} {z:.6g} {float(radius[i]):.6g} {parent}")
            for j in nbrs[i]:
                if ident[j] == 0:
                    ident[j] = -1
                    queue.append((j, next_id))
            next_id += 1
    return "\n".join(lines) + "\n"


def write_swc(result: SkeletonAnalysis, path) -> None:
    atomic_write_text(path, swc_text(result))
