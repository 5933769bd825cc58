"""Running one round: every block plus its halo through the method, core kept.

Two ways to get a padded block, same result:

* :func:`step` / :func:`overlap_round`: ``dask.array.map_overlap``-style
  overlap of a dask array (numpy and dask inputs);
* :func:`store_round`: each task slices its padded window straight out of an
  array on disk (Zarr, TIFF, ``.npy``), so no halo data travels between tasks
  or workers and nothing but the padded block is held.

Either way a task runs the method only if its block is *active*, and with a
target it writes its core into the Zarr output and returns whether it changed.
"""

from __future__ import annotations

import numpy as np

from .inputs import binarise, read_window


def _apply(padded, inner, origin, active, run, n):
    """``(new, old)`` core of a padded block after the method (``old`` itself when skipped)."""
    old = padded[inner]
    # every chunked method returns a subset of its input: an empty core stays empty
    if not active or not old.any():
        return old, old
    out = run(np.ascontiguousarray(padded, dtype=bool), n, origin)
    return np.asarray(out, dtype=bool)[inner], old


def _windows(chunks, depth, idx):
    """Core and padded slices of block ``idx`` (no halo beyond the image border)."""
    core, padded = [], []
    for a, (c, i) in enumerate(zip(chunks, idx)):
        start = int(sum(c[:i]))
        stop = start + c[i]
        core.append(slice(start, stop))
        padded.append(slice(start - (depth[a] if i > 0 else 0), stop + (depth[a] if i < len(c) - 1 else 0)))
    return tuple(core), tuple(padded)


def _inner(core, padded):
    return tuple(slice(c.start - p.start, c.stop - p.start) for c, p in zip(core, padded))


# ------------------------------------------------------------ dask overlap ---
def step(x, plan, n, depth, active, *, target=None, write=None):
    """One round on a dask array, lazily (``dask.array.overlap.overlap`` + ``map_blocks``).

    Returns
    -------
    new : dask.array.Array of bool, chunks of ``x``
        Without ``target``: the image after the round.
    changed : dask.array.Array of bool, one element per block
        With ``target`` (a Zarr array whose chunks tile the blocks): whether
        each block changed; blocks flagged in ``write`` are stored by the task
        itself, so no padded block outlives its task.
    """
    import dask.array as da

    padded = da.overlap.overlap(x, depth=depth, boundary="none", allow_rechunk=False)
    kw = dict(run=plan.run, n=n, chunks_=x.chunks, depth=depth, dtype=bool, meta=np.empty((0,) * x.ndim, bool))
    flags = da.from_array(active, chunks=1)
    if target is None:
        return da.map_blocks(_overlap_task, padded, flags, chunks=x.chunks, **kw)
    grid = tuple((1,) * len(c) for c in x.chunks)
    writes = da.from_array(write, chunks=1)
    return da.map_blocks(_overlap_task, padded, flags, writes, chunks=grid, target=target, **kw)


def _overlap_task(padded, active, write=None, *, run, n, chunks_, depth, target=None, block_info=None):
    core, window = _windows(chunks_, depth, block_info[0]["chunk-location"])
    origin = tuple(w.start for w in window)
    new, old = _apply(padded, _inner(core, window), origin, active.item(), run, n)
    if target is None:
        return np.array(new, dtype=bool, copy=True)  # a copy: do not keep the padded block alive
    if write.item():
        target[core] = new
    return np.full((1,) * padded.ndim, new is not old and not np.array_equal(new, old))


def overlap_round(x, plan, n, depth, active, compute, *, current=None, target=None, write=None):
    """Run :func:`step`; return ``(changed, value)``: the grid of changed blocks and, without ``target``, the ndarray.

    Without ``target`` the result is computed into memory and compared with
    ``current`` (``x`` as an ndarray; computed if not given). With ``target``,
    only blocks flagged in ``write`` are computed (the graph is culled to them
    and their halos).
    """
    if target is None:
        (value,) = compute(step(x, plan, n, depth, active))
        current = x.compute(scheduler="sync") if current is None else current
        return block_changes(current, value, x.chunks), value
    flags = step(x, plan, n, depth, active, target=target, write=write)
    todo = np.flatnonzero(write)
    changed = np.zeros(write.size, bool)
    if todo.size:
        done = compute(*flags.to_delayed().ravel()[todo])
        changed[todo] = [bool(np.asarray(d).item()) for d in done]
    return changed.reshape(write.shape), None


def block_changes(a: np.ndarray, b: np.ndarray, chunks) -> np.ndarray:
    """Grid of blocks (dask ``chunks``) where ``a`` and ``b`` differ."""
    out = np.zeros(tuple(len(c) for c in chunks), bool)
    for idx in np.ndindex(out.shape):
        core, _ = _windows(chunks, [0] * len(chunks), idx)
        out[idx] = not np.array_equal(a[core], b[core])
    return out


# ------------------------------------------------------------ direct reads ---
def store_round(source, plan, n, chunks, depth, active, write, target, compute, threshold=None):
    """One round whose tasks read their padded windows from ``source`` and write cores to ``target``.

    Parameters
    ----------
    source : array-like
        Picklable and sliceable (zarr.Array, :class:`~skelkit.chunked.inputs.FileReader`).
    chunks : tuple of tuple of int
        Block sizes per axis; ``target``'s chunks must tile them.
    active, write : ndarray of bool over the block grid
        Blocks to recompute, and blocks to store (a superset of ``active``).
    threshold : float, optional
        Binarisation of ``source`` (see :func:`~skelkit.chunked.inputs.binarise`).

    Returns
    -------
    changed : ndarray of bool over the block grid
    """
    import dask

    todo = [np.unravel_index(i, write.shape) for i in np.flatnonzero(write)]
    tasks = []
    for idx in todo:
        core, window = _windows(chunks, depth, idx)
        act = bool(active[idx])
        tasks.append(
            dask.delayed(_store_task, pure=False)(
                source, target, core, window if act else core, act, plan.run, n, threshold
            )
        )
    changed = np.zeros(write.shape, bool)
    for idx, ch in zip(todo, compute(*tasks)):
        changed[idx] = ch
    return changed


def _store_task(source, target, core, window, active, run, n, threshold):
    padded = binarise(read_window(source, window), threshold)
    new, old = _apply(padded, _inner(core, window), tuple(w.start for w in window), active, run, n)
    target[core] = new
    return new is not old and not np.array_equal(new, old)
