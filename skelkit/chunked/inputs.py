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
from ..validate import check_dtype, check_ndim, check_threshold, distinct_values, not_binary


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
    check_dtype(source.dtype, "input")
    return source


def as_mask(source, chunks, *, threshold: float | None = None):
    """Wrap an :func:`open_source` result as a dask array of bool with the given chunks.

    Parameters
    ----------
    source : array-like from :func:`open_source`
    chunks : tuple of tuple of int
        Dask's explicit chunk format, one tuple per axis.
    threshold : float, optional
        Foreground is ``value > threshold``; without it, the rule of
        :func:`skelkit.validate.as_binary` (bool as is, else nonzero). Check the
        values first with :func:`check_values`.

    Returns
    -------
    mask : dask.array.Array of bool, same shape as ``source``
    """
    import dask.array as da

    return da.map_blocks(binarise, as_dask(source, chunks), threshold, dtype=bool)


def as_dask(source, chunks):
    """An :func:`open_source` result as a dask array (values as stored) with the given chunks."""
    import dask.array as da
    from dask.base import tokenize

    if isinstance(source, da.Array):
        return source.rechunk(chunks)
    if _is_zarr_array(source):
        return da.from_zarr(source, chunks=chunks)
    # a TiffReader has no content hash: name its tasks by file identity + chunking
    name = f"tiff-{tokenize(source.token, chunks)}" if isinstance(source, TiffReader) else None
    return da.from_array(source, chunks=chunks, asarray=True, lock=False, name=name)


def check_values(source, chunks, compute, threshold: float | None = None, name: str = "input") -> None:
    """Apply :func:`skelkit.validate.as_binary`'s checks to a chunked source, one read pass, block by block.

    NaN is refused; without ``threshold`` the values over all blocks must make
    a binary mask (at most two, one of them 0). Bool input needs no pass.

    Raises
    ------
    SkelkitError
        As :func:`skelkit.validate.as_binary` would for the whole array.
    """
    import dask

    dtype = np.dtype(source.dtype)
    check_threshold(threshold)
    if dtype == bool:
        return
    check_dtype(dtype, name)
    floating = np.issubdtype(dtype, np.floating)
    if threshold is not None and not floating:
        return
    blocks = as_dask(source, chunks).to_delayed().ravel()
    stats = compute(*[dask.delayed(_block_values, pure=True)(b, floating) for b in blocks])
    if any(nan for nan, _, _ in stats):
        raise SkelkitError(f"{name} contains NaN values; fill or mask them before skeletonizing")
    if threshold is None:
        values = tuple(sorted({v for _, vals, _ in stats for v in vals}))
        why = not_binary(values, any(more for _, _, more in stats), name=name)
        if why:
            raise SkelkitError(why)


def _block_values(block, floating: bool):
    block = np.asarray(block)
    nan = bool(floating and np.isnan(block).any())
    return (nan, *distinct_values(block[~np.isnan(block)] if nan else block))


def binarise(arr: np.ndarray, threshold: float | None = None) -> np.ndarray:
    """Foreground of one chunk: ``arr > threshold``, else nonzero (canonical 0/1 bytes for bool input too)."""
    arr = np.asarray(arr)
    if threshold is not None:
        return arr > threshold
    return (arr.view(np.uint8) if arr.dtype == bool else arr) != 0


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
    if _is_zarr_array(node):
        return node
    level = _ome_level0(node)
    if level is not None:  # OME-Zarr image: its full-resolution level
        try:
            return node[level]
        except KeyError:
            raise SkelkitError(f"{path}: OME-Zarr metadata names level {level!r}, which the store lacks") from None
    names = sorted(getattr(node, "array_keys", lambda: [])())
    hint = f" (arrays inside: {', '.join(names[:5])}; pass {path}/NAME)" if names else ""
    raise SkelkitError(f"{path} is a Zarr group, not an array{hint}")


def zarr_spacing(path) -> tuple:
    """``(spacing, unit, is_ome)`` of a Zarr store on disk: OME-Zarr multiscales scale of the full-resolution
    level, or an array's ``spacing``/``unit`` attributes (skelkit writes them); ``(None, None, False)`` if none.
    ``is_ome``: the path is an OME-Zarr image (a group), not one of its arrays."""
    import zarr

    try:
        node = zarr.open(str(path), mode="r")
    except Exception:  # not readable here; open_source reports it
        return None, None, False
    if _is_zarr_array(node):
        attrs = dict(node.attrs)
        parent = Path(path).parent
        try:
            group = zarr.open_group(str(parent), mode="r")
        except Exception:
            group = None
        if group is not None and _ome_level0(group) == Path(path).name:
            return _ome_scale(group) + (False,)  # a level of an OME-Zarr image, named directly
        sp = attrs.get("spacing")
        return (tuple(float(v) for v in sp) if sp else None), attrs.get("unit"), False
    if _ome_level0(node) is not None:
        return _ome_scale(node) + (True,)
    return None, None, False


def source_spacing(path) -> tuple:
    """``(spacing, unit, is_ome)`` of a chunked input on disk (Zarr, OME-Zarr, TIFF); Nones for ``.npy``."""
    fmt = format_of(path)
    if fmt is not None and fmt.name == "tif":
        import tifffile

        from ..io.codecs import tif_spacing

        with tifffile.TiffFile(str(path)) as tif:
            sp = tif_spacing(tif)
        return (sp[0], sp[1], False) if sp else (None, None, False)
    if fmt is not None and fmt.name == "npy":
        return None, None, False
    return zarr_spacing(path)


def _ome_scale(group) -> tuple:
    from .store import OME_UNITS

    attrs = dict(group.attrs)
    ms = (attrs.get("multiscales") or attrs.get("ome", {}).get("multiscales"))[0]
    scale = None
    for t in ms["datasets"][0].get("coordinateTransformations", []) + ms.get("coordinateTransformations", []):
        if t.get("type") == "scale":
            s = np.asarray(t["scale"], float)
            scale = s if scale is None else scale * s
    axes = ms.get("axes", [])
    space = [i for i, a in enumerate(axes) if not isinstance(a, dict) or a.get("type") in (None, "space")]
    unit = next((a.get("unit") for a in axes if isinstance(a, dict) and a.get("unit")), None)
    unit = {v: k for k, v in OME_UNITS.items()}.get(unit, unit)
    if scale is None:
        return None, unit
    if len(axes) == len(scale) and space:
        scale = scale[space]
    return tuple(float(v) for v in scale), unit


def _ome_level0(group) -> str | None:
    """Path of the first (full-resolution) dataset of an OME-Zarr multiscales group (0.4 or 0.5), or None."""
    attrs = dict(group.attrs)
    scales = attrs.get("multiscales") or attrs.get("ome", {}).get("multiscales")
    try:
        return str(scales[0]["datasets"][0]["path"])
    except (TypeError, KeyError, IndexError):
        return None


def projection(source, threshold: float | None = None) -> np.ndarray:
    """Maximum projection along axis 0 of a (chunked) volume's foreground, computed chunk by chunk; 2D bool.

    A 2D source is returned binarised as it is.
    """
    import dask.array as da

    src = open_source(source)
    arr = da.map_blocks(binarise, as_dask(src, "auto"), threshold, dtype=bool)
    return np.asarray((arr.any(axis=0) if arr.ndim == 3 else arr).compute())


def read_window(source, window) -> np.ndarray:
    """``source[window]`` as an ndarray; a damaged chunk is a one-line :class:`SkelkitError` naming the store."""
    try:
        return np.asarray(source[window])
    except SkelkitError:
        raise
    except Exception as exc:  # codecs raise their own types (RuntimeError: Zstd decompression error, ...)
        where = getattr(source, "path", None) or getattr(getattr(source, "store", None), "root", None) or "input"
        raise SkelkitError(f"cannot read {where}: damaged or unreadable chunk near {_fmt_window(window)} "
                           f"({exc.__class__.__name__}: {' '.join(str(exc).split())[:120]})") from None


def _fmt_window(window) -> str:
    return "[" + ", ".join(f"{w.start}:{w.stop}" for w in window) + "]"


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
