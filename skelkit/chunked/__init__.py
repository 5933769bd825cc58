"""Chunked skeletonization of volumes larger than memory (dask + Zarr).

Every chunk is processed with a halo as deep as the method's reach, so the
result is identical to a whole-volume run; see ``docs/chunked.md``.
Needs the ``chunked`` extra (dask, distributed, zarr).
"""

from .driver import skeletonize, skeletonize_path

__all__ = ["skeletonize", "skeletonize_path"]
