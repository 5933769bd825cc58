"""Exact thinning of torch tensors on their own device, bit-identical to :func:`skelkit.core.thinning.thin`.

The same active-set sweep as the numpy implementation, in torch operations
on a flat, zero-padded copy of the batch (every item padded, so neighbours
never cross items): per iteration and border direction, the candidates are
the border pixels whose neighbour in that direction is background at the
start of the direction's pass; subfield by subfield, the deletable ones
(:func:`skelkit.core.simple.deletable_torch`; lookup tables kept on the
device) are deleted; the border then loses the deleted pixels and gains
their interior face neighbours. Items of a batch run together until every
one has converged.

On the CPU, :func:`exact_torch` hands the work to the numpy path (the compiled
kernel, without copies), which is faster there; elsewhere the sweep runs on
the device, so a loss computing exact skeletons of CUDA tensors never leaves
the GPU.
"""

from __future__ import annotations

import numpy as np
import torch

from .autograd import straight_through
from .depth import city_block_depth_torch
from .host import from_host, host_masks
from .neighbours import DIRECTIONS, FACE_OFFSETS, flat_strides, gather_codes_torch, padded_flat_torch, subfield_ids
from .simple import deletable_torch


def thin_torch(x: torch.Tensor, max_num_iter: int | None = None, by_depth: bool = False) -> torch.Tensor:
    """Exact thinning of a batch on its device (the result equals :func:`thin` item by item).

    Parameters
    ----------
    x : torch.Tensor, shape (B, 1, H, W) or (B, 1, D, H, W)
        Foreground where ``x > 0.5`` (or True).
    max_num_iter : int, optional
        Iterations (stages with ``by_depth``); default until nothing changes.
    by_depth : bool
        Peel in depth order (see :func:`skelkit.core.thinning.thin`).

    Returns
    -------
    skeleton : torch.Tensor of bool, same shape and device
    """
    fg = (x > 0.5) if x.dtype != torch.bool else x
    fg = fg[:, 0]
    nd = fg.ndim - 1
    flat, index, nb_off = padded_flat_torch(fg)
    pshape = (fg.shape[0],) + tuple(n + 2 for n in fg.shape[1:])
    strides = flat_strides(pshape)[1:]
    face = torch.from_numpy(FACE_OFFSETS[nd] @ strides).to(fg.device)
    directions = [int(step * strides[axis]) for axis, step in DIRECTIONS[nd]]
    sub = torch.from_numpy(subfield_ids(tuple(fg.shape[1:]))).to(fg.device)
    subfield = torch.zeros(flat.numel(), dtype=torch.uint8, device=fg.device)
    subfield[index.reshape(-1)] = sub.expand(fg.shape).reshape(-1)
    pix = index[fg]
    on_border = torch.zeros(pix.numel(), dtype=torch.bool, device=fg.device)
    for f in face.tolist():
        on_border |= flat[pix + f] == 0
    border = pix[on_border]
    interior = torch.zeros(flat.numel(), dtype=torch.bool, device=fg.device)
    interior[pix[~on_border]] = True
    state = (flat, border, interior, subfield, nb_off, face, directions, nd)
    if not by_depth:
        done = 0
        while max_num_iter is None or done < max_num_iter:
            n, border = _iterate(state, border, None)
            done += 1
            if n == 0:
                break
    else:
        depth = city_block_depth_torch(fg[:, None], outside="background")
        stage = torch.zeros(flat.numel(), dtype=torch.int64, device=fg.device)
        stage[index.reshape(-1)] = ((depth + 1) // 2).reshape(-1)
        n_stages = int(stage.max()) if stage.numel() else 0
        for k in range(n_stages if max_num_iter is None else min(n_stages, max_num_iter)):
            allowed = None if k == n_stages - 1 else stage == k + 1
            while True:
                n, border = _iterate(state, border, allowed)
                if n == 0:
                    break
    return (flat[index] > 0)[:, None]


def _iterate(state, border, allowed):
    """One iteration (every direction, every subfield); returns (pixels deleted, new border)."""
    flat, _, interior, subfield, nb_off, face, directions, nd = state
    total = 0
    for d in directions:
        cand = border[flat[border + d] == 0]
        if allowed is not None:
            cand = cand[allowed[cand]]
        if cand.numel() == 0:
            continue
        cls = subfield[cand]
        gone = []
        for k in range(1 << nd):
            c = cand[cls == k]
            if c.numel() == 0:
                continue
            g = c[deletable_torch(gather_codes_torch(flat, c, nb_off), nd)]
            if g.numel():
                flat[g] = 0
                gone.append(g)
        if not gone:
            continue
        gone = torch.cat(gone)
        total += int(gone.numel())
        new = [border[flat[border] == 1]]
        for f in face.tolist():  # interior face neighbours of the deleted join the border, once each
            nbrs = gone + f
            nbrs = nbrs[interior[nbrs]]
            interior[nbrs] = False
            new.append(nbrs)
        border = torch.cat(new)
    return total, border


def exact_torch(x, max_num_iter=None, by_depth=False, equivariant=False):
    """The ``exact`` method for tensors: skeleton on ``x``'s device, straight-through gradient to kept pixels.

    CPU tensors (and ``equivariant=True``, whose P-simple passes have no
    device version) run the numpy path item by item (float32 ones through
    :func:`skelkit.core.thinning.thin_values`); other devices run
    :func:`thin_torch` there. NaN input raises :class:`SkelkitError`
    (``Method.rejects_nan``).
    """
    from ..validate import reject_nan
    from .thinning import thin, thin_values

    if x.device.type == "cpu" and x.dtype == torch.float32 and not (by_depth or equivariant):
        out = np.zeros(x.shape, np.float32)  # thresholded (and NaN-checked) by the kernel as it reads x
        thin_values(x.detach()[:, 0].numpy(), out[:, 0], max_num_iter)
        hard = torch.from_numpy(out)
    else:
        reject_nan(x)
        if x.device.type == "cpu" or equivariant:
            hard = from_host((thin(m, max_num_iter, by_depth=by_depth, equivariant=equivariant)
                              for m in host_masks(x)), x)
        else:
            hard = thin_torch(x.detach(), max_num_iter, by_depth)
            hard = hard.to(x.dtype if x.is_floating_point() else torch.float32)
    return straight_through(x, hard) if x.is_floating_point() else hard
