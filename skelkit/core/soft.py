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

from .morphology import erode_cross, open_soft


def soft_skeleton(x: torch.Tensor, iters: int = 10) -> torch.Tensor:
    """Soft skeleton of a probability map.

    Parameters
    ----------
    x : torch.Tensor, shape (B, C, H, W) or (B, C, D, H, W), float in [0, 1]
    iters : int
        Erosion levels; covers structures up to about ``2 * iters`` pixels wide.

    Returns
    -------
    skel : torch.Tensor, same shape and device as ``x``, values in [0, 1]
    """
    skel = F.relu(x - open_soft(x))
    for _ in range(iters):
        x = erode_cross(x)
        delta = F.relu(x - open_soft(x))
        skel = skel + F.relu(delta - skel * delta)
    return skel
