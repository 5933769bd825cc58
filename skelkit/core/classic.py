"""scikit-image's skeletons behind the method table's ``"skimage"`` and ``"medial_axis"`` rows."""

from __future__ import annotations

import numpy as np


def skimage_skeleton(mask: np.ndarray) -> np.ndarray:
    """``skimage.morphology.skeletonize`` (Zhang-Suen in 2D, Lee in 3D) of a bool array."""
    from skimage.morphology import skeletonize

    return skeletonize(np.require(mask, bool, ["C", "W"]))  # its 2D kernel needs a writable buffer


def medial_axis_skeleton(mask: np.ndarray) -> np.ndarray:
    """``skimage.morphology.medial_axis`` of a 2D bool array, with fixed tie-breaking (same input, same output)."""
    from skimage.morphology import medial_axis

    return medial_axis(np.require(mask, bool, ["C", "W"]), rng=0)
