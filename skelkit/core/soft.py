"""Soft skeleton of the clDice loss.

Iterated min-pool erosions and max-pool openings accumulate the part of each
erosion level that an opening removes. Differentiable, any device, 2D and 3D.

References
----------
.. [1] Shit, S., Paetzold, J. C., et al. "clDice - a Novel Topology-Preserving
   Loss Function for Tubular Structure Segmentation", CVPR 2021.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._compat import renamed
from .morphology import erode_cross, open_soft


@renamed(iters="num_iter")
def soft_skeleton(x: torch.Tensor, num_iter: int = 10) -> torch.Tensor:
    """Soft skeleton of a probability map.

    Parameters
    ----------
    x : torch.Tensor, shape (B, C, H, W) or (B, C, D, H, W), float in [0, 1]
    num_iter : int
        Erosion levels; covers structures up to about ``2 * num_iter`` pixels wide.

    Returns
    -------
    skel : torch.Tensor, same shape and device as ``x``, values in [0, 1]
    """
    skel = F.relu(x - open_soft(x))
    for _ in range(num_iter):
        x = erode_cross(x)
        delta = F.relu(x - open_soft(x))
        skel = skel + F.relu(delta - skel * delta)
    return skel


def soft_skeleton_tensor(x: torch.Tensor, num_iter: int = 10) -> torch.Tensor:
    """:func:`soft_skeleton` of a (B, 1, ...) tensor of any dtype (non-float input is cast to float32)."""
    return soft_skeleton(x if x.is_floating_point() else x.float(), num_iter)


def soft_skeleton_numpy(mask, num_iter: int = 10):
    """Soft skeleton of a bool array, thresholded at 0.5; bool array, same shape."""
    import numpy as np

    x = torch.from_numpy(np.asarray(mask, np.float32))[None, None]
    with torch.no_grad():
        return (soft_skeleton(x, num_iter)[0, 0] > 0.5).numpy()


def chunk_reach(ndim: int, num_iter: int = 10) -> dict:
    """Reach for chunked runs: level ``i`` erodes ``i`` times (reach ``i``), then opens (reach 2)."""
    return {"reach": int(num_iter) + 2}
