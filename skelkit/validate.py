"""Input checking shared by every method, reader and CLI command.

Problems are reported as :class:`skelkit.errors.SkelkitError` before any
algorithm runs, so users never see a traceback from deep inside numpy or torch.
"""

from __future__ import annotations

import numpy as np

from .errors import SkelkitError


def as_binary(image, threshold: float | None = None, *, name: str = "image", copy: bool = True) -> np.ndarray:
    """Return a new C-contiguous bool array: the foreground of a 2D or 3D image.

    One rule everywhere (whole and chunked runs, the API and the CLI):

    * bool input is foreground where True (any nonzero byte: 1-bit images from
      Pillow store True as 0xFF; the result has canonical 0/1 bytes);
    * with ``threshold``, foreground is ``image > threshold``;
    * otherwise the image must hold at most two values, one of them 0, and
      foreground is ``image != 0`` ({0, 1}, {0, 255} and {-1, 0} masks alike).
      More values (grey levels, label images) or two values without 0 are
      refused: pass a threshold.

    Parameters
    ----------
    image : array_like, shape (H, W) or (D, H, W)
        Binary or grey-level image.
    threshold : float, optional
        Foreground is ``image > threshold``.
    copy : bool
        With False, a C-contiguous bool array with 0/1 bytes is returned
        itself (for callers that only read it: saves a copy of a large image).

    Returns
    -------
    mask : ndarray of bool, same shape (never the caller's array unless ``copy=False``)

    Raises
    ------
    SkelkitError
        Wrong dimensionality or dtype, NaN values, a non-finite threshold, or
        non-binary values without a threshold.

    Examples
    --------
    >>> as_binary(np.array([[0, 255], [255, 0]], np.uint8)).astype(int)
    array([[0, 1],
           [1, 0]])
    """
    arr = np.asarray(image)
    check_ndim(arr, name=name)
    check_threshold(threshold)
    if arr.dtype == bool:
        # canonical 0/1 bytes: numpy keeps any nonzero byte in a bool, and the code packing needs 0 or 1
        if not copy and arr.flags.c_contiguous and (arr.size == 0 or arr.view(np.uint8).max() <= 1):
            return arr
        return np.ascontiguousarray(arr).view(np.uint8) != 0
    check_dtype(arr.dtype, name)
    if np.issubdtype(arr.dtype, np.floating) and np.isnan(arr).any():
        raise SkelkitError(f"{name} contains NaN values; fill or mask them before skeletonizing")
    if threshold is not None:
        return np.ascontiguousarray(arr > threshold)
    why = not_binary(*distinct_values(arr), name=name)
    if why:
        raise SkelkitError(why)
    return np.ascontiguousarray(arr != 0)


def check_dtype(dtype, name: str = "image") -> None:
    """Raise unless ``dtype`` is bool or real numeric."""
    dtype = np.dtype(dtype)
    if dtype != bool and not np.issubdtype(dtype, np.number):
        raise SkelkitError(f"{name} has dtype {dtype}; expected a numeric or bool array")
    if np.issubdtype(dtype, np.complexfloating):
        raise SkelkitError(f"{name} is complex-valued; expected real values")


def check_threshold(threshold) -> None:
    """Raise unless ``threshold`` is None or a finite real number."""
    if threshold is None:
        return
    if isinstance(threshold, (bool, np.bool_)) or not isinstance(threshold, (int, float, np.integer, np.floating)) \
            or not np.isfinite(threshold):
        raise SkelkitError(f"threshold must be a finite number, got {threshold!r}")


def distinct_values(arr: np.ndarray) -> tuple[tuple, bool]:
    """``(values, more)``: the smallest and largest value (or the one value), and whether others lie between.

    One pass without sorting; enough to apply the binary rule of :func:`as_binary`.
    """
    if arr.size == 0:
        return (), False
    lo, hi = arr.min(), arr.max()
    if lo == hi:
        return (lo.item(),), False
    return (lo.item(), hi.item()), bool(np.count_nonzero((arr != lo) & (arr != hi)))


def not_binary(values, more: bool = False, *, name: str = "image") -> str | None:
    """Why an image holding ``values`` (and others between them if ``more``) is not a binary mask, or None."""
    if more or len(values) > 2:
        lo, hi = min(values), max(values)
        return (f"{name} is not binary (more than two values, range {lo:g}..{hi:g}); "
                "pass threshold=... (CLI: --threshold) to binarise it")
    if len(values) == 2 and 0 not in values:
        return (f"{name} holds two values, {values[0]:g} and {values[1]:g}, and neither is 0, so which is "
                "foreground is unclear; pass threshold=... (CLI: --threshold)")
    return None


def check_ndim(arr, *, name: str = "image", allowed=(2, 3)) -> None:
    """Raise a clear error unless ``arr.ndim`` is one of ``allowed``."""
    ndim = np.ndim(arr)
    if ndim not in allowed:
        shape = tuple(np.shape(arr))
        want = " or ".join(f"{d}D" for d in allowed)
        raise SkelkitError(f"{name} has {ndim} dimensions (shape {shape}); expected {want}")


def check_tensor(x, *, name: str = "input", nan: bool = True) -> None:
    """Check a torch tensor is real, (B, 1, H, W) or (B, 1, D, H, W), and (if ``nan``) free of NaN."""
    if x.is_complex():
        raise SkelkitError(f"{name} tensor is complex-valued; expected real values")
    if x.ndim not in (4, 5) or x.shape[1] != 1:
        raise SkelkitError(
            f"{name} tensor has shape {tuple(x.shape)}; expected (B, 1, H, W) or (B, 1, D, H, W)"
        )
    if nan:
        reject_nan(x, name=name)


def reject_nan(x, *, name: str = "input") -> None:
    """SkelkitError if a floating-point tensor holds NaN."""
    import torch

    # max() propagates NaN: one pass, no mask the size of the input
    if x.is_floating_point() and x.numel() and torch.isnan(x.detach().max()):
        raise nan_error(name)


def nan_error(name: str = "input") -> SkelkitError:
    """The error for a tensor holding NaN (also raised by the exact kernel, which checks as it reads)."""
    return SkelkitError(f"{name} tensor contains NaN values")
