"""The format table: every file format skelkit reads or writes, and how names map to formats.

The readers and writers (:func:`skelkit.io.read_image`, :func:`write_image`),
the command line (``--format``, output names, which inputs go to chunked runs)
and chunked runs (lazy readers, Zarr outputs) all read this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import codecs


@dataclass(frozen=True)
class Format:
    """One file format.

    Attributes
    ----------
    name : str
    suffixes : tuple of str
        Lower-case file name endings; the first is the one written.
    read, write : callable or None
        ``read(path) -> (array, meta)``; ``write(tmp_path, array, meta)``.
        ``None`` where skelkit does not do it (Zarr goes through
        :mod:`skelkit.chunked`).
    dims : tuple of int
        Dimensionalities the format holds.
    floats : bool
        It can hold a float map (a probability map), not only masks.
    write_as : str, optional
        Format an output takes when the input's cannot (or should not, being
        lossy) be written.
    keep_suffix : bool
        Outputs keep the input's ending (``.nii`` stays ``.nii``).
    chunked : bool
        Chunked runs read it chunk by chunk (the others are loaded whole).
    option : str, optional
        Its ``--format`` value.
    """

    name: str
    suffixes: tuple
    read: Callable | None = None
    write: Callable | None = None
    dims: tuple = (2, 3)
    floats: bool = True
    write_as: str | None = None
    keep_suffix: bool = False
    chunked: bool = False
    option: str | None = None


FORMATS = {f.name: f for f in (
    Format("nifti", (".nii.gz", ".nii"), codecs.read_nifti, codecs.write_nifti, keep_suffix=True, option="nii.gz"),
    Format("tif", (".tif", ".tiff"), codecs.read_tif, codecs.write_tif, chunked=True, option="tif"),
    Format("npy", (".npy",), codecs.read_npy, codecs.write_npy, chunked=True, option="npy"),
    Format("png", (".png",), codecs.read_png, codecs.write_png, dims=(2,), floats=False, option="png"),
    Format("pil", (".jpg", ".jpeg", ".bmp"), codecs.read_png, None, dims=(2,), floats=False, write_as="png"),
    Format("zarr", (".zarr",), chunked=True),
)}


def format_of(path, *, writable: bool = False) -> Format | None:
    """The format of a file name (case-insensitive ending, longest match first), or None."""
    name = str(path).lower().rstrip("/")
    best = None
    for f in FORMATS.values():
        if writable and f.write is None:
            continue
        for suffix in f.suffixes:
            if name.endswith(suffix) and (best is None or len(suffix) > len(best[1])):
                best = (f, suffix)
    return best[0] if best else None


def suffixes(*, writable: bool = False) -> list[str]:
    """Every file ending read (or written) by :func:`skelkit.io.read_image` (:func:`write_image`)."""
    return sorted(s for f in FORMATS.values() for s in f.suffixes
                  if (f.write if writable else f.read) is not None)


def format_options() -> dict:
    """``--format`` value -> output ending."""
    return {f.option: f.suffixes[0] for f in FORMATS.values() if f.option}


def split_suffix(name: str) -> tuple[str, str]:
    """``("case1", ".nii.gz")`` for ``"case1.nii.gz"``; known endings only, else ``os.path.splitext``'s split."""
    fmt = format_of(name)
    if fmt is not None:
        low = name.lower()
        suffix = max((s for s in fmt.suffixes if low.endswith(s)), key=len)
        return name[: -len(suffix)], name[-len(suffix):]
    stem, dot, ext = name.rpartition(".")
    return (stem, dot + ext) if dot and stem else (name, "")


def output_name(in_name: str, option: str | None = None) -> str:
    """Output file name for an input: its stem, in format ``option`` (``--format``) or the input's own.

    Formats that cannot be written (JPEG, BMP) become their ``write_as``
    format; ``.tiff`` becomes ``.tif``; NIfTI keeps ``.nii`` or ``.nii.gz``.
    """
    stem, suffix = split_suffix(in_name)
    if option is not None:
        return stem + format_options()[option]
    fmt = format_of(in_name)
    if fmt is None:
        return stem + suffix.lower()
    if fmt.write_as is not None:
        fmt = FORMATS[fmt.write_as]
    return stem + (suffix.lower() if fmt.keep_suffix else fmt.suffixes[0])


def is_zarr(path) -> bool:
    """True for a Zarr store: a name ending in ``.zarr``, or a folder holding Zarr metadata (OME-Zarr levels)."""
    p = Path(path)
    if format_of(p) is FORMATS["zarr"]:
        return True
    return p.is_dir() and any((p / m).exists() for m in (".zarray", ".zgroup", "zarr.json"))
