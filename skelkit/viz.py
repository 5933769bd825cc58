"""Overlay pictures of a shape and its skeleton, and a gallery of many of them.

2D: background white, shape light grey, skeleton red. 3D volumes are shown
as maximum-intensity projections along the first axis. Small images are
enlarged (nearest neighbour) so one-pixel skeletons stay visible.
"""

from __future__ import annotations

import numpy as np

from .errors import SkelkitError
from .io.atomic import atomic_path

BACKGROUND = (255, 255, 255)
SHAPE = (200, 200, 200)
SKELETON = (220, 20, 20)


def _project(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=bool)
    return a.any(axis=0) if a.ndim == 3 else a


def view_2d(a, file_format: str | None = None) -> np.ndarray:
    """A 2D picture of a 2D image or 3D volume: the volume's maximum projection, axial where the format says which way.

    NIfTI voxel axes are (i, j, k) with k the scanner's z (foot to head), so
    its axial view projects along axis 2 and is turned so that j runs up
    the picture; other formats (TIFF stacks, NumPy, Zarr) store planes along
    axis 0.
    """
    a = np.asarray(a) != 0
    if a.ndim == 2:
        return a
    if file_format == "nifti":
        return np.rot90(a.any(axis=2))
    return a.any(axis=0)


def _shrink_any(a: np.ndarray, f: int) -> np.ndarray:
    """Downsample by ``f`` keeping a pixel if any pixel of its f x f block is set (thin lines survive)."""
    h, w = -(-a.shape[0] // f) * f, -(-a.shape[1] // f) * f
    a = np.pad(a, ((0, h - a.shape[0]), (0, w - a.shape[1])))
    return a.reshape(h // f, f, w // f, f).any(axis=(1, 3))


def overlay_rgb(mask, skeleton, *, scale: int | None = None, target: int = 512,
                max_side: int | None = None) -> np.ndarray:
    """RGB picture of a mask (grey) with its skeleton (red) on top.

    Parameters
    ----------
    mask, skeleton : array_like of bool, shape (H, W) or (D, H, W)
        3D inputs are max-projected along axis 0.
    scale : int, optional
        Integer enlargement; default enlarges so the longer side reaches about
        ``target`` pixels (at most 8x, never shrinks).
    target : int
        Desired longer side when ``scale`` is None.
    max_side : int, optional
        Shrink larger pictures by an integer factor until they fit, keeping
        every skeleton pixel visible (block "any"); for thumbnails.

    Returns
    -------
    rgb : ndarray of uint8, shape (H * scale, W * scale, 3) (or shrunk)
    """
    m, s = _project(mask), _project(skeleton)
    if m.shape != s.shape:
        raise SkelkitError(f"mask shape {m.shape} and skeleton shape {s.shape} differ")
    if max_side is not None and max(m.shape) > max_side:
        f = -(-max(m.shape) // max_side)
        m, s, scale = _shrink_any(m, f), _shrink_any(s, f), 1
    if scale is None:
        scale = int(np.clip(target // max(m.shape), 1, 8))
    rgb = np.empty(m.shape + (3,), np.uint8)
    rgb[:] = BACKGROUND
    rgb[m] = SHAPE
    rgb[s] = SKELETON
    return rgb.repeat(scale, axis=0).repeat(scale, axis=1) if scale > 1 else rgb


def save_png(path, rgb: np.ndarray) -> None:
    """Write an (H, W, 3) uint8 picture as PNG, atomically."""
    from PIL import Image

    with atomic_path(path) as tmp:
        Image.fromarray(np.asarray(rgb, np.uint8)).save(tmp, format="PNG")


def save_overlay(path, mask, skeleton, **kwargs) -> None:
    """:func:`overlay_rgb` written to ``path`` (PNG, atomic)."""
    save_png(path, overlay_rgb(mask, skeleton, **kwargs))


def save_gallery(path, rows: list[str], cols: list[str], cells: dict, *, notes: dict | None = None,
                 tile: float = 2.6) -> None:
    """Grid of overlays: one row per input, one column per method.

    Parameters
    ----------
    path : str or Path
        PNG output (written atomically).
    rows, cols : list of str
        Row (input) and column (method) labels.
    cells : dict
        ``(row, col) -> (H, W, 3) uint8`` picture; a missing cell shows its
        note from ``notes`` (e.g. why a method was skipped) or stays blank.
    tile : float
        Size of one cell in inches.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    notes = notes or {}
    fig = Figure(figsize=(tile * len(cols), tile * len(rows)), dpi=110)
    axes = fig.subplots(len(rows), len(cols), squeeze=False)
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if (r, c) in cells:
                ax.imshow(cells[(r, c)], interpolation="nearest")
            else:
                ax.text(0.5, 0.5, notes.get((r, c), ""), ha="center", va="center", wrap=True,
                        fontsize=8, transform=ax.transAxes, color="0.4")
            if i == 0:
                ax.set_title(c, fontsize=10)
            if j == 0:
                ax.set_ylabel(r, fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
