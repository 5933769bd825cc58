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




#: Our unit names -> OME-NGFF's (and back).
OME_UNITS = {"µm": "micrometer", "mm": "millimeter", "nm": "nanometer", "m": "meter", "cm": "centimeter"}


def write_spacing(folder, array_path, spacing, unit, ome: bool) -> None:
    """Record the pixel size with a Zarr output: array attributes, or OME-Zarr multiscales metadata.

    Parameters
    ----------
    folder : path
        The output store; with ``ome`` it becomes a group whose level ``0`` is ``array_path``.
    spacing : sequence of float or None
    unit : str or None
    ome : bool
    """
    import zarr

    if ome:
        nd = zarr.open_array(str(array_path), mode="r").ndim
        names = "zyx"[-nd:]
        axes = [{"name": a, "type": "space", **({"unit": OME_UNITS[unit]} if unit in OME_UNITS else {})}
                for a in names]
        scale = [float(s) for s in (spacing if spacing is not None else [1.0] * nd)]
        group = zarr.open_group(str(folder), mode="a")
        group.attrs["ome"] = {"version": "0.5", "multiscales": [{
            "name": "skeleton", "axes": axes,
            "datasets": [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": scale}]}],
        }]}
    elif spacing is not None:
        arr = zarr.open_array(str(array_path), mode="r+")
        arr.attrs.update({"spacing": [float(s) for s in spacing], "unit": unit or "unknown"})
