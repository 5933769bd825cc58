"""Zarr stores for outputs and intermediate rounds.

Outputs are built in a hidden sibling folder and swapped in
(:func:`skelkit.io.atomic.atomic_dir`); scratch folders are always removed.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from ..io.atomic import remove_tree, temp_dir


@contextlib.contextmanager
def scratch_dir(near=None):
    """Yield a temporary folder (beside ``near`` when given, so it shares its filesystem); always removed."""
    folder = Path(near).parent if near is not None else None
    tmp = temp_dir(folder)
    try:
        yield tmp
    finally:
        remove_tree(tmp)


def create_bool_array(path, shape, chunk_shape):
    """Create an empty bool Zarr array (missing chunks read as False, so sparse output stays small)."""
    import zarr

    return zarr.open_array(
        str(path), mode="w", shape=tuple(shape), chunks=tuple(chunk_shape), dtype=bool, fill_value=False
    )


