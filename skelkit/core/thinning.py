"""Exact topology-preserving thinning of 2D images and 3D volumes.

Parallel thinning by directions and subfields. One iteration visits the border
directions in turn (2D: N, S, W, E; 3D: the two directions of each axis,
axis 0 first). For each direction, the candidates are the foreground pixels
whose neighbour in that direction is background at the start of the
direction's pass; then, for each subfield (pixel-parity class, see
:func:`skelkit.core.simple.subfield_ids`) in turn, the candidates of that
subfield that are simple and not curve endpoints are deleted together. Pixels
of one subfield are not adjacent, so each deletion is a sequence of simple
deletions and topology is preserved (8/4 connectivity in 2D, 26/6 in 3D).
Pixels outside the image are background.

With ``equivariant=True`` each direction instead deletes, at once, the
candidates that stay simple whatever other candidates are deleted
(P-simple points), so no subfields and no pixel parity are involved; see
:func:`thin`.

Each iteration is a pure function of the current image, so
``thin(thin(x, max_num_iter=a), max_num_iter=b) == thin(x, max_num_iter=a + b)``; the
output of one (subfield) iteration at a pixel depends only on the input
within Chebyshev distance ``REACH_PER_ITER[ndim]``.

The implementation is active-set: it keeps the flat indices of the border
points of a padded copy, gathers neighbour codes only at candidates, and
only foreground neighbours of deleted pixels can become new border points.

References
----------
.. [1] Németh, G., Kardos, P., Palágyi, K. "Topology preserving 3D thinning
   algorithms using four and eight subfields", ICIAR 2010, LNCS 6111.
.. [2] Palágyi, K., Németh, G., Kardos, P. "Topology preserving parallel 3D
   thinning algorithms", in Digital Geometry Algorithms, Springer (2012).
.. [3] Kong, T. Y., Rosenfeld, A. "Digital topology: introduction and
   survey", CVGIP 48 (1989).
"""

from __future__ import annotations

import numpy as np

from .._compat import renamed
from ..errors import SkelkitError
from ..validate import as_binary, nan_error
from . import simple as sp
from .depth import city_block_depth
from .neighbours import DIRECTIONS, FACE_OFFSETS, N_SUBFIELDS, FlatCodes, flat_strides, subfield_of

try:  # the compiled kernel (built by the package's setup.py); numpy below does the same without it
    from . import _thinc
except ImportError:  # pragma: no cover - a build without a C compiler
    _thinc = None
#: Use the compiled kernel when it is there (tests switch it off to compare both paths).
_use_kernel = True

N_DIRECTIONS = {nd: len(DIRECTIONS[nd]) for nd in (2, 3)}
#: Max Chebyshev distance over which one iteration's output at a pixel depends
#: on its input: one pixel per sequential sub-step (a subfield's decision reads
#: the 3x3(x3) block of the previous sub-step's state), i.e. directions x subfields.
REACH_PER_ITER = {nd: N_DIRECTIONS[nd] * N_SUBFIELDS[nd] for nd in (2, 3)}


@renamed(max_iter="max_num_iter")
def thin(mask, max_num_iter: int | None = None, *, by_depth: bool = False, equivariant: bool = False,
         return_history: bool = False, origin=None):
    """Topology-preserving thinning to a one-pixel-thin curve skeleton.

    Parameters
    ----------
    mask : array_like of bool, shape (H, W) or (D, H, W)
        Foreground is True (or non-zero in a two-valued array).
    max_num_iter : int, optional
        Stop after this many iterations (stages with ``by_depth``); default:
        until an iteration deletes nothing. (Deprecated name: ``max_iter``.)
    by_depth : bool
        Peel in order of depth, two layers per stage, the order Skelite's
        bands follow (:mod:`skelkit.models.skelite`): stage ``k`` runs
        iterations to a fixed point in which only pixels of city-block depth
        ``2k + 1`` or ``2k + 2`` may be deleted (depth = city-block distance
        to the nearest background pixel, outside the image included). The
        last stage frees every pixel, so the guarantees below hold. Places
        the skeleton differently from the default, not worse; Skelite is
        distilled from it.
    equivariant : bool
        Delete, per direction, all candidates that are P-simple (deletable
        together with any other candidates, :func:`skelkit.core.simple.p_simple`)
        at once instead of by subfields, and fall back to a subfield iteration
        only when that deletes nothing. The subfields make the result depend on
        where the image sits (measured in ``bench/shift.py``, see
        ``docs/benchmarks.md``); P-simple deletion reads only the
        neighbourhood, so the result moves with the image except at the rare
        fallback pixels. Slower in 3D (each candidate tests up to ``2**8``
        subsets of its neighbours); not available for chunked runs (the
        fallback is a whole-image decision).
    return_history : bool
        Also return the state after each iteration that deleted something
        (with ``by_depth``: after every stage, so entry ``k`` is the state
        after stage ``k``).
    origin : tuple of int, optional
        Global coordinates of ``mask[0, 0(, 0)]`` when ``mask`` is a crop of a
        larger image; only their parity matters (it fixes the subfields).

    Returns
    -------
    skeleton : ndarray of bool, same shape as ``mask``
        A subset of ``mask`` with the same Betti numbers (8/4 connectivity in
        2D, 26/6 in 3D), in which every pixel is a curve endpoint or not simple.
    history : list of ndarray of bool
        Only with ``return_history``: one array per iteration that deleted
        pixels, the last one equal to ``skeleton``.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((5, 9), bool); img[1:4, 1:8] = True
    >>> thin(img).astype(int)
    array([[0, 0, 0, 0, 0, 0, 0, 0, 0],
           [0, 0, 0, 0, 0, 0, 0, 0, 0],
           [0, 1, 1, 1, 1, 1, 1, 1, 0],
           [0, 0, 0, 0, 0, 0, 0, 0, 0],
           [0, 0, 0, 0, 0, 0, 0, 0, 0]])
    """
    mask = as_binary(mask, name="mask", copy=False)  # read only: no copy of a large image
    if max_num_iter is not None and max_num_iter < 0:
        raise SkelkitError(f"max_num_iter must be >= 0, got {max_num_iter}")
    state = _Thinner(mask, origin, equivariant)
    if by_depth:
        return _thin_by_depth(state, mask, max_num_iter, return_history)
    history = [] if return_history else None
    out = _run(state, max_num_iter, history).result()
    return (out, history) if return_history else out


def _run(state: "_Thinner", max_num_iter, history=None) -> "_Thinner":
    """Iterations until one deletes nothing or ``max_num_iter``; ``history`` gets the state after each that deleted."""
    done = 0
    while max_num_iter is None or done < max_num_iter:
        n = state.step()
        done += 1
        if n == 0:
            break
        if history is not None:
            history.append(state.result())
    return state


def thin_values(values: np.ndarray, out: np.ndarray, max_num_iter: int | None = None) -> np.ndarray:
    """``out[i] = thin(values[i] > 0.5, max_num_iter)`` for each item of a float32 batch, without bool copies.

    The CPU tensor path (:func:`skelkit.core.thinning_torch.exact_torch`): the
    compiled kernel thresholds each item while it copies it into its state (one
    state array serves the whole batch) and writes the skeleton's ones into ``out``.

    Parameters
    ----------
    values : ndarray of float32, shape (B, H, W) or (B, D, H, W)
    out : ndarray of float32, same shape, C order, all zero (``np.zeros``: only the
        skeleton is written, so pages it does not reach are never touched)
    max_num_iter : int, optional
        As in :func:`thin`.

    Returns
    -------
    out

    Raises
    ------
    SkelkitError
        If ``values`` holds NaN.
    """
    if _thinc is None or not _use_kernel or values.dtype != np.float32:
        if np.isnan(values).any():
            raise nan_error()
        for v, o in zip(values, out):
            o[...] = thin(v > 0.5, max_num_iter)
        return out
    state = None
    for v, o in zip(values, out):
        thinner = _run(_Thinner(np.ascontiguousarray(v), state=state), max_num_iter)
        thinner.result(o, zeroed=True)
        state = thinner.state
    return out


def depth_stages(mask: np.ndarray) -> np.ndarray:
    """Stage of each pixel under ``thin(..., by_depth=True)``: ``(depth + 1) // 2`` (0 = background).

    Depth is the city-block distance to the nearest background pixel, pixels
    outside the image counting as background (as in the thinning itself).

    Parameters
    ----------
    mask : ndarray of bool, shape (H, W) or (D, H, W)

    Returns
    -------
    stage : ndarray of int32, same shape; pixels of stage ``k + 1`` are first
        deletable in stage ``k`` (0-based).
    """
    return ((city_block_depth(mask) + 1) // 2).astype(np.int32)


def _thin_by_depth(state: "_Thinner", mask: np.ndarray, max_num_iter, return_history):
    stage = np.pad(depth_stages(mask), 1).ravel()
    n_stages = int(stage.max())
    history = []
    for k in range(n_stages if max_num_iter is None else min(n_stages, max_num_iter)):
        # only the stage's own layers, so each deletion is one Skelite's band k can make;
        # the last stage frees all pixels, so the result is an ordinary thinning fixed point
        state.allowed = None if k == n_stages - 1 else stage == k + 1
        while state.step():
            pass
        if return_history:
            history.append(state.result())
    out = state.result()
    return (out, history) if return_history else out


def thin_iteration(mask, *, origin=None) -> tuple[np.ndarray, int]:
    """One thinning iteration (all directions, all subfields).

    Parameters
    ----------
    mask : array_like of bool, shape (H, W) or (D, H, W)
    origin : tuple of int, optional
        As in :func:`thin`.

    Returns
    -------
    new_mask : ndarray of bool, same shape
    n_deleted : int
    """
    state = _Thinner(as_binary(mask, name="mask"), origin)
    n = state.iterate()
    return state.result(), n


def chunk_reach(ndim: int, max_num_iter=None, by_depth=False, equivariant=False) -> dict:
    """Reach of :func:`thin` for chunked runs (see :mod:`skelkit.chunked.plans`).

    Iterations compose and each reads ``REACH_PER_ITER[ndim]`` pixels around
    a pixel; the subfields follow global coordinates (``origin``).
    """
    if by_depth:  # stages follow a global distance map: a chunk's halo cannot bound their reach
        raise SkelkitError("by_depth=True is not supported for chunked runs (its stages depend on global depth)")
    if equivariant:  # its subfield fallback runs when nothing anywhere is P-simple: a global condition
        raise SkelkitError("equivariant=True is not supported for chunked runs (its fallback depends on the whole image)")
    return {"reach": REACH_PER_ITER[ndim], "composable": True, "iters": max_num_iter, "origin": True}


class _Thinner:
    """Active-set thinning state on a zero-padded flat copy of the image.

    With the compiled kernel and without ``equivariant`` (``packed``), the
    whole state is one byte per padded pixel (``state``: foreground in bit 0,
    flags and subfield id, see ``_thinc.c``) and ``list[:n_list]``, the border
    pixels to visit (in 2D only until the first iteration files them into
    ``_lists``, one list per direction). Otherwise ``img`` is the padded image,
    ``border`` holds the flat indices of the foreground pixels with a background
    face neighbour (deleted ones are dropped after each pass) and ``interior``
    marks the foreground pixels not yet in ``border``.
    """

    def __init__(self, mask: np.ndarray, origin=None, equivariant: bool = False, state: np.ndarray | None = None):
        nd = mask.ndim
        self.nd = nd
        self.pshape = tuple(s + 2 for s in mask.shape)
        strides = flat_strides(self.pshape)
        self.gather = FlatCodes(self.pshape)
        self.face_off = FACE_OFFSETS[nd] @ strides
        self.directions = [int(step * strides[axis]) for axis, step in DIRECTIONS[nd]]
        origin = np.zeros(nd, int) if origin is None else np.asarray(origin, int)
        if origin.shape != (nd,):
            raise ValueError(f"origin must have {nd} coordinates, got {origin.tolist()}")
        parity = ((origin - 1) & 1).astype(np.intp)  # padded coordinate c is global coordinate c - 1 + origin
        self.n_sub = 1 << nd
        self.allowed = None  # flat padded bool: only these pixels may be deleted (None: all)
        self.equivariant = bool(equivariant)  # step() by P-simple passes first
        self.table_misses = int(nd == 3)  # 3D codes classified for the first time in the last pass
        self._bufs = None  # the compiled kernel's border buffers, made on first use
        # Plain thinning with the kernel keeps its state packed (see _thinc.c: sweep); the numpy
        # passes of equivariant thinning need the separate arrays below.
        self.packed = _thinc is not None and _use_kernel and not self.equivariant
        if self.packed:  # mask: bool, or float32 values (foreground > 0.5: see thin_values)
            self._pshape = np.asarray(self.pshape, np.intp)
            size = int(np.prod(self.pshape))
            # a finished state of the same shape can be reused: its frame is still zero, pack rewrites the rest
            self.state = state if state is not None and state.size == size else np.zeros(size, np.uint8)
            n_fg = _thinc.pack(np.ascontiguousarray(mask), self._pshape, self.state)
            if n_fg < 0:
                raise nan_error()
            self.list = np.empty(max(n_fg, 1), np.intp)
            self.n_list = _thinc.scan(self.state, self._pshape, parity, self.list)
            self._dirs = np.asarray(self.directions, np.intp)
            self._table = sp.deletable_lut_2d().view(np.uint8) if nd == 2 else sp._table_3d()
            self._lists = _thinc.dir_lists() if nd == 2 else None
            return
        padded = np.pad(mask, 1)
        self.img = padded.ravel()
        self.img8 = self.img.view(np.uint8)
        self._in_p = None  # scratch mask of a direction's candidate set P
        # A plain attribute, not a stored bound method: that would make every
        # state a reference cycle, which piles up in long chunked runs.
        self._lut2d = sp.deletable_lut_2d() if nd == 2 else None
        self.interior = np.zeros(self.img.size, bool)
        self.subfield = np.zeros(self.img.size, np.uint8)
        if _thinc is not None and _use_kernel:
            border = np.empty(int(np.count_nonzero(self.img)), np.intp)
            n = _thinc.prepare(self.img8, np.asarray(self.pshape, np.intp), parity,
                               self.interior.view(np.uint8), self.subfield, border)
            self.border = border[:n]
            return
        # Work only on the foreground: border test by gathers, subfield ids
        # scattered into a calloc'ed array (pages of empty space stay untouched).
        fg = np.flatnonzero(self.img)
        on_border = np.zeros(fg.size, bool)
        for f in self.face_off:
            on_border |= ~self.img.take(fg + f)
        self.border = fg[on_border]
        self.interior[fg[~on_border]] = True
        self.subfield[fg] = subfield_of(np.unravel_index(fg, self.pshape), origin - 1)

    def result(self, out: np.ndarray | None = None, zeroed: bool = False) -> np.ndarray:
        """The current image, into ``out`` (bool, or float32 with the packed state; all zero if ``zeroed``) if given."""
        shape = tuple(s - 2 for s in self.pshape)
        if self.packed:  # foreground is bit 0 of the state
            out = np.empty(shape, bool) if out is None else out
            _thinc.unpack(self.state, self._pshape, out, zeroed)
            return out
        img = self.img.reshape(self.pshape)[tuple(slice(1, -1) for _ in range(self.nd))]
        if out is None:
            return img.copy()
        out[...] = img
        return out

    def _codes(self, idx: np.ndarray, img8=None) -> np.ndarray:
        """Neighbour codes of flat indices ``idx`` in ``img8`` (default the image): intp (2D, < 256) or uint32 (3D)."""
        return self.gather(self.img8 if img8 is None else img8, idx)

    def _deletable(self, codes: np.ndarray) -> np.ndarray:
        if self._lut2d is not None:
            return self._lut2d[codes]
        kind, n_new = sp._classify_3d(codes)
        self.table_misses += n_new
        return kind == sp.DELETABLE

    def _candidates(self, d: int) -> np.ndarray:
        """Border pixels whose neighbour at flat offset ``d`` is background (and that may be deleted)."""
        border = self.border
        cand = border[~self.img.take(border + d)]
        if self.allowed is not None:
            cand = cand[self.allowed.take(cand)]
        return cand

    def iterate_equivariant(self) -> int:
        """One iteration without subfields: per direction, delete the P-simple candidates at once.

        ``P`` is the direction's deletable candidates; see :func:`skelkit.core.simple.p_simple`.
        """
        img = self.img
        if self._in_p is None:  # one scratch array per state, kept all-False between passes
            self._in_p = np.zeros(img.size, bool)
        in_p = self._in_p
        total = 0
        for d in self.directions:
            cand = self._candidates(d)
            if cand.size == 0:
                continue
            codes = self._codes(cand)
            keep = self._deletable(codes)
            cand, codes = cand[keep], codes[keep]
            if cand.size == 0:
                continue
            in_p[cand] = True
            p_codes = self._codes(cand, in_p.view(np.uint8))
            in_p[cand] = False
            gone = cand[sp.p_simple(codes, p_codes, self.nd)]
            if gone.size:
                img[gone] = False
                total += gone.size
                self._update_border(gone)
        return total

    def step(self) -> int:
        """One iteration: equivariant if enabled and it deletes anything, else by subfields."""
        if self.equivariant:
            n = self.iterate_equivariant()
            if n:
                return n
        return self.iterate()

    def iterate(self) -> int:
        """One iteration by subfields; the compiled kernel when it is built (same decisions, same order)."""
        if _thinc is not None and _use_kernel:
            return self._iterate_compiled()
        img = self.img
        total = 0
        for d in self.directions:
            cand = self._candidates(d)
            if cand.size == 0:
                continue
            if self.table_misses:
                # The memo table is still filling up: classify this pass's codes in
                # one batch, rather than a few at a time in each subfield step.
                self.table_misses = 0
                sp._classify_3d(self._codes(cand))
            cls = self.subfield.take(cand)
            deleted = []
            for k in range(self.n_sub):
                sub = cand[cls == k]
                if sub.size == 0:
                    continue
                gone = sub[self._deletable(self._codes(sub))]
                if gone.size:
                    img[gone] = False
                    deleted.append(gone)
            if deleted:
                gone = np.concatenate(deleted)
                total += gone.size
                self._update_border(gone)
        return total

    def _iterate_compiled(self) -> int:
        allowed = None if self.allowed is None else self.allowed.view(np.uint8)
        nb_off = self.gather.nb_off[: 8 if self.nd == 2 else 26]
        if self.packed:
            if self.nd == 2:  # scan's border goes into the per-direction lists on the first call
                pending = None if self.list is None else self.list[: self.n_list]
                self.list = None
                return _thinc.sweep2d(self.state, self._lists, pending, allowed, nb_off, self._dirs, self._table)
            total, self.n_list, _ = _thinc.sweep(self.state, self.list, self.n_list, allowed, nb_off,
                                                 self.face_off, self._dirs, self.nd, self._table)
            return total
        if self._bufs is None:  # two border buffers used in turn, each big enough for every foreground pixel
            n = int(self.border.size + np.count_nonzero(self.interior))
            self._bufs = [np.empty(n, np.intp), np.empty(n, np.intp)]
            self._dirs = np.asarray(self.directions, np.intp)
            self._table = sp.deletable_lut_2d().view(np.uint8) if self.nd == 2 else sp._table_3d()
        out = self._bufs[0] if self.border.base is not self._bufs[0] else self._bufs[1]
        total, n_out, _ = _thinc.iterate(self.img8, self.border, self.interior.view(np.uint8), self.subfield, allowed,
                                         nb_off, self.face_off, self._dirs, self.nd, self._table, out)
        self.border = out[:n_out]
        return total

    def _update_border(self, gone: np.ndarray) -> None:
        interior = self.interior
        new = [self.border[self.img.take(self.border)]]
        for f in self.face_off:  # no duplicates within one offset; `interior` dedupes across
            nbrs = gone + f
            nbrs = nbrs[interior.take(nbrs)]
            interior[nbrs] = False
            new.append(nbrs)
        self.border = np.concatenate(new)
