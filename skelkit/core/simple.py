"""Simple points: foreground pixels whose deletion preserves topology.

2D uses 8-connected foreground and 4-connected background; 3D uses
26-connected foreground and 6-connected background. Pixels outside the image
are background.

Neighbour codes
---------------
The neighbours of a pixel are numbered in raster (C) order of its 3x3 (2D) or
3x3x3 (3D) block, skipping the centre. Neighbour ``k`` has offset
``OFFSETS_2D[k]`` / ``OFFSETS_3D[k]`` and sets bit ``k`` (value ``1 << k``) of
the pixel's neighbour code when it is foreground. In 2D::

    bit 0 (-1,-1)   bit 1 (-1, 0)   bit 2 (-1, 1)
    bit 3 ( 0,-1)        x          bit 4 ( 0, 1)
    bit 5 ( 1,-1)   bit 6 ( 1, 0)   bit 7 ( 1, 1)

so 2D codes fit a ``uint8``. In 3D, bits 0..12 are the offsets (dz, dy, dx)
before the centre in C order and bits 13..25 the ones after it; codes fit a
``uint32``.

3D simplicity is decided with topological numbers on 26-bit codes by
flood-filling bit masks of the 3x3x3 cube (shifts and masks, vectorised over
all codes at once). Results are memoised in a lazily allocated table of
``2**26`` bytes (64 MiB of address space; the operating system only commits
the pages that are touched).

References
----------
.. [1] Bertrand, G., Malandain, G. "A new characterization of
   three-dimensional simple points", Pattern Recognition Letters 15 (1994).
.. [2] Kong, T. Y., Rosenfeld, A. "Digital topology: introduction and
   survey", CVGIP 48 (1989).
"""

from __future__ import annotations

import functools
import itertools
import threading

import numpy as np

OFFSETS_2D = np.array([o for o in itertools.product((-1, 0, 1), repeat=2) if any(o)], dtype=np.intp)
OFFSETS_3D = np.array([o for o in itertools.product((-1, 0, 1), repeat=3) if any(o)], dtype=np.intp)
#: Offsets of the 4 (2D) / 6 (3D) face neighbours.
FACE_OFFSETS = {
    nd: np.array([o for o in itertools.product((-1, 0, 1), repeat=nd) if sum(map(abs, o)) == 1], dtype=np.intp)
    for nd in (2, 3)
}
_OFFSETS = {2: OFFSETS_2D, 3: OFFSETS_3D}

# Values stored in the deletability tables (2D LUT and 3D memo table).
NOT_SIMPLE, SIMPLE_ENDPOINT, DELETABLE = 1, 2, 3


# --------------------------------------------------------------------- 2D ---
@functools.cache
def simple_lut_2d() -> np.ndarray:
    """Simple-point table for 2D (8/4) neighbour codes.

    Built once by brute force: ``x`` is simple iff the foreground in N8*(x)
    has exactly one 8-component and the background in N8*(x) has exactly one
    4-component 4-adjacent to ``x``.

    Returns
    -------
    lut : ndarray of bool, shape (256,)
        ``lut[code]`` for the neighbour code of a foreground pixel (bit order
        in the module docstring). Read-only.
    """
    pos = [tuple(o) for o in OFFSETS_2D]
    adj8 = [[j for j, q in enumerate(pos) if j != i and max(abs(p[0] - q[0]), abs(p[1] - q[1])) == 1] for i, p in enumerate(pos)]
    adj4 = [[j for j, q in enumerate(pos) if abs(p[0] - q[0]) + abs(p[1] - q[1]) == 1] for i, p in enumerate(pos)]
    face = [i for i, p in enumerate(pos) if abs(p[0]) + abs(p[1]) == 1]
    lut = np.zeros(256, bool)
    for code in range(256):
        fg = {i for i in range(8) if code >> i & 1}
        bg = set(range(8)) - fg
        n_fg = len(_components(fg, adj8))
        n_bg = sum(1 for comp in _components(bg, adj4) if comp & set(face))
        lut[code] = n_fg == 1 and n_bg == 1
    lut.flags.writeable = False
    return lut


def _components(nodes: set, adj) -> list[set]:
    comps, todo = [], set(nodes)
    while todo:
        stack, comp = [todo.pop()], set()
        while stack:
            i = stack.pop()
            comp.add(i)
            for j in adj[i]:
                if j in todo:
                    todo.discard(j)
                    stack.append(j)
        comps.append(comp)
    return comps


@functools.cache
def deletable_lut_2d() -> np.ndarray:
    """``simple_lut_2d()`` with curve endpoints (exactly one neighbour) removed; bool (256,)."""
    ones = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).sum(1)
    lut = simple_lut_2d() & (ones != 1)
    lut.flags.writeable = False
    return lut


# ------------------------------------------------------------ codes (numpy) ---
def neighbour_codes_2d(mask) -> np.ndarray:
    """8-neighbour code of every pixel of a 2D binary image.

    Parameters
    ----------
    mask : array_like of bool, shape (H, W)

    Returns
    -------
    codes : ndarray of uint8, shape (H, W)
        Bit ``k`` is set iff neighbour ``OFFSETS_2D[k]`` is foreground;
        outside the image is background. Computed for every pixel,
        foreground or not.
    """
    return _dense_codes(np.asarray(mask, bool), 2).astype(np.uint8)


def neighbour_codes_3d(mask) -> np.ndarray:
    """26-neighbour code of every voxel of a 3D binary volume.

    Parameters
    ----------
    mask : array_like of bool, shape (D, H, W)

    Returns
    -------
    codes : ndarray of uint32, shape (D, H, W)
        Bit ``k`` is set iff neighbour ``OFFSETS_3D[k]`` is foreground.
    """
    return _dense_codes(np.asarray(mask, bool), 3).astype(np.uint32)


def _dense_codes(mask: np.ndarray, nd: int) -> np.ndarray:
    if mask.ndim != nd:
        raise ValueError(f"expected a {nd}D mask, got shape {mask.shape}")
    padded = np.pad(mask, 1)
    codes = np.zeros(mask.shape, np.uint32)
    for k, off in enumerate(_OFFSETS[nd]):
        sl = tuple(slice(1 + o, 1 + o + n) for o, n in zip(off, mask.shape))
        codes |= padded[sl].astype(np.uint32) << np.uint32(k)
    return codes


def pack_codes(nb) -> np.ndarray:
    """Pack neighbourhoods ``(M, 8)`` or ``(M, 26)`` of bool into codes (uint8 / uint32, shape (M,))."""
    nb = np.asarray(nb, bool)
    packed = np.packbits(nb, axis=1, bitorder="little")
    if nb.shape[1] <= 8:
        return packed[:, 0] if packed.shape[1] else np.zeros(len(nb), np.uint8)
    out = np.zeros((len(nb), 4), np.uint8)
    out[:, : packed.shape[1]] = packed
    return out.view("<u4")[:, 0].astype(np.uint32)


# --------------------------------------------------------------------- 3D ---
# Flood fill on the 27-bit cube: bit 9*z + 3*y + x for (z, y, x) in {0,1,2}^3.
def _cube_mask(pred) -> int:
    return sum(1 << (9 * z + 3 * y + x) for z, y, x in itertools.product(range(3), repeat=3) if pred(z, y, x))


_X2, _X0 = _cube_mask(lambda z, y, x: x == 2), _cube_mask(lambda z, y, x: x == 0)
_Y2, _Y0 = _cube_mask(lambda z, y, x: y == 2), _cube_mask(lambda z, y, x: y == 0)
_Z2 = _cube_mask(lambda z, y, x: z == 2)
_N18 = _cube_mask(lambda z, y, x: 0 < abs(z - 1) + abs(y - 1) + abs(x - 1) <= 2)
_FACES = _cube_mask(lambda z, y, x: abs(z - 1) + abs(y - 1) + abs(x - 1) == 1)
_LOW13 = (1 << 13) - 1


def _shift6(m):
    """The six face-shifts of cube masks (int64 array)."""
    return (
        (m & ~_X2) << 1, (m & ~_X0) >> 1,
        (m & ~_Y2) << 3, (m & ~_Y0) >> 3,
        (m & ~_Z2) << 9, m >> 9,
    )


def _dilate6(m):
    for s in _shift6(m):
        m = m | s
    return m


def _dilate26(m):
    # The 3x3x3 square is separable: dilate along x, then y, then z.
    m = m | ((m & ~_X2) << 1) | ((m & ~_X0) >> 1)
    m = m | ((m & ~_Y2) << 3) | ((m & ~_Y0) >> 3)
    return m | ((m & ~_Z2) << 9) | (m >> 9)


@functools.cache
def _dilation_tables() -> tuple[np.ndarray, ...]:
    """Dilations of every 13-bit half of a cube mask without its centre bit, as lookups.

    A mask ``m`` whose bit 13 is clear dilates to ``lo[m & 8191] | hi[m >> 14]``
    (dilation distributes over union), five operations instead of about
    twenty shifts and masks per step.
    """
    half = np.arange(1 << 13, dtype=np.int64)
    out = []
    for dilate in (_dilate26, _dilate6):
        out += [dilate(half).astype(np.int32), dilate(half << 14).astype(np.int32)]
    return tuple(out)


def _flood(seed, within, lo, hi):
    """Grow ``seed`` inside ``within`` until it stops changing (geodesic reconstruction).

    Works on numpy arrays and torch tensors of cube masks (centre bit clear);
    ``lo``/``hi`` are dilation tables from :func:`_dilation_tables`. Codes
    that have converged are dropped from later rounds.
    """
    comp = _copy(seed)
    active = _arange_like(seed)
    cur = seed
    while len(active):
        new = (lo[cur & 8191] | hi[cur >> 14]) & within
        changed = new != cur
        comp[active] = new
        active, cur, within = active[changed], new[changed], within[changed]
    return comp


def _copy(x):
    return x.copy() if isinstance(x, np.ndarray) else x.clone()


def _arange_like(x):
    if isinstance(x, np.ndarray):
        return np.arange(len(x))
    import torch

    return torch.arange(len(x), device=x.device)


def _simple_from_codes(codes, tables=None):
    """Simple-point test on 26-bit codes (int32/int64 numpy array or torch tensor).

    T26 = #26-components of X in N26*; T6 = #6-components of the background in
    N18* that are 6-adjacent to the centre; simple iff T26 == T6 == 1.
    ``tables``: :func:`_dilation_tables` in the backend of ``codes`` (default numpy).
    """
    lo26, hi26, lo6, hi6 = _dilation_tables() if tables is None else tables
    cube = (codes & _LOW13) | ((codes >> 13) << 14)  # centre bit (13) stays 0
    comp = _flood(cube & -cube, cube, lo26, hi26)  # the component of the lowest set bit
    simple = (comp == cube) & (cube != 0)
    passed = _copy(simple)
    bg = ~cube[passed] & _N18  # T6 only where T26 == 1
    bg_faces = bg & _FACES
    comp = _flood(bg_faces & -bg_faces, bg, lo6, hi6)
    simple[passed] = ((comp & bg_faces) == bg_faces) & (bg_faces != 0)
    return simple


_TABLE_3D = None
_TABLE_LOCK = threading.Lock()


def _table_3d() -> np.ndarray:
    global _TABLE_3D
    if _TABLE_3D is None:
        with _TABLE_LOCK:
            if _TABLE_3D is None:
                _TABLE_3D = np.zeros(1 << 26, np.uint8)  # calloc: pages committed on first touch
    return _TABLE_3D


def clear_cache_3d() -> None:
    """Forget the memoised 3D classifications (frees the table's memory)."""
    global _TABLE_3D
    with _TABLE_LOCK:
        _TABLE_3D = None


def classify_codes_3d(codes) -> np.ndarray:
    """Classify 26-bit neighbour codes: ``NOT_SIMPLE`` (1), ``SIMPLE_ENDPOINT`` (2) or ``DELETABLE`` (3).

    Parameters
    ----------
    codes : array_like of int, shape (M,)
        Values in ``[0, 2**26)``.

    Returns
    -------
    kind : ndarray of uint8, shape (M,)
        Memoised across calls; only codes never seen before are computed.
    """
    return _classify_3d(codes)[0]


def _classify_3d(codes) -> tuple[np.ndarray, int]:
    """:func:`classify_codes_3d` and the number of codes it had to compute."""
    codes = np.asarray(codes)
    table = _table_3d()
    kind = table[codes]
    unknown = kind == 0
    if not unknown.any():
        return kind, 0
    new = np.sort(codes[unknown]).astype(np.int32)
    new = new[np.concatenate(([True], new[1:] != new[:-1]))]  # np.unique is slow on small arrays
    simple = _simple_from_codes(new)
    ends = np.bitwise_count(new) == 1
    table[new] = np.where(simple, np.where(ends, SIMPLE_ENDPOINT, DELETABLE), NOT_SIMPLE)
    return table[codes], len(new)


def is_simple_3d(nb) -> np.ndarray:
    """Simple-point test for 3D (26/6) neighbourhoods.

    Parameters
    ----------
    nb : array_like of bool, shape (M, 26)
        Neighbourhoods of foreground voxels, columns in the order of
        ``OFFSETS_3D`` (centre excluded).

    Returns
    -------
    simple : ndarray of bool, shape (M,)
        True iff T26 == T6 == 1 (the voxel is simple).
    """
    nb = np.asarray(nb, bool)
    if nb.ndim != 2 or nb.shape[1] != 26:
        raise ValueError(f"expected neighbourhoods of shape (M, 26), got {nb.shape}")
    return classify_codes_3d(pack_codes(nb)) >= SIMPLE_ENDPOINT


# ------------------------------------------------------------- P-simple ---
def p_simple(codes, p_codes, nd: int, max_p: int = 8) -> np.ndarray:
    """Which points of a set ``P`` are P-simple: deletable together with any other points of ``P``.

    ``x`` in ``P`` is P-simple when it is simple in ``X \\ T`` for every
    ``T`` contained in ``P \\ {x}`` [1]_. Only ``T`` inside the neighbourhood of
    ``x`` matters, so the test enumerates the subsets of ``x``'s neighbours in
    ``P``. Deleting P-simple points one after another, in any order, deletes
    each while it is simple, so deleting all of them at once preserves
    topology; and the test reads only ``X`` and ``P`` near ``x``, so it does not
    depend on where the image sits (no subfields).

    Parameters
    ----------
    codes : ndarray of int, shape (M,)
        Neighbour codes (foreground of ``X``) of the points, 8-bit (2D) or 26-bit (3D).
    p_codes : ndarray of int, shape (M,)
        Neighbour codes of ``P`` around the same points (a subset of ``codes``' bits).
    nd : int
        2 or 3.
    max_p : int
        Points with more neighbours in ``P`` than this are reported not
        P-simple (the test costs ``2**k``); this is conservative, never unsafe.

    Returns
    -------
    ok : ndarray of bool, shape (M,)

    References
    ----------
    .. [1] Bertrand, G. "On P-simple points", C. R. Acad. Sci. Paris,
       Série I, 321 (1995).
    """
    codes = np.asarray(codes, np.int64)
    p_codes = np.asarray(p_codes, np.int64) & codes
    if nd == 2:
        lut = simple_lut_2d()
        is_simple = lambda c: lut[c]  # noqa: E731
    else:
        is_simple = lambda c: _classify_3d(c)[0] >= SIMPLE_ENDPOINT  # noqa: E731
    k = np.bitwise_count(p_codes).astype(np.int64)
    ok = is_simple(codes) & (k <= max_p)
    rows = np.flatnonzero(ok & (k > 0))
    rows = rows[np.argsort(-k[rows], kind="stable")]  # rows with j < 2**k form a prefix
    k_rows, c_rows = k[rows], codes[rows]
    bits, rest = [], p_codes[rows]
    for _ in range(int(k_rows.max(initial=0))):  # the set bits of each row, lowest first
        low = rest & -rest
        bits.append(low)
        rest = rest ^ low
    removed = np.zeros(len(rows), np.int64)
    alive = np.ones(len(rows), bool)
    for j in range(1, 1 << int(k_rows.max(initial=0))):
        n = int(np.searchsorted(-k_rows, -j.bit_length(), side="right"))  # rows with k >= bit_length(j)
        # Gray code: consecutive subsets differ in one bit, the lowest set bit of j
        g = (j & -j).bit_length() - 1
        removed[:n] ^= bits[g][:n]
        alive[:n] &= is_simple(c_rows[:n] & ~removed[:n])
    ok[rows] = alive
    return ok


# ------------------------------------------------------- dense (numpy) API ---
def simple_points(mask) -> np.ndarray:
    """Foreground pixels of a 2D or 3D binary image that are simple; bool array, same shape."""
    mask = np.asarray(mask, bool)
    return mask & (_dense_kind(mask) >= SIMPLE_ENDPOINT)


def removable_points(mask) -> np.ndarray:
    """Foreground pixels that are simple and not curve endpoints, each judged on ``mask``.

    Parameters
    ----------
    mask : array_like of bool, shape (H, W) or (D, H, W)

    Returns
    -------
    removable : ndarray of bool, same shape
    """
    mask = np.asarray(mask, bool)
    return mask & (_dense_kind(mask) == DELETABLE)


def _dense_kind(mask: np.ndarray) -> np.ndarray:
    codes = _dense_codes(mask, mask.ndim)
    if mask.ndim == 2:
        simple, ones = simple_lut_2d()[codes], np.bitwise_count(codes) == 1
        return np.where(simple, np.where(ones, SIMPLE_ENDPOINT, DELETABLE), NOT_SIMPLE).astype(np.uint8)
    return classify_codes_3d(codes.ravel()).reshape(mask.shape)


def subfield_ids(shape, origin=None) -> np.ndarray:
    """Subfield (parity class) of every pixel: ``sum_a ((coord_a + origin_a) % 2) << (ndim - 1 - a)``.

    Parameters
    ----------
    shape : tuple of int, length 2 or 3
    origin : tuple of int, optional
        Global coordinates of pixel 0 (for crops of a larger image).

    Returns
    -------
    ids : ndarray of uint8, shape ``shape``, values in ``[0, 2**ndim)``
        No two pixels with the same id are 8-/26-adjacent.
    """
    nd = len(shape)
    origin = (0,) * nd if origin is None else tuple(origin)
    ids = np.zeros(shape, np.uint8)
    for a, (n, o) in enumerate(zip(shape, origin)):
        par = ((np.arange(n) + o) % 2).astype(np.uint8) << (nd - 1 - a)
        ids |= par.reshape((-1,) + (1,) * (nd - 1 - a))
    return ids


# ------------------------------------------------------------------- torch ---
def subfield_masks(spatial_shape, device=None) -> list:
    """Boolean masks of the 4 (2D) or 8 (3D) subfields, in the order thinning visits them.

    Parameters
    ----------
    spatial_shape : tuple of int, (H, W) or (D, H, W)
    device : torch.device or str, optional

    Returns
    -------
    masks : list of torch.Tensor of bool, each of shape ``spatial_shape``
        Pixels of one subfield are pairwise non-adjacent, so simple
        non-endpoint pixels of one subfield can be deleted together.
    """
    import torch

    ids = torch.from_numpy(subfield_ids(tuple(spatial_shape))).to(device)
    return [ids == k for k in range(1 << len(spatial_shape))]


def removable(x):
    """Foreground pixels that are simple and not curve endpoints (torch, any device).

    Each pixel is judged independently on the current state; deleting all of
    them at once can change topology, deleting those of one subfield
    (:func:`subfield_masks`) cannot.

    Parameters
    ----------
    x : torch.Tensor, shape (B, 1, H, W) or (B, 1, D, H, W)
        Hard binary mask, bool or float (foreground ``> 0.5``).

    Returns
    -------
    removable : torch.Tensor of bool, same shape and device as ``x``
    """
    import torch

    nd = x.ndim - 2
    if nd not in (2, 3) or x.shape[1] != 1:
        raise ValueError(f"expected (B, 1, H, W) or (B, 1, D, H, W), got {tuple(x.shape)}")
    fg = x if x.dtype == torch.bool else x > 0.5
    codes = _torch_codes(fg[:, 0], nd)
    out = torch.zeros_like(fg)
    sel = fg[:, 0]
    c = codes[sel]
    if nd == 2:
        lut = torch.from_numpy(deletable_lut_2d().copy()).to(x.device)
        ok = lut[c]
    elif c.device.type == "cpu":
        ok = torch.from_numpy(classify_codes_3d(c.numpy()) == DELETABLE)
    else:
        ok = _deletable_torch_3d(c)
    out[:, 0][sel] = ok
    return out


def _torch_codes(fg, nd: int):
    """Neighbour codes (int64) of every pixel of a bool tensor (B, *spatial)."""
    import torch
    import torch.nn.functional as F

    padded = F.pad(fg.to(torch.uint8), (1, 1) * nd)
    shape = fg.shape[1:]
    codes = torch.zeros(fg.shape, dtype=torch.int64, device=fg.device)
    for k, off in enumerate(_OFFSETS[nd]):
        sl = (slice(None),) + tuple(slice(1 + int(o), 1 + int(o) + n) for o, n in zip(off, shape))
        codes |= padded[sl].to(torch.int64) << k
    return codes


def _deletable_torch_3d(codes):
    """Simple and not an endpoint, for int64 code tensors on any device (no table)."""
    import torch

    ones = torch.zeros_like(codes)
    for k in range(26):
        ones += (codes >> k) & 1
    tables = [torch.from_numpy(t).to(device=codes.device, dtype=codes.dtype) for t in _dilation_tables()]
    return _simple_from_codes(codes, tables) & (ones != 1)
