"""`skeletonize` for volumes larger than memory: plan, run the rounds, store the result."""

from __future__ import annotations

import math
import os
import shutil
import sys
import weakref
from pathlib import Path

import numpy as np

from ..errors import SkelkitError
from ..io.atomic import atomic_dir, temp_dir
from ..io.formats import format_of
from .inputs import as_mask, check_values, on_disk, open_source, source_spacing
from .plans import make_plan
from .rounds import grid_chunks, halo_depth, neighbourhood, round_depths
from .tasks import overlap_round, step, store_round
from .scheduler import executor, one_line_errors
from .store import create_bool_array, scratch_dir, write_spacing


def skeletonize(
    array_or_path,
    method: str = "exact",
    chunks=128,
    out=None,
    *,
    scheduler=None,
    workers: int | None = None,
    progress: bool = False,
    threshold: float | None = None,
    iters_per_round: int | None = None,
    out_meta: dict | None = None,
    **options,
):
    """Skeletonize a 2D image or 3D volume chunk by chunk, identically to a whole-volume run.

    Each chunk is processed with a halo of neighbouring voxels as deep as the
    method's reach (``dask.array.map_overlap``), so the result equals
    ``skelkit.skeletonize(volume, method, ...)`` voxel for voxel while no task
    holds more than one padded chunk. The exact method runs to convergence in
    rounds of a few iterations until a round changes nothing (see
    ``docs/chunked.md``).

    Parameters
    ----------
    array_or_path : dask.array.Array, ndarray, zarr.Array, str or path-like
        Binary image, shape (H, W) or (D, H, W). Paths: a Zarr array folder, a
        TIFF stack (``.tif``/``.tiff``, read lazily through tifffile's Zarr
        store) or a ``.npy`` file (memory-mapped).
    method : str
        A method of bounded reach (:func:`skelkit.chunked.plans.chunkable_methods`:
        ``"exact"``, ``"soft"``, ``"skelite"``). Others (``"skimage"``,
        ``"unet"``, ...) raise :class:`~skelkit.errors.SkelkitError`.
    chunks : int or tuple of int
        Core chunk shape (voxels per axis); also the chunk shape of the Zarr
        output. A trailing chunk thinner than the halo is merged into its
        neighbour.
    out : str or path-like, optional
        Zarr folder to write (atomically; an existing one is replaced).
    scheduler : None, str or distributed.Client
        ``None`` (dask's default: threads, or an active distributed client),
        ``"threads"``, ``"processes"``, ``"synchronous"``, a scheduler address
        ``"tcp://host:port"`` or a ``Client``.
    workers : int, optional
        Start a ``distributed.LocalCluster`` with this many single-threaded
        worker processes (threads if ``scheduler="threads"``) for this call.
    progress : bool
        Show a progress bar per round.
    threshold : float, optional
        Foreground is ``value > threshold``; by default non-zero (bool input as is).
    iters_per_round : int, optional
        Iterations per round for ``"exact"`` (default: a halo of about a quarter
        chunk, or all ``max_num_iter`` in one round when they fit in one chunk).
    out_meta : dict, optional
        With ``out``: ``{"spacing": ..., "unit": ..., "ome": bool}``, recorded
        with the output (array attributes, or an OME-Zarr group whose level
        ``0`` is the skeleton).
    **options
        The method's options, as for :func:`skelkit.skeletonize` (e.g.
        ``max_num_iter=`` for ``"exact"``, ``num_iter=`` for ``"soft"`` and
        ``"skelite"``).

    Returns
    -------
    skeleton : ndarray, dask.array.Array or zarr.Array of bool, input's shape
        ``zarr.Array`` (read-only) when ``out`` is given; ndarray for numpy
        input; otherwise a dask array (lazy when one pass suffices and no
        scheduler was named, else backed by a temporary Zarr store that is
        deleted when the array is garbage-collected).

    Raises
    ------
    SkelkitError
        Missing input, bad chunks, chunks thinner than the method's halo,
        a method that cannot run chunk-wise, bad scheduler settings.

    Examples
    --------
    >>> import numpy as np
    >>> from skelkit.api import skeletonize as whole_volume
    >>> from skelkit.chunked import skeletonize
    >>> img = np.zeros((80, 90), bool); img[10:70, 20:70] = True
    >>> skel = skeletonize(img, chunks=40)  # 2 x 3 blocks, each thinned with a halo
    >>> bool((skel == whole_volume(img)).all())
    True
    """
    src = open_source(array_or_path)
    name = str(array_or_path) if isinstance(array_or_path, (str, os.PathLike)) else "input"
    shape = tuple(int(s) for s in src.shape)
    chunk_shape = _chunk_shape(chunks, shape)
    plan = make_plan(method, len(shape), **options)
    if iters_per_round is not None and (
        isinstance(iters_per_round, bool) or not isinstance(iters_per_round, int) or iters_per_round < 1
    ):
        raise SkelkitError(f"iters_per_round must be a positive integer, got {iters_per_round!r}")
    n, halo = round_depths(shape, chunk_shape, plan, iters_per_round)
    mask = as_mask(src, grid_chunks(shape, chunk_shape, halo), threshold=threshold)
    if out is not None:
        out = _check_out(out)

    in_memory = out is None and type(src) is np.ndarray
    disk = (src, threshold) if on_disk(src) else ()  # tasks read their windows themselves
    one_pass = not plan.composable or n is None or (plan.iters is not None and n >= plan.iters)
    if out is None and not in_memory and one_pass and scheduler is None and workers is None:
        import dask

        check_values(src, mask.chunks, one_line_errors(dask.compute), threshold, name)
        return step(mask, plan, n, halo_depth(mask.chunks, plan, n), np.ones(mask.numblocks, bool))

    with executor(scheduler, workers, progress) as compute:
        check_values(src, mask.chunks, compute, threshold, name)  # same rules as a whole-volume run
        if in_memory:
            return _rounds(mask, plan, n, compute, None, progress)
        if out is not None:
            meta = dict(out_meta or {})
            with atomic_dir(out) as final, scratch_dir(near=out) as scratch:
                target = final / "0" if meta.get("ome") else final
                stores = _Stores(mask, chunk_shape, target, scratch, _expected_rounds(plan, n))
                _rounds(mask, plan, n, compute, stores, progress, *disk)
                stores.finish(mask.chunks, compute)
                write_spacing(final, target, meta.get("spacing"), meta.get("unit"), bool(meta.get("ome")))
            import zarr

            return zarr.open_array(str(out / "0" if meta.get("ome") else out), mode="r")
        scratch = temp_dir()
        try:
            stores = _Stores(mask, chunk_shape, scratch / "out.zarr", scratch, _expected_rounds(plan, n))
            _rounds(mask, plan, n, compute, stores, progress, *disk)
            result = stores.finish(mask.chunks, compute)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
    import dask.array as da

    weakref.finalize(result, shutil.rmtree, scratch, True)
    return da.from_zarr(result, chunks=mask.chunks)


def skeletonize_path(
    in_path,
    out_path,
    method: str = "exact",
    chunks=128,
    workers: int | None = None,
    scheduler=None,
    progress: bool = True,
    spacing=None,
    **kw,
) -> Path:
    """Skeletonize a Zarr/TIFF/.npy volume on disk into a Zarr folder (what ``skelkit skeletonize`` calls).

    Parameters
    ----------
    in_path : str or path-like
        Zarr array folder, TIFF stack or ``.npy`` file.
    out_path : str or path-like
        Output Zarr folder (written atomically, replaced if present).
    method, chunks, workers, scheduler, progress, **kw
        As in :func:`skeletonize` (``threshold``, ``iters_per_round`` and the
        method's options).
    spacing : sequence of float, optional
        Pixel size recorded with the output; default the input's (OME-Zarr
        scale, Zarr ``spacing`` attribute, TIFF metadata). An OME-Zarr input
        gives an OME-Zarr output (a group with the skeleton as level ``0``).

    Returns
    -------
    out_path : pathlib.Path
    """
    if not Path(in_path).exists():
        raise SkelkitError(f"input not found: {in_path}")
    src_spacing, unit, ome = source_spacing(in_path)
    if spacing is not None:
        nd = open_source(in_path).ndim
        spacing = tuple(float(s) for s in spacing)
        spacing = spacing * nd if len(spacing) == 1 else (spacing[-2:] if len(spacing) == 3 and nd == 2 else spacing)
        if len(spacing) != nd:
            raise SkelkitError(f"{in_path} is {nd}D but the spacing has {len(spacing)} numbers")
    meta = {"spacing": src_spacing if spacing is None else spacing, "unit": unit, "ome": ome}
    skeletonize(in_path, method, chunks=chunks, out=out_path, scheduler=scheduler, workers=workers,
                progress=progress, out_meta=meta, **kw)
    return Path(out_path)


def _rounds(mask, plan, n, compute, stores, progress, source=None, threshold=None):
    """Run rounds until the iterations are done or a round changes nothing.

    ``stores`` is None to keep each round in memory (returns the ndarray);
    otherwise rounds alternate between two Zarr stores and tasks read their
    padded windows straight from the previous one (from ``source``, the
    input on disk, in the first round; from the dask array ``mask`` if None).
    A store holds a block's current value if it was written after the block
    last changed; only blocks near a change are recomputed, only stale ones written.
    """
    import dask.array as da

    grid = mask.numblocks
    active = np.ones(grid, bool)
    last_change = np.zeros(grid, int)
    cur, value, done, rnd = mask, None, 0, 0
    while True:
        k = n if plan.iters is None or n is None else min(n, plan.iters - done)
        if rnd > 0 and k is not None and k <= 0:
            return value
        rnd += 1
        depth = halo_depth(mask.chunks, plan, k)
        if progress:
            print(f"skelkit chunked: round {rnd}: {active.sum()} of {active.size} blocks", file=sys.stderr)
        if stores is None:
            changed, value = overlap_round(cur, plan, k, depth, active, compute, current=value)
            cur = da.from_array(value, chunks=mask.chunks)
        else:
            target, written = stores.target(rnd)
            need = active | (written < last_change)
            if source is None:
                changed, _ = overlap_round(cur, plan, k, depth, active, compute, target=target, write=need)
            else:
                changed = store_round(source, plan, k, mask.chunks, depth, active, need, target, compute, threshold)
            written[need] = rnd
            source, threshold = target, None
            stores.record(rnd, changed.any())
        done += k or 0
        last_change[changed] = rnd
        if not plan.composable or k is None or not changed.any():
            return value
        active = neighbourhood(changed)


def _expected_rounds(plan, n) -> int:
    """Rounds planned for a fixed iteration count (1 when unknown), to pick which store is the output."""
    if not plan.composable or n is None or plan.iters is None or plan.iters == 0:
        return 1
    return math.ceil(plan.iters / n)


class _Stores:
    """Two Zarr stores used in turn (a round reads one and writes the other).

    The output folder is the store the planned last round writes; the other
    lives in a scratch folder and is created only if a second round runs.
    """

    def __init__(self, mask, chunk_shape, out_path, scratch, rounds):
        self.shape, self.grid, self.chunk_shape = mask.shape, mask.numblocks, chunk_shape
        self.scratch = Path(scratch)
        self.out_parity = rounds % 2
        self.paths = {self.out_parity: Path(out_path), 1 - self.out_parity: self.scratch / "round.zarr"}
        self.arrays, self.written = {}, {}
        self.last_round, self.last_changed = 0, True

    def target(self, rnd):
        p = rnd % 2
        if p not in self.arrays:
            self.arrays[p] = create_bool_array(self.paths[p], self.shape, self.chunk_shape)
            self.written[p] = np.full(self.grid, -1)  # round whose values each block holds
        return self.arrays[p], self.written[p]

    def record(self, rnd, changed):
        self.last_round, self.last_changed = rnd, changed

    def finish(self, chunks, compute):
        """Make sure the output store holds the final result (copy only in rare cases); return it."""
        import dask.array as da

        last = self.last_round % 2
        both_valid = not self.last_changed and self.last_round >= 2
        if last != self.out_parity and not both_valid:
            target, _ = self.target(self.out_parity)
            compute(da.store(da.from_zarr(self.arrays[last], chunks=chunks), target, lock=False, compute=False))
        return self.arrays[self.out_parity]


def _chunk_shape(chunks, shape) -> tuple:
    nd = len(shape)
    if isinstance(chunks, (int, np.integer)) and not isinstance(chunks, bool):
        chunks = (int(chunks),) * nd
    elif isinstance(chunks, (tuple, list)) and len(chunks) == nd and all(
        isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in chunks
    ):
        chunks = tuple(int(c) for c in chunks)
    else:
        raise SkelkitError(f"chunks must be a positive integer or {nd} of them (one per axis), got {chunks!r}")
    if min(chunks) < 1:
        raise SkelkitError(f"chunks must be positive, got {chunks!r}")
    return tuple(min(c, max(s, 1)) for c, s in zip(chunks, shape))


def _check_out(out) -> Path:
    out = Path(out)
    fmt = format_of(out)
    if (fmt is not None and fmt.name != "zarr") or out.suffix.lower() in (".npz", ".gz", ".h5", ".hdf5"):
        raise SkelkitError(f"chunked output is a Zarr folder; got {out} (use a path such as out.zarr)")
    return out
