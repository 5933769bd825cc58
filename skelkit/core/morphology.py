"""Min/max morphology on torch tensors (B, C, H, W) or (B, C, D, H, W).

Works on hard {0, 1} and soft [0, 1] maps alike, on any device, and is
differentiable (sub-gradients of min/max), which the soft skeleton, Skelite and
the clDice loss rely on. Built from shifted element-wise min/max rather than
``max_pool``: the same values, 5-7x faster on CPU for one-channel maps.
"""

from __future__ import annotations

import torch


def _extreme3(x: torch.Tensor, axis: int, op) -> torch.Tensor:
    """``op`` (torch.minimum / torch.maximum) over each point and its two neighbours along ``axis``.

    The edge is replicated, which for min/max is the same as padding with the
    neutral element: outside the image never wins.
    """
    n = x.shape[axis]
    if n == 1:
        return x
    before = torch.cat([x.narrow(axis, 0, 1), x.narrow(axis, 0, n - 1)], axis)
    after = torch.cat([x.narrow(axis, 1, n - 1), x.narrow(axis, n - 1, 1)], axis)
    return op(op(before, x), after)


def erode_cross(x: torch.Tensor) -> torch.Tensor:
    """Erosion by the cross-shaped structuring element (4-neighbourhood in 2D, 6 in 3D).

    Outside the image counts as foreground, so the border does not erode
    shapes that leave the image; this matches the clDice reference behaviour
    (min-pooling with infinite padding).
    """
    out = None
    for axis in range(2, x.ndim):
        e = _extreme3(x, axis, torch.minimum)
        out = e if out is None else torch.minimum(out, e)
    return out


def dilate_square(x: torch.Tensor) -> torch.Tensor:
    """Dilation by the full 3x3 (3x3x3) square (separable: one pass per axis)."""
    for axis in range(2, x.ndim):
        x = _extreme3(x, axis, torch.maximum)
    return x


def open_soft(x: torch.Tensor) -> torch.Tensor:
    """Opening: cross erosion then square dilation (as in the clDice soft skeleton)."""
    return dilate_square(erode_cross(x))
