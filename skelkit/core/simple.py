"""Simple points: foreground pixels whose deletion preserves topology.

2D uses 8-connected foreground and 4-connected background; 3D uses
26-connected foreground and 6-connected background. Pixels outside the image
are background. Tests read neighbour codes (bit order in
:mod:`skelkit.core.neighbours`).

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

from .neighbours import (  # noqa: F401  (pack_codes, subfield_*: re-exported)
    OFFSETS, codes_of, gather_codes_torch, pack_codes, padded_flat_torch, subfield_ids, subfield_masks,
)

OFFSETS_2D, OFFSETS_3D = OFFSETS[2], OFFSETS[3]

try:  # the compiled kernel (setup.py builds it); the numpy flood fill below gives the same answers
    from . import _thinc
except ImportError:  # pragma: no cover
    _thinc = None

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
    return _all_codes(mask, 2).astype(np.uint8)


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
    return _all_codes(mask, 3).astype(np.uint32)


def _all_codes(mask, nd: int) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim != nd:
        raise ValueError(f"expected a {nd}D mask, got shape {mask.shape}")
    return codes_of(mask).reshape(mask.shape)


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
    if _thinc is not None:  # the compiled test (the same classification, one code at a time)
        out = np.empty(codes.shape, np.uint8)
        n_new = _thinc.classify(np.ascontiguousarray(codes, np.uint32).ravel(), table, out.reshape(-1))
        return out, n_new
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
    return _points_of_kind(mask, (SIMPLE_ENDPOINT, DELETABLE))


def removable_points(mask) -> np.ndarray:
    """Foreground pixels that are simple and not curve endpoints, each judged on ``mask``.

    Parameters
    ----------
    mask : array_like of bool, shape (H, W) or (D, H, W)

    Returns
    -------
    removable : ndarray of bool, same shape
    """
    return _points_of_kind(mask, (DELETABLE,))


def _points_of_kind(mask, kinds) -> np.ndarray:
    mask = np.asarray(mask) != 0
    out = np.zeros(mask.shape, bool)
    codes = codes_of(mask, where=mask)  # foreground only: skeletons are sparse
    out[mask] = np.isin(classify_codes(codes, mask.ndim), kinds)
    return out


def classify_codes(codes, nd: int) -> np.ndarray:
    """``NOT_SIMPLE``, ``SIMPLE_ENDPOINT`` or ``DELETABLE`` per neighbour code (uint8), 2D or 3D."""
    if nd == 3:
        return classify_codes_3d(codes)
    return _kind_lut_2d()[np.asarray(codes, np.intp)]


@functools.cache
def _kind_lut_2d() -> np.ndarray:
    ones = np.bitwise_count(np.arange(256, dtype=np.uint8)) == 1
    lut = np.where(simple_lut_2d(), np.where(ones, SIMPLE_ENDPOINT, DELETABLE), NOT_SIMPLE).astype(np.uint8)
    lut.flags.writeable = False
    return lut


# ------------------------------------------------------------------- torch ---
def removable(x):
    """Foreground pixels that are simple and not curve endpoints (torch, any device).

    Each pixel is judged independently on the current state; deleting all of
    them at once can change topology, deleting those of one subfield
    (:func:`skelkit.core.neighbours.subfield_masks`) cannot.

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
    flat, index, nb_off = padded_flat_torch(fg[:, 0])
    out = torch.zeros_like(fg)
    sel = fg[:, 0]
    out[:, 0][sel] = deletable_torch(gather_codes_torch(flat, index[sel], nb_off), nd)
    return out


def deletable_torch(codes, nd: int):
    """Simple and not an end point, for int64 code tensors, computed on their own device.

    2D reads the lookup table (kept on each device once uploaded); 3D uses the
    memo table, on the CPU the numpy one, elsewhere one on the device (64 MiB,
    filled by the flood fill for codes not seen before).
    """
    import torch

    if nd == 2:
        return device_table("deletable_2d", codes.device)[codes]
    if codes.device.type == "cpu":
        return torch.from_numpy(classify_codes_3d(codes.numpy()) == DELETABLE)
    return classify_torch_3d(codes) == DELETABLE


def classify_torch_3d(codes):
    """:func:`classify_codes_3d` for an int64 code tensor, with a memo table on its device (64 MiB once)."""
    import torch

    key = ("memo3d", str(codes.device))
    if key not in _DEVICE_TABLES:
        _DEVICE_TABLES[key] = torch.zeros(1 << 26, dtype=torch.uint8, device=codes.device)
    table = _DEVICE_TABLES[key]
    kind = table[codes]
    unknown = kind == 0
    if bool(unknown.any()):
        new = torch.unique(codes[unknown])
        ends = ((new.unsqueeze(1) >> device_table("bits26", new.device)) & 1).sum(1) == 1
        simple = _simple_from_codes(new, device_table("dilation", new.device))
        table[new] = torch.where(simple, torch.where(ends, SIMPLE_ENDPOINT, DELETABLE), NOT_SIMPLE).to(torch.uint8)
        kind = table[codes]
    return kind


_DEVICE_TABLES: dict = {}


def device_table(name: str, device):
    """Table ``name`` of this module as a tensor (or tuple of tensors) on ``device``, uploaded once per device.

    Names: ``"deletable_2d"`` (:func:`deletable_lut_2d`), ``"dilation"`` (the
    3D flood fill's tables), ``"bits26"`` (0..25, to count set bits).
    """
    import torch

    key = (name, str(device))
    if key not in _DEVICE_TABLES:
        if name == "dilation":
            arrays = _dilation_tables()
        else:
            arrays = {"deletable_2d": deletable_lut_2d, "bits26": lambda: np.arange(26)}[name]()
        up = lambda a: torch.from_numpy(np.array(a)).to(device)  # noqa: E731
        _DEVICE_TABLES[key] = tuple(up(a).long() for a in arrays) if name == "dilation" else up(arrays)
    return _DEVICE_TABLES[key]


def _deletable_torch_3d(codes):
    """Simple and not an endpoint, for int64 code tensors on any device (no memo table)."""
    ones = ((codes.unsqueeze(1) >> device_table("bits26", codes.device)) & 1).sum(1)
    return _simple_from_codes(codes, device_table("dilation", codes.device)) & (ones != 1)
