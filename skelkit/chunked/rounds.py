"""Planning rounds of halo-padded block computations, exact by construction.

One round maps every block *plus a halo* of neighbouring voxels through the
method and keeps the block's core (:mod:`skelkit.chunked.tasks`). Blocks at
the true image border get no halo there (``boundary="none"``), so the method
sees the real border exactly as in a whole-volume run, while internal block
edges see real neighbouring data.

Why it is exact: a method of reach ``r`` run for ``n`` iterations makes the
voxel at ``p`` depend only on the input within ``n * r`` of ``p``. Inside a
block padded by a halo of depth ``h >= n * r``, the error caused by the fake
edge of the padded block moves inward by at most ``r`` per iteration and never
reaches the core. Composable methods (exact thinning) run ``n`` iterations per
round and repeat; a block whose neighbourhood did not change in the previous
round cannot change (its whole input window is the same), so it is skipped,
and the run has converged when a round changes nothing anywhere.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

MARGIN = 1  # extra halo beyond iterations * reach (the proof needs 0)


def grid_chunks(shape, chunk_shape, depth: int):
    """Regular chunks per axis, with a trailing piece thinner than ``depth`` merged into its neighbour.

    Each dask block then covers whole Zarr chunks of ``chunk_shape`` (so tasks
    never write the same Zarr chunk) and is at least ``depth`` thick (so a halo
    comes from the adjacent block only).
    """
    out = []
    for n, c in zip(shape, chunk_shape):
        sizes = [c] * (n // c) + ([n % c] if n % c else [])
        if len(sizes) > 1 and sizes[-1] < depth:
            last = sizes.pop()
            sizes[-1] += last
        out.append(tuple(sizes) or (0,))
    return tuple(out)


def round_depths(shape, chunk_shape, plan, iters_per_round: int | None = None):
    """Return ``(n, halo)``: iterations per round and the deepest halo any round uses.

    Only axes cut into several chunks need a halo. Non-composable methods run
    one pass with their full reach (``n`` is ``None``); a composable method on
    a single block runs all its iterations (``None``: to convergence) at once.

    Raises
    ------
    SkelkitError
        Chunks thinner than the halo the method needs.
    """
    from ..errors import SkelkitError

    smallest = min((c for s, c in zip(shape, chunk_shape) if s > c), default=None)
    if not plan.composable:
        need = plan.reach + MARGIN
        if plan.even_origin:  # blocks must start at even coordinates: even chunks and halo
            need += need % 2
            odd = [c for s, c in zip(shape, chunk_shape) if s > c and c % 2]
            if odd:
                raise SkelkitError(
                    f"method {plan.method!r} with these settings needs even chunk sizes, got {tuple(chunk_shape)}"
                )
        if smallest is not None and smallest < need:
            raise SkelkitError(
                f"chunks of {smallest} voxels are thinner than the halo of {need} that method "
                f"{plan.method!r} needs with these settings; use chunks >= {need}"
            )
        return None, need
    if smallest is None:  # one block: no halo, all iterations in one round
        return plan.iters, 0
    most = (smallest - MARGIN) // plan.reach
    if most < 1:
        raise SkelkitError(
            f"chunks of {smallest} voxels are too thin for method {plan.method!r} "
            f"(one iteration needs a halo of {plan.reach + MARGIN}); use larger chunks"
        )
    if iters_per_round is not None:
        n = min(iters_per_round, most)
    elif plan.iters is not None and plan.iters <= most:
        n = plan.iters  # a single round, the cheapest plan
    else:
        # minimise padded voxels per iteration, (c + 2 n r + 2)^d / n: n = (c + 2) / (2 r (d - 1))
        n = max(1, min(most, round((smallest + 2 * MARGIN) / (2 * plan.reach * max(len(shape) - 1, 1)))))
    if plan.iters is not None:
        n = min(n, plan.iters)
    return n, n * plan.reach + MARGIN


def halo_depth(chunks, plan, n):
    """Halo per axis for one round of ``n`` iterations (none on single-block axes)."""
    if not plan.composable:
        d = plan.reach + MARGIN
        d += d % 2 if plan.even_origin else 0
    else:
        d = 0 if n is None else n * plan.reach + MARGIN
    return {i: (d if len(c) > 1 else 0) for i, c in enumerate(chunks)}


def neighbourhood(blocks: np.ndarray) -> np.ndarray:
    """Blocks within one block (faces, edges, corners) of a flagged block."""
    return ndimage.binary_dilation(blocks, structure=np.ones((3,) * blocks.ndim, bool))
