"""`skeletonize`: one entry point for every method of the method table (:mod:`skelkit._methods`).

The dispatcher checks the input once (numpy: :func:`skelkit.validate.as_binary`;
tensors: :func:`skelkit.validate.check_tensor`) and the options against the
method's row, so methods can assume a clean bool array or a well-shaped
tensor and their own keywords.
"""

from __future__ import annotations

import numpy as np

from ._methods import METHODS, Method, get_method
from .core.autograd import straight_through
from .core.host import from_host, host_masks
from .errors import SkelkitError
from .validate import as_binary, check_tensor


def available_methods() -> list[str]:
    """Names of the methods in the method table, in table order."""
    return list(METHODS)


def unavailable_reason(method: str, ndim: int) -> str | None:
    """Why ``method`` cannot run on ``ndim``-D input here (dimensionality, missing weights), or None.

    Checks without running anything.
    """
    m = get_method(method)
    if ndim not in m.dims:
        return f"{method} supports {'/'.join(map(str, m.dims))}D only"
    if m.weights is not None:
        from .models.weights import weights_path

        name = m.weights.get(ndim)
        if name is None or not weights_path(name).is_file():
            return f"shipped weights missing: {weights_path(name or method)}"
    return None


def skeletonize(image, method: str = "exact", *, threshold: float | None = None, **options):
    """Skeletonize a binary 2D image or 3D volume.

    Parameters
    ----------
    image : array_like of shape (H, W) or (D, H, W), or torch.Tensor of shape (B, 1, H, W) or (B, 1, D, H, W)
        Numpy input: bool, or two values (0/1, 0/255), or grey levels with
        ``threshold``. Tensors are (soft) masks in [0, 1] and are not
        thresholded here.
    method : str
        A name from :func:`available_methods`: ``"exact"`` (default;
        topology-preserving parallel thinning), ``"skelite"`` (learned
        iterative thinning), ``"unet"`` (SkelNetOn U-Net, 2D), ``"soft"``
        (clDice soft skeleton), ``"skimage"`` (scikit-image),
        ``"medial_axis"`` (scikit-image, 2D).
    threshold : float, optional
        Binarisation threshold for grey-level numpy input (foreground is
        ``image > threshold``).
    **options
        The method's options (``skelkit.get_method(method).options``), e.g.
        ``max_num_iter`` and ``by_depth`` (exact), ``guard`` and
        ``num_iter`` (skelite), ``prob_threshold`` and ``tta`` (unet).

    Returns
    -------
    skeleton : ndarray of bool with the input's shape, or a tensor shaped like
        the input, on its device, differentiable as the method's ``gradient`` says.

    Raises
    ------
    SkelkitError
        Unknown method, an option the method does not have, a bad option
        value, or input the method cannot take (the message names it).

    Examples
    --------
    >>> import numpy as np, skelkit
    >>> img = np.zeros((9, 9), bool); img[2:7, 1:8] = True
    >>> int(skelkit.skeletonize(img).sum()), int(img.sum())
    (5, 35)
    """
    m = get_method(method)
    if _is_tensor(image):
        check_tensor(image, nan=not m.rejects_nan)
        _check_dims(m, image.ndim - 2)
        opts = m.bind(options, "torch")
        if image.shape[0] == 0:
            return image.detach().clone() if not image.is_floating_point() else image * 0
        if m.torch is None:
            return _via_numpy(m, image, opts)
        return m.function("torch")(image, **opts)
    opts = m.bind(options, "numpy")
    mask = as_binary(image, threshold, copy=False)  # a canonical bool input is not copied...
    _check_dims(m, mask.ndim)
    if mask.size == 0:
        return mask.copy()
    if mask is image:  # ...but methods get it read-only, and the result is never the caller's array
        mask = mask.view()
        mask.flags.writeable = False
    out = np.asarray(m.function("numpy")(mask, **opts), dtype=bool)
    return out.copy() if np.may_share_memory(out, image) else out


def skeletonize_labels(labels, method: str = "exact", **options) -> np.ndarray:
    """One skeleton per label of a label image; each skeleton pixel keeps its label.

    Parameters
    ----------
    labels : array_like of int, shape (H, W) or (D, H, W)
        0 is background; every other value is one object.
    method, **options
        As for :func:`skeletonize` (numpy input).

    Returns
    -------
    skeleton : ndarray, the input's shape and integer dtype
        0 off the skeletons, the label on each label's skeleton; each equals
        the skeleton of ``labels == label`` on the whole image.

    Examples
    --------
    >>> lab = np.zeros((9, 20), np.uint8); lab[2:7, 1:9] = 3; lab[2:7, 11:19] = 5
    >>> sorted(np.unique(skeletonize_labels(lab)).tolist())
    [0, 3, 5]
    """
    from scipy import ndimage

    arr = np.asarray(labels)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise SkelkitError(f"labels must be an integer array, got dtype {arr.dtype}")
    out = np.zeros(arr.shape, arr.dtype)
    ids = np.unique(arr)
    ids = ids[ids != 0]
    for lab, box in zip(ids, ndimage.find_objects(_dense(arr, ids))):
        # even box origins keep every pixel's subfield (parity class), so the result equals a whole-image run
        box = tuple(slice(b.start - b.start % 2, b.stop) for b in box)
        skel = skeletonize(arr[box] == lab, method, **options)
        out[box][skel] = lab
    return out


def _dense(arr, ids):
    """Labels renumbered 1..len(ids) (``find_objects`` wants consecutive labels)."""
    dense = np.zeros(arr.shape, np.int64)
    nz = arr != 0
    dense[nz] = np.searchsorted(ids, arr[nz]) + 1
    return dense


def _check_dims(m: Method, ndim: int) -> None:
    if ndim not in m.dims:
        raise SkelkitError(f"method {m.name!r} supports {' or '.join(f'{d}D' for d in m.dims)} input, got {ndim}D")


def _via_numpy(m: Method, x, opts: dict):
    """Run a numpy-only method per batch item; straight-through gradient to kept pixels."""
    fn = m.function("numpy")
    hard = from_host((np.asarray(fn(mk, **opts), bool) for mk in host_masks(x)), x)
    if not x.is_floating_point():
        return hard
    return straight_through(x, hard)


def _is_tensor(x) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "device")
