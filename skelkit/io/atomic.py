"""Atomic writes: build the output under a temporary name beside the target, then rename.

A crash or an error mid-write never leaves a half-written output behind. Files
use :func:`atomic_path`; folders (a Zarr array is a folder) use :func:`atomic_dir`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from ..errors import SkelkitError


@contextlib.contextmanager
def atomic_path(path, suffix: str | None = None):
    """Yield a temporary path in the target's folder; rename it onto ``path`` on success.

    The temporary name keeps the target's suffix(es) so writers that infer the
    format from the extension (PIL, nibabel, tifffile) still work.
    """
    path = Path(path)
    folder = _target_folder(path)
    suffix = suffix if suffix is not None else "".join(path.suffixes)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{suffix}", dir=folder)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        if tmp.exists():
            # mkstemp makes 0600 files; give the result the usual umask-based mode.
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_dir(path):
    """Yield a fresh temporary folder beside ``path``; move it onto ``path`` on success.

    An existing ``path`` (file or folder) is replaced only once the new one is
    complete; on error the temporary folder is removed and ``path`` is untouched.
    """
    path = Path(path)
    folder = _target_folder(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700 folders
        old = None
        if path.exists() or path.is_symlink():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=folder)) / "x"
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            remove_tree(old.parent)
    finally:
        remove_tree(tmp)


def remove_tree(p: Path) -> None:
    """Remove a file, link or folder if it exists."""
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    elif p.exists() or p.is_symlink():
        p.unlink()


def _target_folder(path: Path) -> Path:
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise SkelkitError(f"output folder does not exist: {folder}")
    if not os.access(folder, os.W_OK):
        raise SkelkitError(f"output folder is not writable: {folder}")
    return folder


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))
