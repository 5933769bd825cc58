"""How far each method "sees": the halo a chunk needs for an exact result.

A method can run chunk-wise only if its output at a voxel depends on the input
within a bounded Chebyshev distance (its *reach*). Iterative methods whose
iterations are pure functions of the current image (``f^a(f^b(x)) ==
f^(a+b)(x)``) are *composable*: they can be split into rounds of a few
iterations, each round exact with a halo of ``iterations * reach``.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np

from ..errors import SkelkitError

CHUNKABLE = ("exact", "soft", "skelite")


@dataclass(frozen=True)
class Plan:
    """Chunk-wise recipe of one method.

    Attributes
    ----------
    run : callable
        ``run(block, n, origin)`` -> bool ndarray shaped like ``block``; ``n``
        is the number of iterations for composable methods (ignored
        otherwise), ``origin`` the global coordinates of ``block[0, ...]``.
    reach : int
        Reach of one iteration (composable) or of the whole method.
    iters : int or None
        Iterations to run (composable); ``None`` runs to convergence.
    composable : bool
        ``run(run(x, a), b) == run(x, a + b)``, so rounds are allowed.
    even_origin : bool
        The method uses pixel-parity subfields in block coordinates (and takes
        no origin), so every block must start at even global coordinates.
    """

    method: str
    run: Callable
    reach: int
    iters: int | None = None
    composable: bool = False
    even_origin: bool = False


def make_plan(method: str, ndim: int, max_iter: int | None = None, **kwargs) -> Plan:
    """Return the :class:`Plan` of ``method`` for ``ndim``-D input.

    Raises
    ------
    SkelkitError
        Unknown method, a method without bounded reach, or bad iteration counts.
    """
    if method not in CHUNKABLE:
        from ..api import available_methods

        if method not in available_methods():
            raise SkelkitError(f"unknown method {method!r}; chunked methods: {', '.join(CHUNKABLE)}")
        raise SkelkitError(
            f"method {method!r} cannot run chunk-wise (its output at a voxel may depend on "
            f"the whole volume); chunked methods: {', '.join(CHUNKABLE)}"
        )
    if method == "exact":
        return _exact_plan(ndim, max_iter, kwargs)
    if max_iter is not None:
        raise SkelkitError(f"max_iter applies to method 'exact'; method {method!r} takes iters=...")
    if method == "soft":
        return _soft_plan(kwargs)
    return _skelite_plan(ndim, kwargs)


def _exact_plan(ndim, max_iter, kwargs) -> Plan:
    from ..core import thinning

    if max_iter is not None and (isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 0):
        raise SkelkitError(f"max_iter must be a non-negative integer or None, got {max_iter!r}")
    if kwargs.get("by_depth"):
        # stages follow a global distance map: a chunk's halo cannot bound their reach
        raise SkelkitError("by_depth=True is not supported for chunked runs (its stages depend on global depth)")
    if kwargs.get("equivariant"):
        # its subfield fallback runs when nothing anywhere is P-simple: a global condition
        raise SkelkitError("equivariant=True is not supported for chunked runs (its fallback depends on the whole image)")
    return Plan(
        "exact",
        partial(_run_thin, kwargs=kwargs),
        int(thinning.REACH_PER_ITER[ndim]),
        None if max_iter is None else int(max_iter),
        composable=True,
    )


def _run_thin(block, n, origin, kwargs):
    from ..core.thinning import thin

    # origin keeps the subfields (pixel-parity classes) those of the whole image
    return thin(block, max_iter=n, origin=origin, **kwargs)


def _soft_plan(kwargs) -> Plan:
    from ..api import get_method

    iters = _iters(kwargs.get("iters"), get_method("soft").numpy_fn, "soft")
    # level i erodes i times (reach i) then opens (erosion + dilation, reach 2)
    return Plan("soft", partial(_run_registered, method="soft", kwargs=kwargs), iters + 2)


def _skelite_plan(ndim, kwargs) -> Plan:
    from ..models import skelite

    # its default (until the erosion level is empty) depends on the whole volume
    if kwargs.get("iters") is None:
        raise SkelkitError(
            "chunked 'skelite' needs a fixed iters=N (its halo is N x reach); "
            "N >= skelkit.models.skelite.iters_for(volume) gives the whole-volume result"
        )
    iters = _iters(kwargs["iters"], None, "skelite")
    guard = bool(kwargs.get("guard", False))
    reach = int(skelite.reach_per_iter(ndim, guard=guard)) * iters
    run = partial(_run_registered, method="skelite", kwargs=kwargs)
    return Plan("skelite", run, reach, even_origin=guard)


def _run_registered(block, n, origin, method, kwargs):
    from ..api import skeletonize

    return skeletonize(block, method, **kwargs)


def _iters(iters, fn, method) -> int:
    """``iters`` from the call, else the default of the registered function."""
    if iters is None:
        try:
            iters = inspect.signature(fn).parameters["iters"].default
        except (KeyError, TypeError, ValueError):
            iters = inspect.Parameter.empty
        if iters is inspect.Parameter.empty or iters is None:
            raise SkelkitError(f"pass iters=... for chunked method {method!r} (its halo depends on it)")
    if isinstance(iters, bool) or not isinstance(iters, (int, np.integer)) or iters < 0:
        raise SkelkitError(f"iters must be a non-negative integer, got {iters!r}")
    return int(iters)
