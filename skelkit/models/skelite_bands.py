"""Skelite inference whose work follows the band, not the image.

The training-time loop (:meth:`skelkit.models.skelite_net.Skelite.forward`) erodes
the whole image twice per iteration and builds whole-image index maps, so a
large image with wide structures costs (pixels x iterations). Without
gradients the same binary result is computed here in time about proportional
to the foreground:

* The erosion levels are the level sets of one distance map: with ``d`` the
  city-block distance to the nearest in-image background pixel (the erosion
  treats the outside as foreground), ``erode^j(x) = {d > j}``, so iteration
  ``k`` has ``C = {d > 2k}`` and ``band = {d in (2k, 2k + 2]}``.
* ``g`` is evaluated at the band, layer ``l`` at the band dilated by
  ``4 - l``; neighbour rows are looked up in one whole-image scratch map that
  is written and cleared only at the positions in play.
* The guard runs on one persistent flat image.

The result equals ``Skelite.forward(x, hard=True)`` (tested).
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
import torch.nn.functional as F

from ..core.depth import city_block_depth_torch
from ..core.geometry import crop_border, pad_border
from ..core.neighbours import subfield_ids
from ..core.sweep_torch import sweep_delete
from .skelite_net import GUARD_SWEEPS, N_CONV, Skelite, check_border, conv_rows, max_iters


class _Lookup:
    """A whole-image int64 scratch map, all -1 between uses, touched only at the positions in play."""

    def __init__(self, size: int, device):
        self.map = torch.full((size,), -1, dtype=torch.int64, device=device)

    def dilate(self, pos: torch.Tensor, offs: torch.Tensor, inside: torch.Tensor) -> torch.Tensor:
        """Positions within one step (3x3 / 3x3x3) of ``pos`` that lie in the image, each once."""
        near = (pos[:, None] + offs[None, :]).reshape(-1)
        near = near[inside[near]]
        stamp = torch.arange(len(near), device=near.device)
        self.map[near] = stamp  # of duplicates, exactly one stamp survives
        keep = self.map[near] == stamp
        self.map[near] = -1
        return near[keep]

    def rows(self, pos: torch.Tensor, prev: torch.Tensor, offs: torch.Tensor) -> torch.Tensor:
        """Row in ``prev`` of every neighbour of ``pos``; ``len(prev)`` (the zero row) where absent."""
        self.map[prev] = torch.arange(len(prev), device=prev.device)
        r = self.map[(pos[:, None] + offs[None, :]).reshape(-1)]
        self.map[prev] = -1
        return torch.where(r < 0, len(prev), r)


#: Band pixels evaluated together: caps the gathered features at a few hundred MB.
_SLAB = {2: 1 << 16, 3: 1 << 13}


def _logits(g, band, k, depth, alive, offs, inside, lookup, dtype) -> torch.Tensor:
    """Logits of ``g`` at the flat positions ``band`` in iteration ``k``."""
    need = [band]
    for _ in range(N_CONV):
        need.append(lookup.dilate(need[-1], offs, inside))
    need = need[::-1]  # need[0]: input positions, need[l]: where layer l is evaluated
    d0 = depth[need[0]]
    feats = torch.stack([(d0 > 2 * k) & (d0 <= 2 * k + 2), d0 > 2 * k, alive[need[0]] > 0], 1).to(dtype)
    feats = torch.cat([feats, feats.new_zeros(1, 3)])
    for i, conv in enumerate(g.convs):
        feats = conv_rows(conv, feats, lookup.rows(need[i + 1], need[i], offs), relu=i < N_CONV - 1)
    return feats[:-1, 0]


@torch.no_grad()
def skeletonize_bands(model: Skelite, x: torch.Tensor, num_iter: int | None = None, guard: bool = False,
                      border: str = "background") -> torch.Tensor:
    """Hard Skelite skeleton of a batch, computed band by band (no gradients).

    Parameters
    ----------
    model : Skelite
    x : torch.Tensor of bool, shape (B, 1, *spatial)
    num_iter : int, optional
        As in :meth:`Skelite.forward`.
    guard : bool
        As in :meth:`Skelite.forward`.
    border : {"background", "continue"}
        As in :meth:`Skelite.forward`.

    Returns
    -------
    skeleton : torch.Tensor of bool, same shape as ``x``
    """
    check_border(border)
    if border == "background":
        return crop_border(skeletonize_bands(model, pad_border(x), num_iter, guard, border="continue"))
    dev, b, spatial = x.device, x.shape[0], tuple(x.shape[2:])
    nd = len(spatial)
    padded = (b,) + tuple(n + 2 for n in spatial)
    strides = [int(np.prod(padded[a + 1 :])) for a in range(1, nd + 1)]
    offs = torch.tensor([int(np.dot(o, strides)) for o in itertools.product((-1, 0, 1), repeat=nd)], device=dev)
    pad = (1, 1) * nd
    depth = F.pad(city_block_depth_torch(x), pad).reshape(-1)  # margin: depth 0, reads as background
    alive = F.pad(x[:, 0].to(torch.uint8), pad).reshape(-1)
    inside = F.pad(torch.ones((b,) + spatial, dtype=torch.bool, device=dev), pad).reshape(-1)
    sub = F.pad(torch.from_numpy(subfield_ids(spatial)).to(dev).expand((b,) + spatial), pad).reshape(-1)

    lookup = _Lookup(depth.numel(), dev)
    fg = torch.nonzero(depth).reshape(-1)
    level, order = torch.sort(depth[fg], stable=True)
    fg = fg[order]
    n = max_iters(spatial) if num_iter is None else int(num_iter)
    dtype = next(model.parameters()).dtype
    for k in range(n):
        lo, hi = torch.searchsorted(level, torch.tensor([2 * k + 1, 2 * k + 3], device=dev)).tolist()
        if lo == hi:  # empty band: C is empty (or has no background and never erodes)
            break
        # Slabs of the band (sorted flat order) bound the memory of the gathered
        # features; each slab recomputes a thin halo, the logits are the same.
        band = torch.sort(fg[lo:hi]).values
        logits = torch.cat([_logits(model.g, part, k, depth, alive, offs, inside, lookup, dtype)
                            for part in band.split(_SLAB[nd])])
        cand = band[torch.sigmoid(logits) > 0.5]
        if guard:
            sweep_delete(alive, cand, sub[cand], strides, GUARD_SWEEPS)
        else:
            alive[cand] = 0
    inner = (slice(None),) + tuple(slice(1, -1) for _ in spatial)
    return (alive.reshape(padded)[inner] > 0)[:, None]
