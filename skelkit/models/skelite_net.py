"""Skelite's network and its iterative loop (2D and 3D); the method functions are in :mod:`skelkit.models.skelite`.

One iteration looks at the two-pixel shell of the current erosion level and
lets a tiny CNN decide which shell pixels to delete from the skeleton estimate:

.. code-block:: text

    band = C - erode(erode(C))              # cross erosions
    D    = sigmoid(g([band, C, S])) * band  # deletions, only inside the band
    S    = S - D
    C    = erode(erode(C))                  # start: C = S = input

``g`` is four 3x3 (3x3x3) convolutions 3->32->64->32->1 with ReLU. The loop
runs until ``C`` is empty (or ``num_iter`` times), so any width is handled.
With ``hard=True`` the input and the deletions are binarised at 0.5 with
straight-through steps, so the output is binary yet differentiable. The
input's step passes gradient only to the pixels it keeps (``x > 0.5``): an
identity step would hand every background pixel a gradient through the
skeleton it never joins (inside clDice's precision term that was most of the
gradient, the same for every background pixel whatever its probability).

Beyond the paper, ``guard=True`` accepts a deletion only where the pixel is
simple and not an end point, direction by direction and one subfield at a
time (:func:`skelkit.core.sweep_torch.sweep_delete`), as the exact thinning does,
so the topology of the input is kept by construction. ``sparse=True``
evaluates ``g`` only near the band by gathering neighbourhoods (same numbers
as the dense path, a fraction of the work; training uses it too);
``sparse=False`` is the dense reference.

The image border is background by default (``border="background"``: the
input gets a two-pixel background frame), so a structure that leaves the
image ends there, as in exact thinning; ``border="continue"`` keeps the
erosions' convention that the outside is foreground, right for crops of a
larger image (training).

References
----------
.. [1] Reyes Vargas, M., Menten, M. J., Paetzold, J. C., Navab, N., Azampour,
   M. F. "Skelite: Compact Neural Networks for Efficient Iterative
   Skeletonization", IPMI 2025.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .._compat import renamed
from ..core.autograd import binarise_kept, straight_through
from ..core.depth import city_block_depth, no_background_depth
from ..core.geometry import BORDER_PAD, crop_border, pad_border
from ..core.morphology import erode_cross
from ..core.neighbours import flat_strides, padded_flat_torch, subfield_ids
from ..core.sweep_torch import sweep_delete
from ..errors import SkelkitError

CHANNELS = (3, 32, 64, 32, 1)
N_CONV = len(CHANNELS) - 1
#: Subfield sweeps per iteration of the topology guard.
GUARD_SWEEPS = 2
BORDERS = ("background", "continue")


def reach_per_iter(dim: int, guard: bool = False) -> int:
    """Chebyshev radius that one Skelite iteration depends on.

    Two cross erosions (1 each) plus the receptive field of the conv stack
    (1 per 3x3 layer). With ``guard``, each sequential pass of the guard can
    chain one more pixel: :data:`GUARD_SWEEPS` sweeps x directions (4 in 2D,
    6 in 3D) x subfields (4 in 2D, 8 in 3D).

    Parameters
    ----------
    dim : {2, 3}
    guard : bool

    Returns
    -------
    radius : int
        6 without guard; 38 (2D) or 102 (3D) with it (a loose bound).
    """
    if dim not in (2, 3):
        raise SkelkitError(f"dim must be 2 or 3, got {dim}")
    passes = GUARD_SWEEPS * (4 * 4 if dim == 2 else 6 * 8)
    return 2 + N_CONV + (passes if guard else 0)


def iters_for(mask, border: str = "background") -> int:
    """Iterations needed to empty the erosion level ``C`` of a binary mask.

    Each iteration removes two cross-erosion layers, so this is
    ``ceil(d / 2)`` for the largest city-block depth ``d`` of the mask.

    Parameters
    ----------
    mask : array_like of bool, shape (H, W) or (D, H, W)
    border : {"background", "continue"}
        As in :meth:`Skelite.forward`: whether the outside of the image counts
        as background or (as in :func:`erode_cross`) as foreground.

    Returns
    -------
    n : int
    """
    check_border(border)
    depth = city_block_depth(mask, "background" if border == "background" else "foreground")
    return int(math.ceil(depth.max(initial=0) / 2))


def max_iters(spatial) -> int:
    """Iterations that empty any erosion level of an image of shape ``spatial`` (an upper bound)."""
    return int(math.ceil(no_background_depth(spatial) / 2))


def check_border(border: str) -> None:
    if border not in BORDERS:
        raise SkelkitError(f"border must be one of {', '.join(BORDERS)}, got {border!r}")


class SkeliteNet(nn.Module):
    """The deletion network ``g``: 3x3 (3x3x3) convs 3->32->64->32->1 with ReLU.

    Parameters
    ----------
    dim : {2, 3}

    Input (B, 3, H, W[, D]) = [band, C, S]; output logits (B, 1, H, W[, D]).
    """

    def __init__(self, dim: int = 2):
        super().__init__()
        if dim not in (2, 3):
            raise SkelkitError(f"dim must be 2 or 3, got {dim}")
        self.dim = dim
        conv = nn.Conv2d if dim == 2 else nn.Conv3d
        self.convs = nn.ModuleList(conv(a, b, 3, padding=1) for a, b in zip(CHANNELS[:-1], CHANNELS[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, c in enumerate(self.convs):
            x = c(x)
            if i < N_CONV - 1:
                x = F.relu(x)
        return x

    def sparse_forward(self, x: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
        """Logits at ``where`` only, identical to :meth:`forward` there (zero elsewhere).

        Each layer is evaluated on the positions the next layer needs (``where``
        dilated by the remaining layers), by gathering 3x3 (3x3x3)
        neighbourhoods from the previous layer's compact output and one matrix
        product. Out-of-image neighbours read a zero row: the dense path's zero
        padding.

        Parameters
        ----------
        x : torch.Tensor, shape (B, 3, *spatial)
        where : torch.Tensor of bool, shape (B, 1, *spatial)
        """
        spatial = x.shape[2:]
        need = [where]
        for _ in range(N_CONV - 1):
            need.append(_dilate_bool(need[-1]))
        need = need[::-1]  # positions for layers 1..4
        padded = tuple(s + 2 for s in spatial)
        strides = [int(np.prod(padded[i + 1 :])) for i in range(len(padded))]
        offs = torch.tensor(
            [sum(d * s for d, s in zip(o, strides)) for o in itertools.product((-1, 0, 1), repeat=self.dim)],
            device=x.device,
        )
        # index map over the padded grid: row of the previous layer's compact features (last row = zeros)
        b = x.shape[0]
        feats = torch.cat([x.movedim(1, -1).reshape(-1, x.shape[1]), x.new_zeros(1, x.shape[1])])
        grid = torch.full((b,) + padded, feats.shape[0] - 1, dtype=torch.long, device=x.device)
        inner = (slice(None),) + tuple(slice(1, -1) for _ in spatial)
        grid[inner] = torch.arange(b * int(np.prod(spatial)), device=x.device).reshape((b,) + tuple(spatial))
        flat_inner = torch.arange(grid.numel(), device=x.device).reshape(grid.shape)[inner]
        for i, conv in enumerate(self.convs):
            centres = flat_inner[need[i][:, 0]]
            rows = grid.reshape(-1).index_select(0, (centres[:, None] + offs[None, :]).reshape(-1))  # (n * 3^dim,)
            feats = conv_rows(conv, feats, rows, relu=i < N_CONV - 1)
            grid = torch.full_like(grid, feats.shape[0] - 1)
            grid.reshape(-1)[centres] = torch.arange(len(centres), device=x.device)
        logits = x.new_zeros((b,) + tuple(spatial))
        logits = logits.masked_scatter(need[-1][:, 0], feats[:-1, 0])
        return logits[:, None]


def conv_rows(conv, feats: torch.Tensor, rows: torch.Tensor, relu: bool) -> torch.Tensor:
    """One 3x3 (3x3x3) convolution evaluated at gathered positions.

    Parameters
    ----------
    conv : nn.Conv2d or nn.Conv3d
    feats : torch.Tensor, shape (n_in + 1, cin)
        The previous layer's values at its positions; the last row is zeros
        (what out-of-image neighbours read, as the dense zero padding).
    rows : torch.Tensor of int64, shape (n_out * 3^dim,)
        For each output position, the rows of its neighbours in ``feats``,
        in ``itertools.product((-1, 0, 1), repeat=dim)`` order.

    Returns
    -------
    out : torch.Tensor, shape (n_out + 1, cout), last row zeros
    """
    cin, cout = conv.in_channels, conv.out_channels
    k = conv.weight[0, 0].numel()
    if cout < cin:
        # narrow output: multiply every input row by every tap first, then gather cout-wide rows
        w = conv.weight.reshape(cout, cin, k).permute(1, 2, 0).reshape(cin, k * cout)
        prod = (feats @ w).reshape(-1, cout)
        taps = torch.arange(k, device=feats.device)
        out = prod.index_select(0, (rows.reshape(-1, k) * k + taps).reshape(-1)).reshape(-1, k, cout).sum(1)
        out = out + conv.bias
    else:  # im2col on the gathered neighbourhoods
        w = conv.weight.movedim(1, -1).reshape(cout, k * cin)  # tap-major, like the gather
        out = torch.addmm(conv.bias, feats.index_select(0, rows).reshape(-1, k * cin), w.t())
    if relu:
        out = F.relu(out)
    return torch.cat([out, out.new_zeros(1, cout)])


class Skelite(nn.Module):
    """Iterative learned thinning: ``g`` applied to successive two-pixel shells.

    Parameters
    ----------
    dim : {2, 3}

    Examples
    --------
    >>> import torch
    >>> m = Skelite(2)
    >>> x = torch.zeros(1, 1, 16, 16); x[..., 4:12, 3:13] = 1
    >>> m(x).shape
    torch.Size([1, 1, 16, 16])
    """

    def __init__(self, dim: int = 2):
        super().__init__()
        self.dim = dim
        self.g = SkeliteNet(dim)

    @renamed(iters="num_iter")
    def forward(self, x, num_iter=None, *, hard=True, guard=False, sparse=False, trace=None, border="background"):
        """Skeletonize a batch.

        Parameters
        ----------
        x : torch.Tensor, shape (B, 1, H, W) or (B, 1, D, H, W), float in [0, 1]
        num_iter : int, optional
            Number of iterations; default: until the erosion level is empty.
        hard : bool
            Binarise input and deletions at 0.5 (straight-through gradients);
            ``False`` runs the paper's soft recurrence.
        guard : bool
            Accept only deletions of simple, non-end pixels, direction by
            direction and subfield by subfield (needs ``hard``).
        sparse : bool
            Evaluate ``g`` only near the band (same result, faster).
        trace : list, optional
            If given, ``(band, prob)`` of every iteration is appended to it
            (for per-step losses).
        border : {"background", "continue"}
            ``"background"``: the outside of the image is background (a
            structure leaving the image ends there, as in exact thinning).
            ``"continue"``: the erosions treat the outside as foreground, as
            for a crop of a larger image (training crops, chunk interiors).
            With ``"background"``, ``trace`` holds tensors of the framed image
            (:data:`BORDER_PAD` more pixels on every side).

        Returns
        -------
        skeleton : torch.Tensor, same shape, dtype and device as ``x``
            Binary (with straight-through gradient) if ``hard``, else soft.
        """
        if x.ndim != self.dim + 2 or x.shape[1] != 1:
            raise SkelkitError(f"Skelite({self.dim}D) expects (B, 1, {'D, ' if self.dim == 3 else ''}H, W), got {tuple(x.shape)}")
        if guard and not hard:
            raise SkelkitError("guard=True needs hard=True (guarded deletions are binary decisions)")
        check_border(border)
        if border == "background":
            out = self.forward(pad_border(x), num_iter, hard=hard, guard=guard, sparse=sparse, trace=trace,
                               border="continue")
            return crop_border(out)
        if hard:
            x = binarise_kept(x)
        n_max = max_iters(x.shape[2:]) if num_iter is None else int(num_iter)
        C = S = x
        for _ in range(n_max):
            if num_iter is None and not bool((C > 0).any()):
                break
            C2 = erode_cross(erode_cross(C))
            band = C - C2
            if not bool((band > 0).any()):  # C == erode(C): a fixed point (empty or all foreground)
                break
            inp = torch.cat([band, C, S], 1)
            logits = self.g.sparse_forward(inp, band > 0) if sparse else self.g(inp)
            prob = torch.sigmoid(logits)
            if trace is not None:
                trace.append((band, prob))
            D = prob * band
            if hard:
                cand = (prob > 0.5) & (band > 0.5)
                if guard:
                    cand = _guarded(cand, S > 0.5)
                # forward: the accepted 0/1 deletions; gradient through accepted ones
                D = straight_through(D, cand.to(D.dtype))
            S = S - D
            C = C2
        return S


def _dilate_bool(m: torch.Tensor) -> torch.Tensor:
    """Dilation of a bool tensor (B, 1, *spatial) by the 3x3(x3) square, by shifts (much cheaper than pooling)."""
    for ax in range(2, m.ndim):
        n = m.shape[ax]
        out = m.clone()
        out.narrow(ax, 1, n - 1).logical_or_(m.narrow(ax, 0, n - 1))
        out.narrow(ax, 0, n - 1).logical_or_(m.narrow(ax, 1, n - 1))
        m = out
    return m


def _guarded(cand: torch.Tensor, alive: torch.Tensor) -> torch.Tensor:
    """Subset of ``cand`` that can be deleted from ``alive`` without changing topology.

    Candidates are visited like the exact thinning visits border points
    (:func:`skelkit.core.sweep_torch.sweep_delete`): per border direction, then
    subfield by subfield; one subfield's simple, non-end candidates are
    deleted together. Peeling side by side keeps a half-deleted band from
    leaving spurs (end points that could never be deleted later). The band is
    two pixels thick, so directions are swept :data:`GUARD_SWEEPS` times.

    Parameters
    ----------
    cand, alive : torch.Tensor of bool, shape (B, 1, *spatial)

    Returns
    -------
    accepted : torch.Tensor of bool, same shape, a subset of ``cand & alive``
    """
    spatial = tuple(alive.shape[2:])
    flat, index, _ = padded_flat_torch(alive[:, 0])  # outside is background
    strides = flat_strides(tuple(n + 2 for n in spatial)).tolist()
    sub_id = torch.from_numpy(subfield_ids(spatial)).to(alive.device)
    sel = (cand & alive)[:, 0]
    sweep_delete(flat, index[sel], sub_id.expand(sel.shape)[sel], strides, GUARD_SWEEPS)
    return alive & (flat[index] == 0)[:, None]
