"""Skelite as a skeletonization method (``method="skelite"``): shipped weights, numpy and tensor entry points.

Skelite (Reyes Vargas et al., IPMI 2025) is a compact learned iterative
skeletonizer: per iteration a small CNN decides which pixels of the two-pixel
shell of the current erosion level to delete. The network and its loop are in
:mod:`skelkit.models.skelite_net`; inference without gradients runs band by
band (:mod:`skelkit.models.skelite_bands`), with the same result.

References
----------
.. [1] Reyes Vargas, M., Menten, M. J., Paetzold, J. C., Navab, N., Azampour,
   M. F. "Skelite: Compact Neural Networks for Efficient Iterative
   Skeletonization", IPMI 2025.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from ..errors import SkelkitError
from .skelite_bands import skeletonize_bands
from .skelite_net import (  # noqa: F401  (the model's public names, re-exported)
    BORDERS, GUARD_SWEEPS, Skelite, SkeliteNet, check_border, iters_for, max_iters, reach_per_iter,
)
from .weights import load_model as _load_weights


def load_model(dim: int, weights=None, device="cpu", dtype=torch.float32) -> Skelite:
    """Skelite with trained weights: shipped ``skelite{dim}d.pt`` or the file ``weights``.

    Cached (:func:`skelkit.models.weights.load_model`); the model is in eval mode.

    Raises
    ------
    WeightsNotFoundError
        The weights file does not exist.
    SkelkitError
        The file holds no Skelite weights, or weights of the other dimensionality.
    """
    if dim not in (2, 3):
        raise SkelkitError(f"dim must be 2 or 3, got {dim}")
    return _load_weights(weights, f"skelite{dim}d", _builder(dim), device=device, dtype=dtype)


@functools.cache
def _builder(dim: int):
    def build(state: dict) -> Skelite:
        sd = state.get("model", state)
        if not isinstance(sd, dict) or not sd:
            raise SkelkitError(f"weights do not hold a Skelite state dict (expected {dim}D Skelite weights)")
        file_dim = state.get("dim", dim)
        if file_dim != dim:
            raise SkelkitError(f"weights are for {file_dim}D Skelite but the input is {dim}D")
        model = Skelite(dim)
        try:
            model.load_state_dict(sd)
        except (RuntimeError, TypeError, AttributeError) as exc:
            first = str(exc).strip().splitlines()
            detail = first[1].strip() if len(first) > 1 else (first[0] if first else type(exc).__name__)
            detail = detail if len(detail) <= 120 else detail[:117] + "..."
            raise SkelkitError(f"weights do not fit Skelite({dim}D): {detail}") from None
        return model

    return build


def skelite_numpy(mask: np.ndarray, *, guard=False, num_iter=None, weights=None, sparse=None,
                  border="background") -> np.ndarray:
    """Skelite skeleton of a bool array (shipped weights for its dimensionality).

    ``sparse`` (default) computes band by band
    (:func:`skelkit.models.skelite_bands.skeletonize_bands`); ``False`` runs
    the dense reference loop. Both give the same result. ``border`` as in
    :meth:`Skelite.forward`.
    """
    model = load_model(mask.ndim, weights)
    if sparse is None or sparse:
        xb = torch.from_numpy(np.array(mask, bool))[None, None]  # a copy: the input may be read-only
        return skeletonize_bands(model, xb, num_iter, guard, border=border)[0, 0].numpy()
    x = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))[None, None]
    with torch.no_grad():
        out = model(x, num_iter, guard=guard, sparse=False, border=border)
    return out[0, 0].numpy() > 0.5


def skelite_torch(x, *, guard=False, num_iter=None, weights=None, sparse=None, border="background"):
    """Skelite skeleton of a (B, 1, ...) tensor; differentiable, on ``x``'s device and dtype.

    ``sparse`` (default) evaluates the network only near the band: band by
    band without autograd when no gradient is needed, gathered
    neighbourhoods with autograd otherwise (same values and gradients as the
    dense loop, ``sparse=False``, for less work).
    """
    dtype = x.dtype if x.is_floating_point() else torch.float32
    model = load_model(x.ndim - 2, weights, x.device, dtype)
    needs_grad = torch.is_grad_enabled() and x.requires_grad
    sparse = True if sparse is None else sparse
    if sparse and not needs_grad:
        return skeletonize_bands(model, x.detach() > 0.5, num_iter, guard, border=border).to(dtype)
    return model(x.to(dtype), num_iter, guard=guard, sparse=sparse, border=border)


def chunk_reach(ndim: int, guard=False, num_iter=None, **_) -> dict:
    """Reach for chunked runs: a fixed number of iterations times :func:`reach_per_iter`.

    The guard's subfields follow block coordinates, so blocks start at even
    global coordinates (``even_origin``).
    """
    if num_iter is None:  # its default (until the erosion level is empty) depends on the whole volume
        raise SkelkitError(
            "chunked 'skelite' needs a fixed num_iter=N (its halo is N x reach); "
            "N >= skelkit.models.skelite.iters_for(volume) gives the whole-volume result"
        )
    return {"reach": reach_per_iter(ndim, guard=guard) * int(num_iter), "even_origin": bool(guard)}
