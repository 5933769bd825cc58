"""Zarr stores for outputs and intermediate rounds, written atomically.

A Zarr array is a folder, which :func:`skelkit.io.atomic.atomic_path` (made for
single files) cannot rename over an existing output; :func:`atomic_dir` does the
same job for folders: build in a hidden sibling, then swap it in.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path


from ..errors import SkelkitError


@contextlib.contextmanager
def atomic_dir(path):
    """Yield a fresh temporary folder beside ``path``; move it onto ``path`` on success.

    An existing ``path`` (file or folder) is replaced only once the new one is
    complete; on error the temporary folder is removed and ``path`` is untouched.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise SkelkitError(f"output folder does not exist: {folder}")
    if not os.access(folder, os.W_OK):
        raise SkelkitError(f"output folder is not writable: {folder}")
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder))
    try:
        yield tmp
        old = None
        if path.exists() or path.is_symlink():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=folder)) / "x"
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            _remove(old.parent)
    finally:
        _remove(tmp)


@contextlib.contextmanager
def scratch_dir(near=None):
    """Yield a temporary folder (beside ``near`` when given, so it shares its filesystem); always removed."""
    folder = Path(near).parent if near is not None else None
    tmp = Path(tempfile.mkdtemp(prefix=".skelkit-chunked.", dir=folder))
    try:
        yield tmp
    finally:
        _remove(tmp)


def create_bool_array(path, shape, chunk_shape):
    """Create an empty bool Zarr array (missing chunks read as False, so sparse output stays small)."""
    import zarr

    return zarr.open_array(
        str(path), mode="w", shape=tuple(shape), chunks=tuple(chunk_shape), dtype=bool, fill_value=False
    )


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    elif p.exists() or p.is_symlink():
        p.unlink()
