"""The direction-by-subfield deletion sweep of exact thinning, on torch tensors (any device).

One sweep visits the border directions in thinning's order
(:data:`skelkit.core.neighbours.DIRECTIONS`); per direction, the pending
pixels whose neighbour in that direction is background are taken subfield by
subfield, and a subfield's simple, non-end pixels are deleted together. Pixels
of one subfield are not adjacent, so every deletion is a sequence of simple
deletions and the topology is kept. The numpy counterpart is
:class:`skelkit.core.thinning._Thinner`.
"""

from __future__ import annotations

import numpy as np
import torch

from .neighbours import DIRECTIONS, OFFSETS, gather_codes_torch
from .simple import deletable_torch


def sweep_delete(flat: torch.Tensor, pending: torch.Tensor, pending_sub: torch.Tensor, strides, sweeps: int = 1) -> None:
    """Delete, in place, the pending pixels that the sweep can delete without changing topology.

    Parameters
    ----------
    flat : torch.Tensor of uint8, shape (N,)
        The image (batch included), padded by one background pixel on every
        spatial side and flattened; deletions are written into it.
    pending : torch.Tensor of int64
        Flat indices of the candidates (all foreground).
    pending_sub : torch.Tensor
        Subfield of each candidate (:func:`skelkit.core.neighbours.subfield_ids`).
    strides : sequence of int
        Flat strides of the padded spatial axes.
    sweeps : int
        Sweeps over all directions; stops early when one deletes nothing.
    """
    nd = len(strides)
    nb_off = torch.from_numpy(OFFSETS[nd] @ np.asarray(strides, np.intp)).to(flat.device)
    directions = [step * strides[axis] for axis, step in DIRECTIONS[nd]]
    for _ in range(sweeps):
        n_before = len(pending)
        for d in directions:
            on_border = flat[pending + d] == 0
            border, border_sub = pending[on_border], pending_sub[on_border]
            for k in range(1 << nd):
                c = border[border_sub == k]
                if len(c):
                    flat[c[deletable_torch(gather_codes_torch(flat, c, nb_off), nd)]] = 0
            keep = flat[pending] == 1
            pending, pending_sub = pending[keep], pending_sub[keep]
        if len(pending) == n_before or len(pending) == 0:
            break
