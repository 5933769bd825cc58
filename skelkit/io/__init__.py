"""Image I/O: binary masks in and out of PNG, TIFF, NPY and NIfTI files.

All writes are atomic (:mod:`skelkit.io.atomic`).
"""

from .atomic import atomic_path, atomic_write_bytes, atomic_write_text
from .image import read_array, read_image, write_image

__all__ = ["read_image", "read_array", "write_image", "atomic_path", "atomic_write_bytes", "atomic_write_text"]
