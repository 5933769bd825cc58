"""Per-format readers and writers (the format table in :mod:`skelkit.io.formats` names them).

Readers return ``(array, meta)`` with the stored values (not yet binarised);
writers take a temporary path (the atomic wrapper renames it) and an array that
is either bool (binary mask) or float32 (e.g. a probability map).
"""

from __future__ import annotations

import logging

import numpy as np

from ..errors import SkelkitError

# -- colour -> grey ----------------------------------------------------------

_LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601, as PIL's "L" conversion


def to_grey(arr: np.ndarray, path) -> np.ndarray:
    """Reduce a (..., C) colour image (C = 2 grey+alpha, 3 RGB, 4 RGBA) to one channel.

    Identical colour channels are kept as they are; otherwise BT.601 luminance.
    A varying alpha channel is used as the mask only if the colour is uniform;
    varying colour *and* alpha is ambiguous and refused.
    """
    colour, alpha = (arr[..., :-1], arr[..., -1]) if arr.shape[-1] in (2, 4) else (arr, None)
    flat = colour.reshape(-1, colour.shape[-1])
    uniform_colour = bool((flat == flat[:1]).all())
    if alpha is not None and alpha.min() != alpha.max():
        if uniform_colour:
            return alpha
        raise SkelkitError(
            f"{path}: both colour and transparency vary, so the mask is ambiguous; "
            "save it as a single-channel (greyscale) image"
        )
    if colour.shape[-1] == 1 or (colour == colour[..., :1]).all():
        return colour[..., 0]
    return colour[..., :3].astype(np.float64) @ _LUMA


# -- readers -------------------------------------------------------------------

def read_png(path):
    from PIL import Image

    with Image.open(path) as img:
        img.load()  # decode now so truncated files fail here
        mode = img.mode
        if mode == "P":
            img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        elif mode not in ("1", "L", "LA", "RGB", "RGBA", "I", "I;16", "I;16B", "F"):
            img = img.convert("RGBA")
        arr = np.asarray(img)
    if arr.ndim == 3:
        arr = to_grey(arr, path)
    return arr, {"mode": mode}


class _LogErrors(logging.Handler):
    """Collect tifffile's logged errors: it logs (rather than raises) on damaged files and
    falls back to reading fewer pages, which would silently turn a truncated stack into 2D."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def read_tif(path):
    import tifffile

    log, handler = logging.getLogger("tifffile"), _LogErrors()
    log.addHandler(handler)
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            axes = series.axes
            arr = series.asarray()
            spacing = tif_spacing(tif)
    finally:
        log.removeHandler(handler)
    if handler.messages:
        raise SkelkitError(f"cannot read {path}: damaged TIFF ({' '.join(handler.messages[0].split())})")
    if "S" in axes:  # colour samples: move them last, then to grey
        arr = to_grey(np.moveaxis(arr, axes.index("S"), -1), path)
        axes = axes.replace("S", "")
    if arr.ndim > 3:  # ImageJ-style TZCYX with singleton T/C
        keep = [i for i, n in enumerate(arr.shape) if n > 1 or i >= arr.ndim - 2]
        arr = arr.reshape([arr.shape[i] for i in keep])
        axes = "".join(axes[i] for i in keep) if len(axes) == len(keep) else axes
    meta = {"axes": axes}
    if spacing is not None:
        meta["spacing"], meta["unit"] = spacing[0][-arr.ndim:] if len(spacing[0]) >= arr.ndim else None, spacing[1]
        if meta["spacing"] is None:
            del meta["spacing"], meta["unit"]
    return arr, meta


def tif_spacing(tif) -> tuple | None:
    """``((dz, dy, dx), unit)`` from OME-XML or ImageJ metadata of an open ``tifffile.TiffFile``, or None.

    ImageJ keeps x/y in the resolution tags (pixels per unit) and z in its
    ``spacing`` entry; OME-TIFF has ``PhysicalSizeX/Y/Z``.
    """
    if tif.is_ome and tif.ome_metadata:
        import re

        px = re.search(r"<Pixels\b[^>]*>", tif.ome_metadata)
        if px:
            attrs = dict(re.findall(r'(\w+)="([^"]*)"', px.group(0)))
            size = [attrs.get(f"PhysicalSize{a}") for a in "ZYX"]
            if size[1] and size[2]:
                unit = attrs.get("PhysicalSizeXUnit", "µm")
                return tuple(float(v) for v in ([size[0]] if size[0] else [1.0]) + size[1:]), unit
    page = tif.pages[0]
    tags = page.tags
    if "XResolution" not in tags or "YResolution" not in tags:
        return None
    xr, yr = (tags[t].value for t in ("XResolution", "YResolution"))
    per_x, per_y = xr[0] / xr[1], yr[0] / yr[1]
    if per_x <= 0 or per_y <= 0:
        return None
    ij = tif.imagej_metadata or {}
    if not ij and (per_x, per_y) == (1.0, 1.0):
        return None  # the writer's default, no physical size
    unit = ij.get("unit", "pixel" if ij else "unknown")
    sp = (float(ij.get("spacing", 1.0)), 1.0 / per_y, 1.0 / per_x)
    if unit == "pixel" and sp == (1.0, 1.0, 1.0):
        return None  # ImageJ's "not calibrated"
    return sp, ("µm" if unit in ("micron", "um", "\\u00B5m") else unit)


def read_npy(path):
    arr = np.load(path, allow_pickle=False)
    return arr, {}


def read_nifti(path):
    import nibabel as nib

    img = nib.load(str(path))
    arr = np.asanyarray(img.dataobj)
    if arr.ndim > 3 and all(n == 1 for n in arr.shape[3:]):
        arr = arr.reshape(arr.shape[:3])
    zooms = tuple(float(z) for z in img.header.get_zooms()[: arr.ndim])
    unit = img.header.get_xyzt_units()[0]
    if img.affine is None or not np.isfinite(img.affine).all():
        raise SkelkitError(f"{path}: the NIfTI header holds a non-finite affine (NaN or inf); fix the header first")
    return arr, {"affine": img.affine.copy(), "header": img.header.copy(), "spacing": zooms,
                 "unit": {"mm": "mm", "micron": "µm", "meter": "m"}.get(unit, "unknown")}


# -- writers -------------------------------------------------------------------

def _encoded(arr: np.ndarray, high: int = 255) -> np.ndarray:
    return arr.astype(np.uint8) * np.uint8(high) if arr.dtype == bool else arr


def write_png(tmp, arr, meta):
    from PIL import Image

    if arr.ndim != 2:
        raise SkelkitError(f"PNG holds 2D images only, got shape {arr.shape}; use .tif, .npy or .nii.gz")
    if np.issubdtype(arr.dtype, np.floating):
        raise SkelkitError("PNG output is for binary masks and labels; write probability maps as .tif or .npy")
    Image.fromarray(_encoded(arr)).save(tmp, format="PNG")


def write_tif(tmp, arr, meta):
    """ImageJ-style TIFF (axes YX or ZYX, so stacks open as stacks), with the pixel size when it is known."""
    import tifffile

    meta = meta or {}
    data = _encoded(arr)
    md = {"axes": "ZYX" if data.ndim == 3 else "YX"}
    kw = {}
    sp = meta.get("spacing")
    if sp is not None and len(sp) == data.ndim:
        kw["resolution"] = (1.0 / sp[-1], 1.0 / sp[-2])
        md["unit"] = {"µm": "micron", "um": "micron"}.get(meta.get("unit") or "pixel", meta.get("unit") or "pixel")
        if data.ndim == 3:
            md["spacing"] = float(sp[0])
    if data.dtype not in (np.uint8, np.uint16, np.float32):  # ImageJ's types; other labels as a plain TIFF
        tifffile.imwrite(tmp, data, photometric="minisblack", compression="zlib", **kw)
        return
    tifffile.imwrite(tmp, data, imagej=True, metadata=md, compression="zlib", **kw)


def write_npy(tmp, arr, meta):
    with open(tmp, "wb") as fh:
        np.save(fh, arr, allow_pickle=False)


def write_nifti(tmp, arr, meta):
    import nibabel as nib

    meta = meta or {}
    header = meta.get("header")
    header = header.copy() if isinstance(header, nib.Nifti1Header) else None
    affine = meta.get("affine")
    if affine is None:  # from another format: voxel axes scaled by the spacing, if any
        affine = np.eye(4)
        sp = meta.get("spacing")
        if sp is not None and len(sp) == arr.ndim:
            affine[range(arr.ndim), range(arr.ndim)] = sp
    affine = np.asarray(affine, dtype=float)
    data = _encoded(arr, high=1)  # label convention: 0/1
    img = nib.Nifti1Image(data, affine, header)
    if header is None and meta.get("unit") in ("mm", "µm", "m"):
        img.header.set_xyzt_units({"mm": "mm", "µm": "micron", "m": "meter"}[meta["unit"]])
    img.header.set_data_dtype(data.dtype)
    img.header.set_slope_inter(1, 0)
    nib.save(img, str(tmp))

