"""All skeleton metrics of one prediction/reference pair, as a flat dict."""

from __future__ import annotations

from .._compat import renamed
from ._common import binary_pair
from .distance import hausdorff, hd95
from .graph import skeleton_graph_stats
from .overlap import precision_recall_f1
from .thinness import thinness
from .topology import betti_errors


@renamed(gt="ref")
def evaluate_pair(pred, ref, *, spacing=None, tolerance: float = 1) -> dict:
    """Compare a predicted skeleton with a reference skeleton.

    Parameters
    ----------
    pred, ref : array_like of bool, shape (H, W) or (D, H, W)
        Predicted and reference skeletons, same shape.
    spacing : float or sequence of float, optional
        Pixel size per axis for the Hausdorff distances (default 1).
    tolerance : float
        Matching radius in pixels for ``precision``/``recall``/``f1``.

    Returns
    -------
    metrics : dict of str -> int or float
        ``precision``, ``recall``, ``f1`` (with ``tolerance``); ``f1_exact``
        (tolerance 0, equal to the Dice coefficient); ``hausdorff``, ``hd95`` (spacing units,
        ``inf`` if only one is empty); ``betti_error_0``, ``betti_error_1``
        (and ``betti_error_2`` in 3D); the prediction's ``full_blocks``,
        ``removable``, ``components``, ``endpoints`` and ``branch_points``.
    """
    pred, ref = binary_pair(pred, ref)
    p, r, f = precision_recall_f1(pred, ref, tolerance)
    out = {
        "precision": p,
        "recall": r,
        "f1": f,
        "f1_exact": precision_recall_f1(pred, ref, 0)[2],
        "hausdorff": hausdorff(pred, ref, spacing),
        "hd95": hd95(pred, ref, spacing),
    }
    out.update({f"betti_error_{i}": e for i, e in enumerate(betti_errors(pred, ref))})
    out.update(thinness(pred))
    g = skeleton_graph_stats(pred)
    out.update({k: g[k] for k in ("components", "endpoints", "branch_points")})
    return out
