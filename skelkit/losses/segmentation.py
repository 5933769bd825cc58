"""Pixel-wise segmentation losses for thin, heavily imbalanced targets.

Every loss is a small ``nn.Module`` called MONAI-style as ``loss(input, target)``
with ``input`` and ``target`` of the same shape, e.g. (B, 1, H, W). Whether
``input`` holds logits or probabilities is an explicit constructor argument,
named as in MONAI (``sigmoid=True`` applies the sigmoid inside the loss, in a
numerically stable way); ``reduction`` is ``"mean"``, ``"sum"`` or ``"none"``.
Targets are in [0, 1]. Names differ from MONAI's and torch's ``DiceLoss``,
``FocalLoss`` and ``BCELoss``, whose arguments and conventions differ.

The cross-entropy family shares one formula, the weighted focal loss of
Panichev & Voloshyna [1]_::

    FL = -w_pos (1 - p)^gamma t log(p) - w_neg p^gamma (1 - t) log(1 - p)

BCE is ``w_pos = w_neg = 1, gamma = 0``; weighted BCE is ``gamma = 0``; the
focal loss of Lin et al. [2]_ is ``w_pos = alpha, w_neg = 1 - alpha``.
(Old names, deprecated: ``FocalLoss``, ``BCELoss``, ``DiceLoss``, ``JaccardLoss``.)

References
----------
.. [1] Panichev, O., Voloshyna, A. "U-Net Based Convolutional Neural Network
   for Skeleton Extraction", CVPR Workshops (SkelNetOn), 2019.
.. [2] Lin, T.-Y. et al. "Focal Loss for Dense Object Detection", ICCV 2017.
.. [3] Milletari, F. et al. "V-Net", 3DV 2016 (Dice loss).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._compat import renamed, renamed_attribute
from ..errors import SkelkitError
from .reduction import check_reduction, reduce_loss

_EPS = 1e-7
_OLD_NAMES = {"FocalLoss": "BinaryFocalLoss", "BCELoss": "BinaryCrossEntropyLoss", "DiceLoss": "SoftDiceLoss",
              "JaccardLoss": "SoftJaccardLoss"}


def __getattr__(name):
    return renamed_attribute(__name__, name, _OLD_NAMES)


def _check(input: torch.Tensor, target: torch.Tensor) -> None:
    if input.shape != target.shape:
        raise SkelkitError(f"loss input shape {tuple(input.shape)} != target shape {tuple(target.shape)}")


def _log_probs(input: torch.Tensor, sigmoid: bool):
    """Return ``(p, log p, log(1 - p))``; exact log-sigmoids for logits, clamped logs otherwise."""
    if sigmoid:
        return torch.sigmoid(input), F.logsigmoid(input), F.logsigmoid(-input)
    p = input.clamp(_EPS, 1 - _EPS)
    return input, torch.log(p), torch.log1p(-p)


class WeightedFocalLoss(nn.Module):
    """Weighted focal loss (the SkelNetOn U-Net loss [1]_).

    Parameters
    ----------
    w_pos, w_neg : float
        Weights of the skeleton (positive) and background terms; defaults are
        the published 50 and 0.75.
    gamma : float
        Focusing exponent; 0 gives weighted binary cross-entropy.
    sigmoid : bool
        ``True`` if ``input`` holds logits (the sigmoid is applied inside),
        ``False`` for probabilities in [0, 1]. Deprecated name: ``logits``.
    reduction : {"mean", "sum", "none"}

    Notes
    -----
    ``forward(input, target)`` takes two tensors of the same shape and returns
    a scalar (or the per-pixel map for ``reduction="none"``).
    """

    @renamed(logits="sigmoid")
    def __init__(self, w_pos: float = 50.0, w_neg: float = 0.75, gamma: float = 2.0, *,
                 sigmoid: bool = False, reduction: str = "mean"):
        super().__init__()
        self.w_pos, self.w_neg, self.gamma = float(w_pos), float(w_neg), float(gamma)
        self.sigmoid, self.reduction = bool(sigmoid), check_reduction(reduction)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check(input, target)
        p, log_p, log_q = _log_probs(input, self.sigmoid)
        t = target.to(p.dtype)
        pos = self.w_pos * t * log_p
        neg = self.w_neg * (1 - t) * log_q
        if self.gamma:
            pos = pos * (1 - p).pow(self.gamma)
            neg = neg * p.pow(self.gamma)
        return reduce_loss(-(pos + neg), self.reduction)


class BinaryFocalLoss(WeightedFocalLoss):
    """Focal loss of Lin et al. [2]_: ``alpha`` weights positives, ``1 - alpha`` negatives."""

    @renamed(logits="sigmoid")
    def __init__(self, alpha: float = 0.25, gamma: float = 2.0, *, sigmoid: bool = False, reduction: str = "mean"):
        super().__init__(alpha, 1.0 - alpha, gamma, sigmoid=sigmoid, reduction=reduction)


class WeightedBCELoss(WeightedFocalLoss):
    """Class-weighted binary cross-entropy (weighted focal loss with ``gamma = 0``)."""

    @renamed(logits="sigmoid")
    def __init__(self, w_pos: float = 50.0, w_neg: float = 0.75, *, sigmoid: bool = False, reduction: str = "mean"):
        super().__init__(w_pos, w_neg, 0.0, sigmoid=sigmoid, reduction=reduction)


class BinaryCrossEntropyLoss(WeightedFocalLoss):
    """Plain binary cross-entropy."""

    @renamed(logits="sigmoid")
    def __init__(self, *, sigmoid: bool = False, reduction: str = "mean"):
        super().__init__(1.0, 1.0, 0.0, sigmoid=sigmoid, reduction=reduction)


class _OverlapLoss(nn.Module):
    """Base of the soft Dice and Jaccard losses: per-sample overlap over all non-batch axes."""

    @renamed(logits="sigmoid")
    def __init__(self, smooth: float = 1.0, *, sigmoid: bool = False, reduction: str = "mean"):
        super().__init__()
        self.smooth, self.sigmoid, self.reduction = float(smooth), bool(sigmoid), check_reduction(reduction)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check(input, target)
        p = torch.sigmoid(input) if self.sigmoid else input
        t = target.to(p.dtype)
        axes = tuple(range(1, p.ndim))
        inter = (p * t).sum(axes)
        total = p.sum(axes) + t.sum(axes)
        return reduce_loss(1 - self._score(inter, total), self.reduction)


class SoftDiceLoss(_OverlapLoss):
    """Soft Dice loss [3]_, ``1 - (2 |P T| + s) / (|P| + |T| + s)`` per sample.

    Parameters
    ----------
    smooth : float
        Added to numerator and denominator; keeps empty targets finite.
    sigmoid : bool
        ``True`` if ``input`` holds logits, ``False`` for probabilities.
    reduction : {"mean", "sum", "none"}
        Over the batch; ``"none"`` returns shape (B,).
    """

    def _score(self, inter, total):
        return (2 * inter + self.smooth) / (total + self.smooth)


class SoftJaccardLoss(_OverlapLoss):
    """Soft Jaccard (IoU) loss, ``1 - (|P T| + s) / (|P| + |T| - |P T| + s)`` per sample.

    Parameters are those of :class:`SoftDiceLoss`.
    """

    def _score(self, inter, total):
        return (inter + self.smooth) / (total - inter + self.smooth)


class SoftBlockLoss(nn.Module):
    """Penalty on soft full blocks (2x2 in 2D, 2x2x2 in 3D) that the target does not have.

    A block's soft value is the product of its pixels' probabilities; the loss per
    sample is the sum over blocks absent from the target divided by the target's
    pixel count (plus ``smooth``), i.e. extra blocks per skeleton pixel. Added to a
    pixel loss it rewards one-pixel-wide lines where the truth is one pixel wide:
    the cheapest way to lower it is to drop the block's pixel that is not in the
    target.

    Parameters
    ----------
    smooth : float
        Added to the denominator; keeps empty targets finite.
    sigmoid : bool
        ``True`` if ``input`` holds logits, ``False`` for probabilities.
    reduction : {"mean", "sum", "none"}
        Over the batch; ``"none"`` returns shape (B,).

    Notes
    -----
    ``input`` and ``target`` are (B, C, H, W) or (B, C, H, W, D).
    """

    def __init__(self, smooth: float = 1.0, *, sigmoid: bool = False, reduction: str = "mean"):
        super().__init__()
        self.smooth, self.sigmoid, self.reduction = float(smooth), bool(sigmoid), check_reduction(reduction)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check(input, target)
        if input.ndim not in (4, 5):
            raise SkelkitError(f"block loss needs (B, C, H, W) or (B, C, H, W, D) tensors, got shape {tuple(input.shape)}")
        p = torch.sigmoid(input) if self.sigmoid else input
        t = target.to(p.dtype)
        soft, full = p, t
        for axis in range(2, p.ndim):  # product over each axis' neighbour pairs: the block's corners
            n = p.shape[axis] - 1
            soft = soft.narrow(axis, 0, n) * soft.narrow(axis, 1, n)
            full = full.narrow(axis, 0, n) * full.narrow(axis, 1, n)
        axes = tuple(range(1, p.ndim))
        extra = (soft * (1 - full)).sum(axes)
        return reduce_loss(extra / (t.sum(axes) + self.smooth), self.reduction)


SEGMENTATION_LOSSES = {
    "wfocal": WeightedFocalLoss,
    "focal": BinaryFocalLoss,
    "wbce": WeightedBCELoss,
    "bce": BinaryCrossEntropyLoss,
    "dice": SoftDiceLoss,
    "jaccard": SoftJaccardLoss,
    "block": SoftBlockLoss,
}


@renamed(logits="sigmoid")
def make_loss(name: str, *, sigmoid: bool = False, **kwargs) -> nn.Module:
    """Build a segmentation loss by short name (``wfocal``, ``focal``, ``wbce``, ``bce``, ``dice``, ``jaccard``,
    ``block``)."""
    if name not in SEGMENTATION_LOSSES:
        raise SkelkitError(f"unknown loss {name!r}; choose one of {', '.join(SEGMENTATION_LOSSES)}")
    return SEGMENTATION_LOSSES[name](sigmoid=sigmoid, **kwargs)
