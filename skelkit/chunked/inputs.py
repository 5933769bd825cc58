"""Open any supported input lazily and wrap it as a chunked dask array of bool.

Inputs: a dask array, a numpy array, a Zarr array or path, a TIFF stack path or
a ``.npy`` path (memory-mapped). :func:`open_source` reads only metadata;
:func:`as_mask` builds a graph in which every chunk is read and binarised by
its own task.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import SkelkitError
from ..io.formats import format_of
from ..validate import check_ndim


def open_source(source):
    """Return an array-like with ``shape``/``dtype`` (dask, numpy, zarr, :class:`FileReader`).

    Parameters
    ----------
    source : dask.array.Array, ndarray, zarr.Array, str or path-like
        2D (H, W) or 3D (D, H, W) image. Paths: a Zarr array (directory), a
        TIFF stack (``.tif``/``.tiff``) or a ``.npy`` file.

    Raises
    ------
    SkelkitError
        Missing or unreadable path, unsupported type, wrong dimensionality or
        dtype.
    """
    import dask.array as da

    if isinstance(source, (str, os.PathLike)):
        source = _open_path(Path(source))
    elif not (_is_zarr_array(source) or isinstance(source, (da.Array, np.ndarray))):
        if not hasattr(source, "__array__") or hasattr(source, "device"):
            raise SkelkitError(
                f"unsupported input type {type(source).__name__}; "
                "pass a numpy/dask/zarr array or a .zarr/.tif/.npy path"
            )
        source = np.asarray(source)
    check_ndim(source, name="input")
    dtype = np.dtype(source.dtype)
    if dtype != bool and not np.issubdtype(dtype, np.number):
        raise SkelkitError(f"input has dtype {dtype}; expected a numeric or bool array")
    if np.issubdtype(dtype, np.complexfloating):
        raise SkelkitError("input is complex-valued; expected real values")
    return source


def as_mask(source, chunks, *, threshold: float | None = None):
    """Wrap an :func:`open_source` result as a dask array of bool with the given chunks.

    Parameters
    ----------
    source : array-like from :func:`open_source`
    chunks : tuple of tuple of int
        Dask's explicit chunk format, one tuple per axis.
    threshold : float, optional
        Foreground is ``value > threshold``. Without it, bool input is used as
        is and any other dtype means foreground = non-zero. (Unlike
        :func:`skelkit.skeletonize`, labels such as {1, 2} are not inspected,
        since that needs a pass over the whole volume; pass a threshold.)

    Returns
    -------
    mask : dask.array.Array of bool, same shape as ``source``
    """
    import dask.array as da
    from dask.base import tokenize

    if isinstance(source, da.Array):
        arr = source.rechunk(chunks)
    elif _is_zarr_array(source):
        arr = da.from_zarr(source, chunks=chunks)
    else:
        # a TiffReader has no content hash: name its tasks by file identity + chunking
        name = f"tiff-{tokenize(source.token, chunks)}" if isinstance(source, TiffReader) else None
        arr = da.from_array(source, chunks=chunks, asarray=True, lock=False, name=name)
    if arr.dtype == bool and threshold is None:
        return arr
    return da.map_blocks(binarise, arr, threshold, dtype=bool)


def binarise(arr: np.ndarray, threshold: float | None = None) -> np.ndarray:
    """Foreground of one chunk: ``arr > threshold``, else bool as is, else non-zero."""
    if threshold is not None:
        return arr > threshold
    return arr if arr.dtype == bool else arr != 0


def _open_path(path: Path):
    """Open a path as an array-like (zarr.Array, TiffReader or memory-mapped ndarray)."""
    if not path.exists():
        raise SkelkitError(f"input not found: {path}")
    fmt = format_of(path)
    if fmt is not None and fmt.name == "tif":
        return TiffReader(path)
    if fmt is not None and fmt.name == "npy":
        return NpyReader(path)
    return _open_zarr(path)


def _open_zarr(path: Path):
    import zarr

    try:
        node = zarr.open(str(path), mode="r")
    except Exception as exc:  # zarr raises several types for non-zarr folders
        raise SkelkitError(f"cannot open {path} as a Zarr array: {exc.__class__.__name__}: {exc}") from None
    if not _is_zarr_array(node):
        names = sorted(getattr(node, "array_keys", lambda: [])())
        hint = f" (arrays inside: {', '.join(names[:5])}; pass {path}/NAME)" if names else ""
        raise SkelkitError(f"{path} is a Zarr group, not an array{hint}")
    return node


def on_disk(source) -> bool:
    """True if tasks can slice ``source`` themselves (a Zarr array or a file reader)."""
    return _is_zarr_array(source) or isinstance(source, FileReader)


def _is_zarr_array(obj) -> bool:
    return type(obj).__module__.startswith("zarr") and hasattr(obj, "chunks") and hasattr(obj, "shape")


class FileReader:
    """Array-like view of an image file, safe to pickle (the open handle is not pickled).

    Subclasses implement :meth:`_open`, returning something sliceable; it is
    reopened on first read in each process, so tasks can run in other
    processes (multiprocessing, dask.distributed).
    """

    def __init__(self, path):
        self.path = str(path)
        arr = self._array()
        self.shape, self.dtype = tuple(arr.shape), np.dtype(arr.dtype)
        self.ndim = len(self.shape)
        st = os.stat(self.path)
        self.token = (type(self).__name__, self.path, st.st_mtime_ns, st.st_size)

    def _array(self):
        arr = getattr(self, "_arr", None)
        if arr is None:
            try:
                arr = self._arr = self._open()
            except SkelkitError:
                raise
            except Exception as exc:  # readers raise many types for bad files
                raise SkelkitError(f"cannot read {self.path}: {exc.__class__.__name__}: {exc}") from None
        return arr

    def _open(self):
        raise NotImplementedError

    def __getitem__(self, key):
        return np.asarray(self._array()[key])

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_arr", None)
        return state


class TiffReader(FileReader):
    """A TIFF stack (or single page) through tifffile's Zarr store, read chunk by chunk."""

    def _open(self):
        import tifffile
        import zarr

        z = zarr.open(tifffile.imread(self.path, aszarr=True), mode="r")
        if not _is_zarr_array(z):  # multi-resolution file: level 0 is full resolution
            z = z[sorted(z.array_keys())[0]]
        return z


class NpyReader(FileReader):
    """A ``.npy`` file, memory-mapped (pickling a memmap would copy its data)."""

    def _open(self):
        return np.load(self.path, mmap_mode="r")
