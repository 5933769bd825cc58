"""Pixel-permuting transforms and frames shared by models and data generators."""

from __future__ import annotations

import numpy as np

from ..errors import SkelkitError

#: Background frame Skelite adds around an image for ``border="background"``.
#: Two pixels, not one: an even shift keeps each pixel's subfield (parity class).
BORDER_PAD = 2


def pad_border(x):
    """``x`` (B, 1, *spatial) tensor with a :data:`BORDER_PAD`-pixel background frame."""
    import torch.nn.functional as F

    return F.pad(x, (BORDER_PAD, BORDER_PAD) * (x.ndim - 2))


def crop_border(x):
    """Inverse of :func:`pad_border`."""
    return x[(slice(None), slice(None)) + (slice(BORDER_PAD, -BORDER_PAD),) * (x.ndim - 2)]


def dihedral(x, k: int, inverse: bool = False):
    """Apply element ``k`` (0..7) of the square's symmetry group to the last two axes.

    ``k % 4`` quarter turns, then a horizontal flip when ``k >= 4``. Only
    permutes pixels, so a 1-pixel-wide 8-connected skeleton stays one. Works
    on numpy arrays and torch tensors.

    Parameters
    ----------
    x : ndarray or torch.Tensor, shape (..., H, W)
    k : int
    inverse : bool
        Apply the inverse transform instead (undoes ``dihedral(x, k)``).

    Returns
    -------
    y : same type, shape (..., H, W) or (..., W, H)

    Examples
    --------
    >>> a = np.arange(6).reshape(2, 3)
    >>> bool((dihedral(dihedral(a, 5), 5, inverse=True) == a).all())
    True
    """
    if not 0 <= k < 8:
        raise SkelkitError(f"dihedral index must be in 0..7, got {k}")
    is_np = isinstance(x, np.ndarray)
    rot = (lambda a, n: np.rot90(a, n, axes=(-2, -1))) if is_np else (lambda a, n: a.rot90(n, dims=(-2, -1)))
    flip = (lambda a: a[..., ::-1]) if is_np else (lambda a: a.flip(-1))
    if not inverse:
        x = rot(x, k % 4)
        return flip(x) if k >= 4 else x
    if k >= 4:
        x = flip(x)
    return rot(x, -(k % 4))
