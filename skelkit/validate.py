"""Input checking shared by every method, reader and CLI command.

Problems are reported as :class:`skelkit.errors.SkelkitError` before any
algorithm runs, so users never see a traceback from deep inside numpy or torch.
"""

from __future__ import annotations

import numpy as np

from .errors import SkelkitError


def as_binary(image, threshold: float | None = None, *, name: str = "image") -> np.ndarray:
    """Return a C-contiguous bool copy of a 2D or 3D image.

    Parameters
    ----------
    image : array_like, shape (H, W) or (D, H, W)
        Binary or grey-level image.
    threshold : float, optional
        Foreground is ``image > threshold``. Without it, the image must be
        bool or hold only two distinct values, or only 0 and another value;
        foreground is then ``image > 0`` (``image == max`` when the image is
        not 0-based, e.g. {1, 2} labels would otherwise be all foreground).

    Returns
    -------
    mask : ndarray of bool, same shape

    Raises
    ------
    SkelkitError
        Wrong dimensionality, NaN values, or non-binary values without a threshold.
    """
    arr = np.asarray(image)
    check_ndim(arr, name=name)
    if arr.dtype == bool:
        # a new array with canonical 0/1 bytes: numpy keeps any nonzero byte in a bool
        # (Pillow's 1-bit images hold 0xFF), and the code packing needs 0 or 1
        return np.ascontiguousarray(arr).view(np.uint8) != 0
    if not (np.issubdtype(arr.dtype, np.number)):
        raise SkelkitError(f"{name} has dtype {arr.dtype}; expected a numeric or bool array")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise SkelkitError(f"{name} is complex-valued; expected real values")
    if np.issubdtype(arr.dtype, np.floating) and np.isnan(arr).any():
        raise SkelkitError(f"{name} contains NaN values; fill or mask them before skeletonizing")
    if threshold is not None:
        return np.ascontiguousarray(arr > threshold)
    values = np.unique(arr)
    if values.size <= 1:
        return np.ascontiguousarray(arr > 0)
    if values.size == 2:
        lo, hi = values
        return np.ascontiguousarray(arr > 0 if lo == 0 else arr == hi)
    raise SkelkitError(
        f"{name} is not binary ({values.size} distinct values, range "
        f"{values[0]:g}..{values[-1]:g}); pass threshold=... (CLI: --threshold) to binarise it"
    )


def check_ndim(arr, *, name: str = "image", allowed=(2, 3)) -> None:
    """Raise a clear error unless ``arr.ndim`` is one of ``allowed``."""
    ndim = np.ndim(arr)
    if ndim not in allowed:
        shape = tuple(np.shape(arr))
        want = " or ".join(f"{d}D" for d in allowed)
        raise SkelkitError(f"{name} has {ndim} dimensions (shape {shape}); expected {want}")


def check_tensor(x, *, name: str = "input") -> None:
    """Check a torch tensor is (B, 1, H, W) or (B, 1, D, H, W) and free of NaN."""
    import torch

    if x.ndim not in (4, 5) or x.shape[1] != 1:
        raise SkelkitError(
            f"{name} tensor has shape {tuple(x.shape)}; expected (B, 1, H, W) or (B, 1, D, H, W)"
        )
    if x.is_floating_point() and torch.isnan(x).any():
        raise SkelkitError(f"{name} tensor contains NaN values")
