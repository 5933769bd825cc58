"""Overlap scores: pixel precision/recall/F1 with tolerance, Dice and clDice.

Empty-set convention used throughout: a ratio whose denominator is empty is 1
(no predicted pixel means no false positive; no reference pixel means nothing
was missed). Hence F1 is 1 when both images are empty and 0 when exactly one is.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..errors import SkelkitError
from .._compat import renamed
from ._common import binary_pair, harmonic, safe_ratio


def _near(target: np.ndarray, tolerance: float) -> np.ndarray:
    """Pixels whose Euclidean distance to the nearest ``target`` pixel is <= ``tolerance``."""
    if tolerance == 0 or not target.any():
        return target
    return ndimage.distance_transform_edt(~target) <= tolerance


def _counts(pred, ref, tolerance) -> tuple[int, int, int, int]:
    """(matched predicted, all predicted, matched reference, all reference) pixels."""
    if not tolerance >= 0:
        raise SkelkitError(f"tolerance must be a number >= 0, got {tolerance}")
    pred, ref = binary_pair(pred, ref)
    tp_p = int(np.count_nonzero(pred & _near(ref, tolerance)))
    tp_r = int(np.count_nonzero(ref & _near(pred, tolerance)))
    return tp_p, int(pred.sum()), tp_r, int(ref.sum())


@renamed(gt="ref")
def precision_recall_f1(pred, ref, tolerance: float = 0) -> tuple[float, float, float]:
    """Pixel precision, recall and F1 of a predicted skeleton, with distance tolerance.

    A predicted pixel is a true positive if a reference pixel lies within
    Euclidean distance ``tolerance`` of it (in pixels; 0 means the same
    pixel); symmetrically, a reference pixel is recovered if a predicted pixel
    lies within ``tolerance``. Precision and recall are then the matched
    fractions of the predicted and reference pixels, F1 their harmonic mean.

    Parameters
    ----------
    pred, ref : array_like of bool, shape (H, W) or (D, H, W)
        Predicted and reference skeletons (same shape).
    tolerance : float, optional
        Matching radius in pixels (>= 0).

    Returns
    -------
    precision, recall, f1 : float
        In [0, 1]. Empty-denominator ratios are 1 (see module docstring), so
        F1 is 1 when both are empty and 0 when only one is.

    Notes
    -----
    Swapping ``pred`` and ``ref`` swaps precision and recall and keeps F1.
    Increasing ``tolerance`` never lowers any of the three.
    """
    tp_p, n_p, tp_r, n_g = _counts(pred, ref, tolerance)
    p, r = safe_ratio(tp_p, n_p), safe_ratio(tp_r, n_g)
    return p, r, harmonic(p, r)


@renamed(gts="refs")
def pooled_f1(preds, refs, tolerance: float = 0) -> float:
    """F1 with pixel counts pooled over a set of images (micro average).

    Parameters
    ----------
    preds, refs : sequence of array_like of bool
        Paired predicted and reference skeletons; each pair has one shape.
    tolerance : float, optional
        Matching radius in pixels, as in :func:`precision_recall_f1`.

    Returns
    -------
    f1 : float
        ``harmonic(sum matched pred / sum pred, sum matched ref / sum ref)``.
    """
    preds, refs = list(preds), list(refs)
    if len(preds) != len(refs):
        raise SkelkitError(f"got {len(preds)} predictions but {len(refs)} references")
    totals = np.zeros(4, dtype=np.int64)
    for p, g in zip(preds, refs):
        totals += _counts(p, g, tolerance)
    tp_p, n_p, tp_r, n_g = totals
    return harmonic(safe_ratio(tp_p, n_p), safe_ratio(tp_r, n_g))


@renamed(gts="refs")
def skelneton_score(preds, refs) -> float:
    """Mean per-image exact-pixel F1, the SkelNetOn 2019 challenge score [1]_.

    Parameters
    ----------
    preds, refs : sequence of array_like of bool, each (H, W)
        Paired predicted and reference skeletons.

    Returns
    -------
    score : float
        Mean over images of :func:`precision_recall_f1` F1 with ``tolerance=0``;
        an image whose prediction and reference are both empty scores 1.

    References
    ----------
    .. [1] Demir, I., et al. "SkelNetOn 2019: Dataset and Challenge on Deep
       Learning for Geometric Shape Understanding", CVPR Workshops 2019.
    """
    preds, refs = list(preds), list(refs)
    if len(preds) != len(refs):
        raise SkelkitError(f"got {len(preds)} predictions but {len(refs)} references")
    if not preds:
        raise SkelkitError("skelneton_score needs at least one image pair")
    return float(np.mean([precision_recall_f1(p, g)[2] for p, g in zip(preds, refs)]))


@renamed(a="pred", b="ref")
def dice(pred, ref) -> float:
    """Dice coefficient ``2 |pred & ref| / (|pred| + |ref|)`` of two masks; 1 when both are empty.

    Parameters
    ----------
    pred, ref : array_like of bool, shape (H, W) or (D, H, W)

    Returns
    -------
    dice : float in [0, 1]
    """
    pred, ref = binary_pair(pred, ref)
    return safe_ratio(2 * np.count_nonzero(pred & ref), np.count_nonzero(pred) + np.count_nonzero(ref))


@renamed(pred_mask="pred", gt_mask="ref", gt_skel="ref_skel")
def cldice(pred, ref, pred_skel=None, ref_skel=None) -> tuple[float, float, float]:
    """Centreline Dice of two segmentations, on hard skeletons [1]_.

    ``Tprec = |S_pred & V_ref| / |S_pred|`` (how much of the predicted
    skeleton lies inside the reference mask), ``Tsens = |S_ref & V_pred| /
    |S_ref|``, and clDice is their harmonic mean.

    Parameters
    ----------
    pred, ref : array_like of bool, shape (H, W) or (D, H, W)
        Predicted and reference segmentations.
    pred_skel, ref_skel : array_like of bool, optional
        Their skeletons; exact thinning (:func:`skelkit.core.thinning.thin`)
        when not given.

    Returns
    -------
    cldice, tprec, tsens : float
        In [0, 1]; an empty skeleton gives a ratio of 1 (nothing to miss).

    References
    ----------
    .. [1] Shit, S., Paetzold, J. C., et al. "clDice - a Novel
       Topology-Preserving Loss Function for Tubular Structure Segmentation",
       CVPR 2021.
    """
    from ..core.thinning import thin

    vp, vg = binary_pair(pred, ref)
    sp = thin(vp) if pred_skel is None else pred_skel
    sg = thin(vg) if ref_skel is None else ref_skel
    sp, _ = binary_pair(sp, vp, names=("pred_skel", "pred"))
    sg, _ = binary_pair(sg, vg, names=("ref_skel", "ref"))
    tprec = safe_ratio(np.count_nonzero(sp & vg), np.count_nonzero(sp))
    tsens = safe_ratio(np.count_nonzero(sg & vp), np.count_nonzero(sg))
    return harmonic(tprec, tsens), tprec, tsens
