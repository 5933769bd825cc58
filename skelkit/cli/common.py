"""Helpers shared by several commands."""

from __future__ import annotations

from ..errors import SkelkitError


def parse_spacing(values) -> tuple | None:
    """``--spacing`` as a tuple of 1 to 3 positive numbers (array axis order), or None."""
    if not values:
        return None
    try:
        sp = tuple(float(v) for v in values.replace("x", ",").replace(" ", ",").split(",") if v)
    except ValueError:
        raise SkelkitError(f"--spacing takes numbers separated by commas (Z,Y,X or Y,X), got {values!r}") from None
    if not 1 <= len(sp) <= 3 or not all(v > 0 and v < float("inf") for v in sp):
        raise SkelkitError(f"--spacing takes 1, 2 or 3 positive numbers, got {values!r}")
    return sp


def spacing_for(sp, ndim: int, meta: dict, path) -> tuple | None:
    """The spacing to use for one ``ndim``-D file: ``--spacing`` (one number for all axes; Z,Y,X for a 2D file
    gives Y,X), else the file's own (``meta["spacing"]``), else None (pixels)."""
    if sp is None:
        s = meta.get("spacing")
        return tuple(s) if s is not None and len(s) == ndim else None
    if len(sp) == 1:
        return sp * ndim
    if len(sp) == 3 and ndim == 2:
        return sp[-2:]
    if len(sp) != ndim:
        raise SkelkitError(f"{path} is {ndim}D but --spacing has {len(sp)} numbers")
    return sp
