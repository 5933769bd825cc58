"""Min/max-pool morphology on torch tensors (B, C, H, W) or (B, C, D, H, W).

Works on hard {0, 1} and soft [0, 1] maps alike, on any device, and is
differentiable (sub-gradients of min/max), which the soft skeleton, Skelite and
the clDice loss rely on.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _pool_max(x: torch.Tensor, kernel) -> torch.Tensor:
    pad = tuple(k // 2 for k in kernel)
    if x.ndim == 4:
        return F.max_pool2d(x, kernel, stride=1, padding=pad)
    return F.max_pool3d(x, kernel, stride=1, padding=pad)


def _axis_kernels(ndim: int):
    """One 3-long kernel per spatial axis: their min is the cross (4/6-neighbour) erosion."""
    n = ndim - 2
    return [tuple(3 if a == i else 1 for a in range(n)) for i in range(n)]


def erode_cross(x: torch.Tensor) -> torch.Tensor:
    """Erosion by the cross-shaped structuring element (4-neighbourhood in 2D, 6 in 3D).

    Outside the image counts as foreground (max-pool pads with -inf), so the
    border does not erode shapes that leave the image; this matches the clDice
    reference behaviour.
    """
    return torch.stack([-_pool_max(-x, k) for k in _axis_kernels(x.ndim)]).amin(0)


def dilate_square(x: torch.Tensor) -> torch.Tensor:
    """Dilation by the full 3x3 (3x3x3) square."""
    return _pool_max(x, (3,) * (x.ndim - 2))


def open_soft(x: torch.Tensor) -> torch.Tensor:
    """Opening: cross erosion then square dilation (as in the clDice soft skeleton)."""
    return dilate_square(erode_cross(x))
