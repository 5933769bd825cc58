"""Skelite: a compact learned iterative skeletonizer (2D and 3D), method ``"skelite"``.

One iteration looks at the two-pixel shell of the current erosion level and
lets a tiny CNN decide which shell pixels to delete from the skeleton estimate:

.. code-block:: text

    band = C - erode(erode(C))              # cross erosions
    D    = sigmoid(g([band, C, S])) * band  # deletions, only inside the band
    S    = S - D
    C    = erode(erode(C))                  # start: C = S = input

``g`` is four 3x3 (3x3x3) convolutions 3->32->64->32->1 with ReLU. The loop
runs until ``C`` is empty (or ``iters`` times), so any width is handled.
Inference binarises the deletions at 0.5 with a straight-through step, so the
output is binary yet differentiable.

Beyond the paper, ``guard=True`` accepts a deletion only where the pixel is
simple and not an end point (the test of :func:`skelkit.core.simple.removable`),
direction by direction and one subfield at a time, as the exact thinning does,
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

from ..api import Method, register, straight_through
from ..core.morphology import erode_cross
from ..errors import SkelkitError
from .checkpoints import load_state

CHANNELS = (3, 32, 64, 32, 1)
_N_CONV = len(CHANNELS) - 1
#: Subfield sweeps per iteration of the topology guard.
GUARD_SWEEPS = 2
#: Background frame added around the image for ``border="background"``. Two
#: pixels, not one: an even shift keeps each pixel's subfield (parity class).
BORDER_PAD = 2
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
    return 2 + _N_CONV + (passes if guard else 0)


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
    from scipy import ndimage

    mask = np.asarray(mask, bool)
    _check_border(border)
    if border == "background":
        mask = np.pad(mask, 1)
    if not mask.any():
        return 0
    if mask.all():
        return _max_iters(mask.shape)
    depth = ndimage.distance_transform_cdt(mask, metric="taxicab")
    return int(math.ceil(depth.max() / 2))


def _max_iters(spatial) -> int:
    return int(math.ceil(sum(spatial) / 2)) + 1


def _check_border(border: str) -> None:
    if border not in BORDERS:
        raise SkelkitError(f"border must be one of {', '.join(BORDERS)}, got {border!r}")


def pad_border(x: torch.Tensor) -> torch.Tensor:
    """``x`` (B, 1, *spatial) with a :data:`BORDER_PAD`-pixel background frame."""
    return F.pad(x, (BORDER_PAD, BORDER_PAD) * (x.ndim - 2))


def crop_border(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`pad_border`."""
    return x[(slice(None), slice(None)) + (slice(BORDER_PAD, -BORDER_PAD),) * (x.ndim - 2)]


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
            if i < _N_CONV - 1:
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
        for _ in range(_N_CONV - 1):
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
            feats = conv_rows(conv, feats, rows, relu=i < _N_CONV - 1)
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

    def forward(self, x, iters=None, *, hard=True, guard=False, sparse=False, trace=None, border="background"):
        """Skeletonize a batch.

        Parameters
        ----------
        x : torch.Tensor, shape (B, 1, H, W) or (B, 1, D, H, W), float in [0, 1]
        iters : int, optional
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
        _check_border(border)
        if border == "background":
            out = self.forward(pad_border(x), iters, hard=hard, guard=guard, sparse=sparse, trace=trace,
                               border="continue")
            return crop_border(out)
        if hard:
            x = straight_through_step(x)
        n_max = _max_iters(x.shape[2:]) if iters is None else int(iters)
        C = S = x
        for _ in range(n_max):
            if iters is None and not bool((C > 0).any()):
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


def straight_through_step(x: torch.Tensor) -> torch.Tensor:
    """``x > 0.5`` in the forward pass, identity gradient."""
    return x + ((x > 0.5).to(x.dtype) - x).detach()


def _guarded(cand: torch.Tensor, alive: torch.Tensor) -> torch.Tensor:
    """Subset of ``cand`` that can be deleted from ``alive`` without changing topology.

    Candidates are visited like the exact thinning visits border points: per
    border direction (2D: N, S, W, E; 3D: both directions of each axis), the
    candidates whose neighbour in that direction is background, then subfield
    by subfield (:func:`skelkit.core.simple.subfield_masks`); one subfield's
    simple, non-end candidates are deleted together. Peeling side by side
    keeps a half-deleted band from leaving spurs (end points that could never
    be deleted later). The band is two pixels thick, so directions are swept
    :data:`GUARD_SWEEPS` times. Only candidate pixels are examined.

    Parameters
    ----------
    cand, alive : torch.Tensor of bool, shape (B, 1, *spatial)

    Returns
    -------
    accepted : torch.Tensor of bool, same shape, a subset of ``cand & alive``
    """
    from ..core import simple

    nd = alive.ndim - 2
    spatial = tuple(alive.shape[2:])
    dev = alive.device
    padded = tuple(n + 2 for n in spatial)
    flat = F.pad(alive[:, 0].to(torch.uint8), (1, 1) * nd).reshape(-1)  # outside is background, as in simple
    strides = [int(np.prod(padded[a + 1 :])) for a in range(nd)]
    sub_id = torch.from_numpy(simple.subfield_ids(spatial)).to(dev)
    inner = (slice(None),) + tuple(slice(1, -1) for _ in spatial)
    index = torch.arange(flat.numel(), device=dev).reshape((alive.shape[0],) + padded)[inner]
    sel = (cand & alive)[:, 0]
    guard_delete(flat, index[sel], sub_id.expand(sel.shape)[sel], strides)
    return alive & (flat.reshape((alive.shape[0],) + padded)[inner] == 0)[:, None]


def guard_delete(flat: torch.Tensor, pending: torch.Tensor, pending_sub: torch.Tensor, strides) -> None:
    """The guard's sweeps on a flat, zero-padded 0/1 image (see :func:`_guarded`).

    Parameters
    ----------
    flat : torch.Tensor of uint8, shape (N,)
        The image (batch included), padded by one background pixel on every
        spatial side and flattened; accepted deletions are written into it.
    pending : torch.Tensor of int64
        Flat indices of the candidates (all foreground).
    pending_sub : torch.Tensor
        Subfield id of each candidate (:func:`skelkit.core.simple.subfield_ids`).
    strides : list of int
        Flat strides of the spatial axes.
    """
    from ..core import simple

    nd = len(strides)
    dev = flat.device
    offsets = simple.OFFSETS_2D if nd == 2 else simple.OFFSETS_3D
    nb_off = torch.tensor(offsets @ np.array(strides), device=dev)
    bits = torch.arange(len(offsets), device=dev)
    directions = [d * st for st in strides for d in (-1, 1)]
    n_sub = 1 << nd
    lut2d = torch.from_numpy(simple.deletable_lut_2d().copy()).to(dev) if nd == 2 else None

    def deletable(idx):
        codes = ((flat[idx[:, None] + nb_off].to(torch.int64)) << bits).sum(1)
        if nd == 2:
            return lut2d[codes]
        kind = simple.classify_codes_3d(codes.cpu().numpy())
        return torch.from_numpy(kind == simple.DELETABLE).to(dev)

    for _ in range(GUARD_SWEEPS):
        n_before = len(pending)
        for d in directions:
            on_border = flat[pending + d] == 0
            border, border_sub = pending[on_border], pending_sub[on_border]
            for k in range(n_sub):
                c = border[border_sub == k]
                if len(c):
                    flat[c[deletable(c)]] = 0
            keep = flat[pending] == 1
            pending, pending_sub = pending[keep], pending_sub[keep]
        if len(pending) == n_before or len(pending) == 0:
            break


# --------------------------------------------------------------------------- API

_CACHE: dict = {}


def load_model(dim: int, weights=None, device="cpu", dtype=torch.float32) -> Skelite:
    """Skelite with trained weights: shipped ``skelite{dim}d.pt`` or the file ``weights``.

    Cached per (dim, weights, device, dtype); the model is in eval mode.

    Raises
    ------
    WeightsNotFoundError
        The weights file does not exist.
    """
    key = (dim, None if weights is None else str(weights), str(device), dtype)
    if key not in _CACHE:
        state = load_state(f"skelite{dim}d", weights)
        sd = state.get("model", state) if isinstance(state, dict) else None
        if not isinstance(sd, dict):
            raise SkelkitError(f"weights {weights or f'skelite{dim}d'} do not hold a Skelite state dict")
        file_dim = state.get("dim", dim)
        if file_dim != dim:
            raise SkelkitError(f"weights are for {file_dim}D Skelite but the input is {dim}D")
        model = Skelite(dim)
        try:
            model.load_state_dict(sd)
        except RuntimeError as exc:
            raise SkelkitError(f"weights do not fit Skelite({dim}D): {str(exc).splitlines()[0]}") from None
        _CACHE[key] = model.to(device=device, dtype=dtype).eval().requires_grad_(False)
    return _CACHE[key]


def skelite_numpy(mask: np.ndarray, *, guard=False, iters=None, weights=None, sparse=True,
                  border="background") -> np.ndarray:
    """Skelite skeleton of a bool array (shipped weights for its dimensionality).

    ``sparse=True`` (default) computes band by band
    (:func:`skelkit.models.skelite_bands.skeletonize_bands`); ``False`` runs
    the dense reference loop. Both give the same result. ``border`` as in
    :meth:`Skelite.forward`.
    """
    model = load_model(mask.ndim, weights)
    if sparse:
        from .skelite_bands import skeletonize_bands

        xb = torch.from_numpy(np.ascontiguousarray(mask, bool))[None, None]
        return skeletonize_bands(model, xb, iters, guard, border=border)[0, 0].numpy()
    x = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))[None, None]
    with torch.no_grad():
        out = model(x, iters, guard=guard, sparse=False, border=border)
    return out[0, 0].numpy() > 0.5


def skelite_torch(x, *, guard=False, iters=None, weights=None, sparse=None, border="background"):
    """Skelite skeleton of a (B, 1, ...) tensor; differentiable, on ``x``'s device and dtype.

    ``sparse`` defaults to True when no gradient is needed (then computed band
    by band, without autograd) and to the dense path otherwise.
    """
    dtype = x.dtype if x.is_floating_point() else torch.float32
    model = load_model(x.ndim - 2, weights, x.device, dtype)
    needs_grad = torch.is_grad_enabled() and x.requires_grad
    if sparse is None:
        sparse = not needs_grad
    if sparse and not needs_grad:
        from .skelite_bands import skeletonize_bands

        return skeletonize_bands(model, x.detach() > 0.5, iters, guard, border=border).to(dtype)
    return model(x.to(dtype), iters, guard=guard, sparse=sparse, border=border)


register(
    Method(
        "skelite",
        skelite_numpy,
        skelite_torch,
        dims=(2, 3),
        doc="learned iterative thinning (Skelite, IPMI 2025); guard=True keeps topology",
    )
)
