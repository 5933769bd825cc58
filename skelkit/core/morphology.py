"""Min/max morphology on torch tensors (B, C, H, W) or (B, C, D, H, W).

Works on hard {0, 1} and soft [0, 1] maps alike, on any device, and is
differentiable (sub-gradients of min/max), which the soft skeleton, Skelite and
the clDice loss rely on.

Two evaluations give the same values: ``max_pool`` when autograd records (its
backward is cheaper than that of the shifted form below), and shifted
element-wise min/max otherwise (a faster forward on CPU for one-channel maps).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _records(x: torch.Tensor) -> bool:
    return x.requires_grad and torch.is_grad_enabled()


def _pool_max(x: torch.Tensor, kernel) -> torch.Tensor:
    pad = tuple(k // 2 for k in kernel)
    if x.ndim == 4:
        return F.max_pool2d(x, kernel, stride=1, padding=pad)
    return F.max_pool3d(x, kernel, stride=1, padding=pad)


def _axis_kernels(ndim: int):
    """One 3-long kernel per spatial axis: their min is the cross (4/6-neighbour) erosion."""
    n = ndim - 2
    return [tuple(3 if a == i else 1 for a in range(n)) for i in range(n)]


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

    Outside the image counts as foreground (min-pooling with infinite
    padding), so the border does not erode shapes that leave the image; this
    matches the clDice reference behaviour.
    """
    if _records(x):
        return torch.stack([-_pool_max(-x, k) for k in _axis_kernels(x.ndim)]).amin(0)
    out = None
    for axis in range(2, x.ndim):
        e = _extreme3(x, axis, torch.minimum)
        out = e if out is None else torch.minimum(out, e)
    return out


def dilate_square(x: torch.Tensor) -> torch.Tensor:
    """Dilation by the full 3x3 (3x3x3) square."""
    if _records(x):
        return _pool_max(x, (3,) * (x.ndim - 2))
    for axis in range(2, x.ndim):  # separable: one pass per axis
        x = _extreme3(x, axis, torch.maximum)
    return x


def open_soft(x: torch.Tensor) -> torch.Tensor:
    """Opening: cross erosion then square dilation (as in the clDice soft skeleton)."""
    return dilate_square(erode_cross(x))
