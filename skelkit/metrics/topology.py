"""Betti numbers and Betti errors of binary images and volumes.

Conventions: 2D uses 8-connected foreground / 4-connected background; 3D uses
26-connected foreground / 6-connected background. The image is padded with
background, so shapes touching the border are closed by it.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.measure import euler_number

from ..validate import as_binary

_FULL = {2: np.ones((3, 3), bool), 3: np.ones((3, 3, 3), bool)}


def betti_numbers(image) -> tuple[int, ...]:
    """Betti numbers of a binary image.

    Parameters
    ----------
    image : array_like of bool, shape (H, W) or (D, H, W)

    Returns
    -------
    betti : tuple of int
        2D: ``(b0, b1)``: components and holes. 3D: ``(b0, b1, b2)``:
        components, tunnels and cavities.
    """
    mask = as_binary(image)
    nd = mask.ndim
    b0 = ndimage.label(mask, structure=_FULL[nd])[1]
    padded = np.pad(~mask, 1, constant_values=True)
    n_bg = ndimage.label(padded, structure=ndimage.generate_binary_structure(nd, 1))[1]
    if nd == 2:
        return (b0, n_bg - 1)
    b2 = n_bg - 1
    chi = euler_number(np.pad(mask, 1), connectivity=3)
    return (b0, b0 + b2 - chi, b2)


def betti_errors(pred, ref) -> tuple[int, ...]:
    """Absolute differences of Betti numbers, ``|b_i(pred) - b_i(ref)|`` per dimension."""
    return tuple(abs(a - b) for a, b in zip(betti_numbers(pred), betti_numbers(ref)))
