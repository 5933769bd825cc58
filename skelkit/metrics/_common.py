"""Argument checking shared by the metric functions."""

from __future__ import annotations

import numpy as np

from ..errors import SkelkitError
from ..validate import as_binary


def binary_pair(a, b, names=("pred", "ref")) -> tuple[np.ndarray, np.ndarray]:
    """Both inputs as bool arrays of the same 2D/3D shape, or a SkelkitError."""
    a = as_binary(a, name=names[0])
    b = as_binary(b, name=names[1])
    if a.shape != b.shape:
        raise SkelkitError(f"{names[0]} has shape {a.shape} but {names[1]} has shape {b.shape}")
    return a, b


def safe_ratio(num: float, den: float, empty: float = 1.0) -> float:
    """``num / den``, or ``empty`` when ``den`` is 0 (nothing to get wrong)."""
    return float(num) / float(den) if den else float(empty)


def harmonic(p: float, r: float) -> float:
    """F-measure of two ratios; 0 when both are 0."""
    return 2.0 * p * r / (p + r) if (p + r) > 0 else 0.0
