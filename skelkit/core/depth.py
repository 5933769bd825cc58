"""City-block depth: how many cross erosions each foreground pixel survives.

Exact thinning in depth order, Skelite's bands and its iteration count all
read this one map.
"""

from __future__ import annotations

import numpy as np

OUTSIDE = ("background", "foreground")


def city_block_depth(mask, outside: str = "background") -> np.ndarray:
    """City-block distance of each foreground pixel to the nearest background pixel (0 on the background).

    Parameters
    ----------
    mask : array_like of bool, shape (H, W) or (D, H, W)
    outside : {"background", "foreground"}
        Whether pixels outside the image count as background (exact
        thinning) or not (the erosions of :mod:`skelkit.core.morphology`,
        for crops of a larger image).

    Returns
    -------
    depth : ndarray of int32, same shape
        With ``outside="foreground"`` and no background pixel at all, every
        pixel gets :func:`no_background_depth` (larger than any real depth).

    Examples
    --------
    >>> city_block_depth(np.ones((3, 5), bool))
    array([[1, 1, 1, 1, 1],
           [1, 2, 2, 2, 1],
           [1, 1, 1, 1, 1]], dtype=int32)
    """
    from scipy import ndimage

    mask = np.asarray(mask) != 0
    if outside not in OUTSIDE:
        raise ValueError(f"outside must be one of {OUTSIDE}, got {outside!r}")
    if outside == "background":
        inner = (slice(1, -1),) * mask.ndim
        return ndimage.distance_transform_cdt(np.pad(mask, 1), metric="taxicab")[inner].astype(np.int32)
    if mask.all():  # nothing to erode from
        return np.full(mask.shape, no_background_depth(mask.shape), np.int32)
    return ndimage.distance_transform_cdt(mask, metric="taxicab").astype(np.int32)


def no_background_depth(shape) -> int:
    """Depth given to every pixel of an image without background (``outside="foreground"``)."""
    return int(sum(shape)) + 2


def city_block_depth_torch(x, outside: str = "foreground"):
    """:func:`city_block_depth` of each item of a bool tensor (B, 1, *spatial); int64 (B, *spatial), same device.

    On the CPU it runs the numpy transform per item; elsewhere it counts the
    cross erosions each pixel survives, on the device.
    """
    import torch

    if x.device.type == "cpu":
        return torch.stack([torch.from_numpy(city_block_depth(m, outside).astype(np.int64)) for m in x[:, 0].numpy()])
    if outside == "background":
        import torch.nn.functional as F

        inner = (slice(None),) + (slice(1, -1),) * (x.ndim - 2)
        return _depth_by_erosion(F.pad(x, (1, 1) * (x.ndim - 2)))[inner]
    return _depth_by_erosion(x)


def _depth_by_erosion(x):
    import torch

    from .morphology import erode_cross

    none = no_background_depth(x.shape[2:])
    level, depth = x.to(torch.float32), torch.zeros(x.shape, dtype=torch.int64, device=x.device)
    for _ in range(none):
        if not bool(level.any()):
            break
        depth += level.to(torch.int64)
        nxt = erode_cross(level)
        if torch.equal(nxt, level):  # no background: never empties
            depth[level > 0] = none
            break
        level = nxt
    return depth[:, 0]
