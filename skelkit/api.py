"""`skeletonize`: one entry point, many methods.

Methods register themselves with :func:`register`; each provides a numpy
function (bool array in, bool array out) and optionally a torch function
((B,1,H,W[,D]) tensor in, tensor out on the same device, differentiable where
the method is). The dispatcher validates input once, so methods can assume a
clean bool array or a well-shaped float tensor.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .errors import SkelkitError
from .validate import as_binary, check_tensor


@dataclass(frozen=True)
class Method:
    name: str
    numpy_fn: Callable  # (mask: bool ndarray, **kw) -> bool ndarray
    torch_fn: Callable | None = None  # (x: float tensor (B,1,...), **kw) -> tensor
    dims: tuple = (2, 3)
    doc: str = ""


_METHODS: dict[str, Method] = {}
# Modules imported lazily on first use so `import skelkit` stays fast.
_PROVIDERS = {
    "exact": "skelkit.core.methods",
    "soft": "skelkit.core.methods",
    "skimage": "skelkit.core.methods",
    "medial_axis": "skelkit.core.methods",
    "skelite": "skelkit.models.skelite",
    "unet": "skelkit.models.unet",
}


def register(method: Method) -> Method:
    _METHODS[method.name] = method
    return method


def get_method(name: str) -> Method:
    if name not in _METHODS and name in _PROVIDERS:
        importlib.import_module(_PROVIDERS[name])
    if name not in _METHODS:
        raise SkelkitError(f"unknown method {name!r}; choose one of {', '.join(available_methods())}")
    return _METHODS[name]


def available_methods() -> list[str]:
    return sorted(set(_PROVIDERS) | set(_METHODS))


def skeletonize(image, method: str = "exact", *, threshold: float | None = None, **kwargs):
    """Skeletonize a binary 2D image or 3D volume.

    Parameters
    ----------
    image : array_like of shape (H, W) or (D, H, W), or torch.Tensor of shape (B, 1, H, W) or (B, 1, D, H, W)
        Foreground is non-zero (or ``> threshold``). Tensors are treated as
        (soft) masks in [0, 1] and are not thresholded.
    method : str
        ``"exact"`` (default; topology-preserving parallel thinning),
        ``"soft"`` (clDice soft skeleton), ``"skimage"`` (scikit-image),
        ``"medial_axis"`` (scikit-image, 2D), ``"skelite"`` (learned iterative
        thinning), ``"unet"`` (SkelNetOn U-Net, 2D).
    threshold : float, optional
        Binarisation threshold for grey-level numpy input.
    **kwargs
        Passed to the method (e.g. ``max_iter``, ``iters``, ``guard``).

    Returns
    -------
    skeleton : ndarray of bool with the input's shape, or a tensor shaped like the input
        on the same device.

    Examples
    --------
    >>> import numpy as np, skelkit
    >>> img = np.zeros((9, 9), bool); img[2:7, 1:8] = True
    >>> skelkit.skeletonize(img).sum() < img.sum()
    True
    """
    m = get_method(method)
    if _is_tensor(image):
        check_tensor(image)
        spatial = image.ndim - 2
        if spatial not in m.dims:
            raise SkelkitError(f"method {method!r} supports {_dims(m)} input, got {spatial}D")
        if m.torch_fn is None:
            return _via_numpy(m, image, kwargs)
        return m.torch_fn(image, **kwargs)
    mask = as_binary(image, threshold)
    if mask.ndim not in m.dims:
        raise SkelkitError(f"method {method!r} supports {_dims(m)} input, got {mask.ndim}D")
    out = m.numpy_fn(mask, **kwargs)
    return np.asarray(out, dtype=bool)


def straight_through(x, hard):
    """Return ``hard`` in the forward pass with the gradient of ``x`` where ``hard`` is 1.

    Gradient flows to the kept pixels: d out / d x = hard (elementwise).
    """
    return hard * x + (hard - hard * x).detach()


def _via_numpy(m: Method, x, kwargs):
    """Run a numpy-only method per batch item; straight-through gradient to kept pixels."""
    import torch

    masks = (x.detach() > 0.5).cpu().numpy()[:, 0]
    outs = np.stack([m.numpy_fn(mk, **kwargs) for mk in masks])[:, None]
    hard = torch.from_numpy(outs).to(device=x.device, dtype=x.dtype if x.is_floating_point() else torch.float32)
    if not x.is_floating_point():
        return hard
    return straight_through(x, hard)


def _dims(m: Method) -> str:
    return " or ".join(f"{d}D" for d in m.dims)


def _is_tensor(x) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "device")
