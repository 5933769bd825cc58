"""Read and write binary masks by file extension, with clear errors and atomic writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import SkelkitError
from ..validate import as_binary, check_ndim
from .atomic import atomic_path
from .formats import format_of, suffixes


def _one_line(exc: BaseException) -> str:
    return " ".join(f"{exc.__class__.__name__}: {exc}".split())


def read_array(path) -> tuple[np.ndarray, dict]:
    """Read a 2D/3D image as stored (grey values, not binarised) and its metadata.

    Colour images are reduced to grey as described in :func:`read_image`.

    Raises
    ------
    SkelkitError
        Missing, empty, corrupt or unsupported file, or not 2D/3D. The
        message names the file.
    """
    path = Path(path)
    if not path.exists():
        raise SkelkitError(f"file not found: {path}")
    if path.is_dir():
        raise SkelkitError(f"expected an image file, got a folder: {path}")
    fmt = format_of(path)
    if fmt is None or fmt.read is None:
        raise SkelkitError(f"unsupported file type: {path} (supported: {', '.join(suffixes())})")
    if path.stat().st_size == 0:
        raise SkelkitError(f"file is empty: {path}")
    try:
        arr, meta = fmt.read(path)
    except SkelkitError:
        raise
    except Exception as exc:  # each library raises its own types for corrupt data
        raise SkelkitError(f"cannot read {path}: {_one_line(exc)}") from None
    arr = np.asarray(arr)
    check_ndim(arr, name=str(path))
    meta.update(path=str(path), format=fmt.name, dtype=str(arr.dtype), shape=tuple(arr.shape))
    return arr, meta


def read_image(path, threshold: float | None = None) -> tuple[np.ndarray, dict]:
    """Read a binary mask from an image file.

    Parameters
    ----------
    path : str or Path
        ``.png``, ``.jpg``/``.jpeg``, ``.bmp`` (2D); ``.tif``/``.tiff`` (2D
        or a 3D stack); ``.npy``; ``.nii``/``.nii.gz`` (2D or 3D).
    threshold : float, optional
        Foreground is ``value > threshold``. Without it the image must hold at
        most two distinct values (see :func:`skelkit.validate.as_binary`).

    Returns
    -------
    mask : ndarray of bool, shape (H, W) or (D, H, W)
        Array axes as stored (NIfTI: nibabel's voxel axes, unchanged).
    meta : dict
        ``path``, ``format``, ``dtype`` and ``shape`` of the stored data;
        NIfTI adds ``affine``, ``header`` and ``spacing`` (voxel sizes), TIFF
        ``axes``, PNG/JPEG/BMP the PIL ``mode``. Pass it to
        :func:`write_image` to keep the geometry on round-trip.

    Notes
    -----
    Colour (RGB) images use BT.601 luminance, or the single channel if all
    channels are equal. An alpha channel is used as the mask only when the
    colour is uniform (a cut-out silhouette); varying colour *and* alpha is
    refused as ambiguous. NaN values are refused.

    Raises
    ------
    SkelkitError
        Missing, empty, corrupt or unsupported file, wrong dimensionality
        (1D, 4D+), NaN, or grey levels without ``threshold``.
    """
    arr, meta = read_array(path)
    return as_binary(arr, threshold, name=str(path)), meta


def write_image(path, mask, meta: dict | None = None, *, labels: bool = False) -> Path:
    """Write a mask (or a float map) atomically; the format follows the extension.

    Parameters
    ----------
    path : str or Path
        ``.png`` (2D, stored 0/255 uint8), ``.tif``/``.tiff`` (0/255 uint8,
        zlib), ``.npy`` (bool), ``.nii``/``.nii.gz`` (0/1 uint8).
    mask : array_like, shape (H, W) or (D, H, W)
        Bool (or binary) mask. Floating arrays (e.g. probabilities) are
        written as float32 to TIFF, NPY or NIfTI.
    meta : dict, optional
        From :func:`read_image`; NIfTI output reuses its ``affine`` and
        ``header``; ``spacing`` (and ``unit``) are written to TIFF (ImageJ
        resolution and z spacing) and NIfTI (the affine when there is no
        header). PNG and NPY hold no pixel size.
    labels : bool
        ``mask`` is a label image (integers, 0 background): written with its
        values (PNG: up to 65535) instead of as a binary mask.

    Returns
    -------
    path : Path

    Raises
    ------
    SkelkitError
        Unsupported extension, missing or read-only folder, wrong
        dimensionality, or a writer failure. No file (not even a partial one)
        is left at ``path`` on failure; an existing file there is untouched.
    """
    path = Path(path)
    fmt = format_of(path, writable=True)
    if fmt is None:
        raise SkelkitError(f"cannot write {path}: unsupported output type (use one of {', '.join(suffixes(writable=True))})")
    arr = np.asarray(mask)
    if labels:
        check_ndim(arr, name="output")
        if not np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool:
            raise SkelkitError(f"label output must be an integer array, got {arr.dtype}")
        top = int(arr.max(initial=0))
        if fmt.name == "png" and (top > 65535 or int(arr.min(initial=0)) < 0):
            raise SkelkitError(f"cannot write {path}: PNG holds labels 0..65535 only; use .tif, .npy or .nii.gz")
        arr = arr.astype(np.uint8 if top < 256 and arr.min(initial=0) >= 0 else
                         (np.uint16 if top < 65536 and arr.min(initial=0) >= 0 else np.int32))
    elif np.issubdtype(arr.dtype, np.floating):
        check_ndim(arr, name="output")
        arr = arr.astype(np.float32)
    else:
        arr = as_binary(arr, name="output")
    with atomic_path(path) as tmp:
        try:
            fmt.write(tmp, arr, meta)
        except SkelkitError:
            raise
        except Exception as exc:
            raise SkelkitError(f"cannot write {path}: {_one_line(exc)}") from None
    return path
