"""How far each method "sees": the halo a chunk needs for an exact result.

A method can run chunk-wise only if its output at a voxel depends on the input
within a bounded Chebyshev distance (its *reach*); its row in the method table
(:mod:`skelkit._methods`) names a function giving that reach for the chosen
options, or says why it has none. Iterative methods whose iterations are pure
functions of the current image (``f^a(f^b(x)) == f^(a+b)(x)``) are
*composable*: they can be split into rounds of a few iterations, each round
exact with a halo of ``iterations * reach``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

from .._methods import METHODS, get_method
from ..errors import SkelkitError

_REACH_KEYS = {"reach", "composable", "iters", "origin", "even_origin"}


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


def chunkable_methods() -> list[str]:
    """Methods of the table that can run chunk-wise (with suitable options)."""
    return [name for name, m in METHODS.items() if m.chunk is not None]


def make_plan(method: str, ndim: int, **options) -> Plan:
    """Return the :class:`Plan` of ``method`` for ``ndim``-D input with ``options``.

    Raises
    ------
    SkelkitError
        Unknown method, a method (or options) without bounded reach, or bad
        option values.
    """
    m = get_method(method)
    if m.chunk is None:
        raise SkelkitError(
            f"method {method!r} cannot run chunk-wise ({m.not_chunkable}); "
            f"chunked methods: {', '.join(chunkable_methods())}"
        )
    if ndim not in m.dims:
        raise SkelkitError(f"method {method!r} supports {' or '.join(f'{d}D' for d in m.dims)} input, got {ndim}D")
    opts = m.bind(options, "numpy")
    info = m.function("chunk")(ndim, **opts)
    unknown = set(info) - _REACH_KEYS
    if "reach" not in info or unknown:
        raise SkelkitError(f"method {method!r}: its chunk function must return 'reach' and only {sorted(_REACH_KEYS)}")
    composable = bool(info.get("composable", False))
    if composable and m.iter_option is None:
        raise SkelkitError(f"method {method!r} is composable but names no iter_option")
    run = partial(_run, fn=m.function("numpy"), opts=opts, iter_option=m.iter_option if composable else None,
                  pass_origin=bool(info.get("origin", False)))
    return Plan(method, run, int(info["reach"]), info.get("iters"), composable, bool(info.get("even_origin", False)))


def _run(block, n, origin, fn, opts, iter_option, pass_origin):
    kw = dict(opts)
    if iter_option is not None:
        kw[iter_option] = n  # this round's share of the iterations (None: to convergence)
    if pass_origin:
        kw["origin"] = origin  # keeps the subfields (pixel-parity classes) those of the whole image
    return fn(block, **kw)
