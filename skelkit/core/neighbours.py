"""Neighbourhoods on the pixel grid: offsets, neighbour codes, subfields, border directions.

Neighbour codes
---------------
The neighbours of a pixel are numbered in raster (C) order of its 3x3 (2D) or
3x3x3 (3D) block, skipping the centre. Neighbour ``k`` has offset
``OFFSETS[nd][k]`` and sets bit ``k`` of the pixel's neighbour code when it is
foreground. In 2D::

    bit 0 (-1,-1)   bit 1 (-1, 0)   bit 2 (-1, 1)
    bit 3 ( 0,-1)        x          bit 4 ( 0, 1)
    bit 5 ( 1,-1)   bit 6 ( 1, 0)   bit 7 ( 1, 1)

so 2D codes fit a ``uint8``; in 3D bits 0..12 are the offsets before the
centre and 13..25 the ones after it, and codes fit a ``uint32``. Pixels
outside the image are background.

Codes are gathered on a flat, zero-padded copy of the image (one padding
pixel per side), at the flat indices where they are needed: numpy by
:func:`gather_codes`, torch by :func:`gather_codes_torch`.

Subfields
---------
The subfield of a pixel is its parity class, ``sum_a (coord_a & 1) << (nd - 1 - a)``
in global coordinates; no two pixels of one subfield are adjacent.
"""

from __future__ import annotations

import itertools

import numpy as np

#: Neighbour offsets in code-bit order, per dimensionality.
OFFSETS = {nd: np.array([o for o in itertools.product((-1, 0, 1), repeat=nd) if any(o)], dtype=np.intp)
           for nd in (2, 3)}
#: Offsets of the 4 (2D) / 6 (3D) face neighbours.
FACE_OFFSETS = {nd: np.array([o for o in OFFSETS[nd] if np.abs(o).sum() == 1], dtype=np.intp) for nd in (2, 3)}
#: Border directions in the order thinning visits them, as (axis, step):
#: a candidate's neighbour at ``step`` along ``axis`` is background (2D: N, S, W, E).
DIRECTIONS = {nd: [(axis, step) for axis in range(nd) for step in (-1, 1)] for nd in (2, 3)}
#: Number of subfields (parity classes).
N_SUBFIELDS = {2: 4, 3: 8}

# Multiplying a uint64 holding 8 bytes that are each 0 or 1 by this constant
# gathers byte i into bit 56 + i (no carries), so ``>> 56`` packs them.
_PACK8 = np.uint64(0x0102040810204080)


def flat_strides(shape) -> np.ndarray:
    """C-order element strides of an array of ``shape`` (intp)."""
    return np.array([int(np.prod(shape[a + 1:])) for a in range(len(shape))], np.intp)


def flat_offsets(nd: int, shape) -> np.ndarray:
    """Flat offsets of the neighbours (code-bit order) in a C-order array of ``shape``'s last ``nd`` axes."""
    return OFFSETS[nd] @ flat_strides(tuple(shape)[-nd:])


# ------------------------------------------------------------------- numpy ---
class FlatCodes:
    """Neighbour codes at flat indices of a zero-padded flat image of shape ``pshape`` (numpy)."""

    def __init__(self, pshape):
        nd = len(pshape)
        self.nd = nd
        off = flat_offsets(nd, pshape)
        n_bytes = (len(off) + 7) // 8
        # padded to whole bytes with offset 0 (the pixel itself), masked off below
        self.nb_off = np.concatenate([off, np.zeros(8 * n_bytes - len(off), np.intp)])
        self.code_mask = np.uint32((1 << len(off)) - 1)

    def __call__(self, img8: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Codes of flat indices ``idx`` in ``img8`` (uint8 of 0/1): intp in 2D (indexes a LUT), uint32 in 3D."""
        return pack_rows(img8.take(idx[:, None] + self.nb_off), self.code_mask)


def pack_rows(nb: np.ndarray, code_mask=None) -> np.ndarray:
    """Codes of rows of 0/1 bytes, shape (M, 8) -> intp or (M, 32) -> uint32; bit ``j`` is byte ``j``."""
    words = (np.ascontiguousarray(nb).view("<u8") * _PACK8) >> np.uint64(56)
    if nb.shape[1] == 8:
        return words[:, 0].view(np.intp)
    codes = words.astype(np.uint8).view("<u4")[:, 0]
    return codes if code_mask is None else codes & code_mask


def pack_codes(nb) -> np.ndarray:
    """Pack neighbourhoods ``(M, 8)`` or ``(M, 26)`` of bool into codes (uint8 / uint32, shape (M,))."""
    nb = np.asarray(nb) != 0
    width = 8 if nb.shape[1] <= 8 else 32
    rows = np.zeros((len(nb), width), np.uint8)
    rows[:, : nb.shape[1]] = nb
    codes = pack_rows(rows)
    return codes.astype(np.uint8) if width == 8 else codes


def padded_flat(mask: np.ndarray) -> np.ndarray:
    """``mask`` padded by one background pixel per side and flattened, as canonical 0/1 bytes (uint8)."""
    return np.pad(np.asarray(mask) != 0, 1).ravel().view(np.uint8)


def inner_indices(shape) -> np.ndarray:
    """Flat indices, in the one-pixel-padded array, of the pixels of an array of ``shape`` (C order)."""
    pshape = tuple(n + 2 for n in shape)
    grid = np.ix_(*[np.arange(1, n + 1) for n in shape])
    return np.ravel_multi_index(grid, pshape).ravel()


def codes_of(mask, where=None) -> np.ndarray:
    """Neighbour codes of the pixels of ``mask`` (all, or the True pixels of ``where``), in C order.

    Parameters
    ----------
    mask : array_like of bool, shape (H, W) or (D, H, W)
    where : array_like of bool, same shape, optional

    Returns
    -------
    codes : ndarray, shape (n,): intp (2D) or uint32 (3D)
    """
    mask = np.asarray(mask)
    flat = padded_flat(mask)
    idx = inner_indices(mask.shape)
    if where is not None:
        idx = idx[np.asarray(where, bool).ravel()]
    gather = FlatCodes(tuple(n + 2 for n in mask.shape))
    step = 1 << 20  # bounded scratch: (step, 32) bytes at a time
    return np.concatenate([gather(flat, idx[i:i + step]) for i in range(0, max(len(idx), 1), step)])


def subfield_of(coords, origin=None) -> np.ndarray:
    """Subfield of pixels at integer coordinates ``coords`` (one array per axis, broadcastable), uint8.

    ``origin`` (global coordinates of pixel 0) is added first; only its parity matters.
    """
    nd = len(coords)
    origin = (0,) * nd if origin is None else tuple(int(o) for o in origin)
    out = 0
    for a, (c, o) in enumerate(zip(coords, origin)):
        out = out | (((np.asarray(c) + o) & 1) << (nd - 1 - a)).astype(np.uint8)
    return np.asarray(out, np.uint8)


def subfield_ids(shape, origin=None) -> np.ndarray:
    """Subfield of every pixel of an array of ``shape``; uint8, values in ``[0, 2**ndim)``.

    Parameters
    ----------
    shape : tuple of int, length 2 or 3
    origin : tuple of int, optional
        Global coordinates of pixel 0 (for crops of a larger image).

    Examples
    --------
    >>> subfield_ids((2, 3))
    array([[0, 1, 0],
           [2, 3, 2]], dtype=uint8)
    """
    grid = np.ogrid[tuple(slice(0, n) for n in shape)]
    return np.broadcast_to(subfield_of(grid, origin), tuple(shape)).copy()


# ------------------------------------------------------------------- torch ---
_BITS: dict = {}


def gather_codes_torch(flat, idx, nb_off):
    """Neighbour codes (int64) of flat indices ``idx`` in a padded flat 0/1 tensor ``flat``.

    ``nb_off``: flat neighbour offsets (:func:`flat_offsets`) as a tensor on ``flat``'s device.
    """
    import torch

    key = (len(nb_off), flat.device)
    if key not in _BITS:
        _BITS[key] = torch.arange(len(nb_off), device=flat.device)
    return (flat[idx[:, None] + nb_off].to(torch.int64) << _BITS[key]).sum(1)


def subfield_masks(spatial_shape, device=None) -> list:
    """Boolean tensors of the 4 (2D) or 8 (3D) subfields, in the order thinning visits them.

    Pixels of one subfield are pairwise non-adjacent, so simple non-end
    pixels of one subfield can be deleted together.
    """
    import torch

    ids = torch.from_numpy(subfield_ids(tuple(spatial_shape))).to(device)
    return [ids == k for k in range(1 << len(spatial_shape))]


def padded_flat_torch(fg):
    """A bool tensor (B, *spatial) padded by one background pixel per spatial side and flattened.

    Returns
    -------
    flat : torch.Tensor of uint8, shape (B * prod(spatial + 2),)
    index : torch.Tensor of int64, shape (B, *spatial)
        Flat index in ``flat`` of every pixel of ``fg``.
    nb_off : torch.Tensor of int64
        Flat neighbour offsets in code-bit order (for :func:`gather_codes_torch`).
    """
    import torch
    import torch.nn.functional as F

    nd = fg.ndim - 1
    flat = F.pad(fg.to(torch.uint8), (1, 1) * nd)
    pshape = tuple(flat.shape)
    inner = (slice(None),) + (slice(1, -1),) * nd
    index = torch.arange(flat.numel(), device=fg.device).reshape(pshape)[inner]
    nb_off = torch.from_numpy(flat_offsets(nd, pshape)).to(fg.device)
    return flat.reshape(-1), index, nb_off
