"""Classical methods for :func:`skelkit.skeletonize`: "exact", "soft", "skimage", "medial_axis".

Imported lazily by :mod:`skelkit.api` (see ``api._PROVIDERS``).
"""

from __future__ import annotations

import numpy as np

from ..api import Method, _via_numpy, register
from .thinning import thin


def _exact_numpy(mask: np.ndarray, max_iter: int | None = None, by_depth: bool = False,
                 equivariant: bool = False) -> np.ndarray:
    return thin(mask, max_iter=max_iter, by_depth=by_depth, equivariant=equivariant)


def _exact_torch(x, max_iter: int | None = None, by_depth: bool = False, equivariant: bool = False):
    # Thinning is discrete: run it on CPU per batch item, gradient straight through to kept pixels.
    return _via_numpy(EXACT, x, {"max_iter": max_iter, "by_depth": by_depth, "equivariant": equivariant})


EXACT = register(
    Method(
        "exact",
        _exact_numpy,
        _exact_torch,
        doc="Topology-preserving parallel thinning (8/4 in 2D, 26/6 in 3D); kwargs: max_iter, by_depth "
        "(peel in depth order, Skelite's teacher), equivariant (no subfields: the skeleton moves with the image).",
    )
)


def _soft_torch(x, iters: int = 10):
    from .soft import soft_skeleton

    return soft_skeleton(x if x.is_floating_point() else x.float(), iters=iters)


def _soft_numpy(mask: np.ndarray, iters: int = 10) -> np.ndarray:
    import torch

    x = torch.from_numpy(mask.astype(np.float32))[None, None]
    with torch.no_grad():
        return (_soft_torch(x, iters=iters)[0, 0] > 0.5).numpy()


register(Method("soft", _soft_numpy, _soft_torch, doc="clDice soft skeleton (min/max-pool); kwargs: iters=10."))


def _skimage_numpy(mask: np.ndarray) -> np.ndarray:
    from skimage.morphology import skeletonize

    return skeletonize(mask)


def _medial_axis_numpy(mask: np.ndarray) -> np.ndarray:
    from skimage.morphology import medial_axis

    return medial_axis(mask, rng=0)  # fixed tie-breaking: same input, same output


register(Method("skimage", _skimage_numpy, doc="scikit-image skeletonize (Zhang 2D, Lee 3D)."))
register(Method("medial_axis", _medial_axis_numpy, dims=(2,), doc="scikit-image medial axis (2D, deterministic tie-breaking)."))
