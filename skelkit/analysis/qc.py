"""Quality-control pictures of an analysis: branches in colour (2D), radius projections (3D)."""

from __future__ import annotations

import numpy as np

from ..io.atomic import atomic_path
from .analyze import SkeletonAnalysis


def branch_image(result: SkeletonAnalysis) -> np.ndarray:
    """Label image (int32, the skeleton's shape): branch ``i`` is ``i + 1``, node pixels ``-1``."""
    g = result.graph
    lab = np.zeros(g.shape, np.int32)
    for i, (_, _, pix) in enumerate(g.branches):
        lab[tuple(pix.T)] = i + 1
    for pix in g.node_pixels:
        lab[tuple(pix.T)] = -1
    return lab


def _views(a: np.ndarray, file_format: str | None, reduce) -> list:
    """Three orthogonal projections (title, 2D array), the axial one first (NIfTI: along axis 2)."""
    if file_format == "nifti":  # voxel axes (i, j, k), k foot to head
        return [("axial", np.rot90(reduce(a, 2))), ("coronal", np.rot90(reduce(a, 1))),
                ("sagittal", np.rot90(reduce(a, 0)))]
    return [("axis 0 (planes)", reduce(a, 0)), ("axis 1", reduce(a, 1)), ("axis 2", reduce(a, 2))]


def save_qc(path, result: SkeletonAnalysis, mask=None, file_format: str | None = None, title: str = "") -> None:
    """Write the QC picture (PNG, atomic).

    2D: the mask in light grey, each branch in its own colour, nodes in
    black. 3D: three maximum projections of the skeleton coloured by radius
    (by branch when there is no mask), axial first for NIfTI.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    lab = branch_image(result)
    colours = matplotlib.colormaps["tab20"](np.arange(20))[:, :3]
    if lab.ndim == 2:
        fig = Figure(figsize=(6, 6 * lab.shape[0] / max(lab.shape[1], 1) + 0.4), dpi=120)
        ax = fig.subplots()
        rgb = np.ones(lab.shape + (3,))
        if mask is not None:
            rgb[np.asarray(mask) != 0] = 0.85
        on = lab > 0
        rgb[on] = colours[(lab[on] - 1) % 20]
        rgb[lab < 0] = 0.0
        ax.imshow(rgb, interpolation="nearest")
        ax.set_axis_off()
        ax.set_title(title or f"{len(result.branches)} branches", fontsize=9)
    else:
        fig = Figure(figsize=(13, 4.6), dpi=110)
        axes = fig.subplots(1, 3)
        if result.radius is not None:
            field = np.where(lab != 0, result.radius, np.nan)
            views = _views(field, file_format, lambda a, ax: np.nanmax(np.where(np.isnan(a), -np.inf, a), axis=ax))
            vmax = np.nanmax(field) if np.isfinite(np.nanmax(field)) else 1.0
            im = None
            for ax, (name, v) in zip(axes, views):
                im = ax.imshow(np.where(np.isfinite(v), v, np.nan), cmap="viridis", vmin=0, vmax=vmax,
                               interpolation="nearest")
                ax.set_title(name, fontsize=9)
                ax.set_axis_off()
            fig.colorbar(im, ax=list(axes), shrink=0.8, label="radius")
        else:
            views = _views(lab, file_format, lambda a, ax: np.abs(a).max(axis=ax))
            for ax, (name, v) in zip(axes, views):
                rgb = np.ones(v.shape + (3,))
                rgb[v > 0] = colours[(v[v > 0] - 1) % 20]
                ax.imshow(rgb, interpolation="nearest")
                ax.set_title(name, fontsize=9)
                ax.set_axis_off()
        fig.suptitle(title or f"{len(result.branches)} branches", fontsize=10)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
