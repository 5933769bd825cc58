"""Pixel-wise segmentation losses for thin, heavily imbalanced targets.

Every loss is a small ``nn.Module`` called MONAI-style as ``loss(input, target)``
with ``input`` and ``target`` of the same shape, e.g. (B, 1, H, W). Whether
``input`` holds logits or probabilities is an explicit constructor argument
(``logits=True`` applies the sigmoid inside the loss, in a numerically stable
way). Targets are in [0, 1].

The cross-entropy family shares one formula, the weighted focal loss of
Panichev & Voloshyna [1]_::

    FL = -w_pos (1 - p)^gamma t log(p) - w_neg p^gamma (1 - t) log(1 - p)

BCE is ``w_pos = w_neg = 1, gamma = 0``; weighted BCE is ``gamma = 0``; the
focal loss of Lin et al. [2]_ is ``w_pos = alpha, w_neg = 1 - alpha``.

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

from ..errors import SkelkitError

_EPS = 1e-7
_REDUCTIONS = ("mean", "sum", "none")


def _check(input: torch.Tensor, target: torch.Tensor, reduction: str) -> None:
    if input.shape != target.shape:
        raise SkelkitError(f"loss input shape {tuple(input.shape)} != target shape {tuple(target.shape)}")
    if reduction not in _REDUCTIONS:
        raise SkelkitError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _reduce(x: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return x.mean()
    if reduction == "sum":
        return x.sum()
    return x


def _log_probs(input: torch.Tensor, logits: bool):
    """Return ``(p, log p, log(1 - p))``; exact log-sigmoids for logits, clamped logs otherwise."""
    if logits:
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
    logits : bool
        ``True`` if ``input`` holds logits, ``False`` for probabilities in [0, 1].
    reduction : {"mean", "sum", "none"}

    Notes
    -----
    ``forward(input, target)`` takes two tensors of the same shape and returns
    a scalar (or the per-pixel map for ``reduction="none"``).
    """

    def __init__(self, w_pos: float = 50.0, w_neg: float = 0.75, gamma: float = 2.0, *,
                 logits: bool = False, reduction: str = "mean"):
        super().__init__()
        self.w_pos, self.w_neg, self.gamma = float(w_pos), float(w_neg), float(gamma)
        self.logits, self.reduction = bool(logits), reduction

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check(input, target, self.reduction)
        p, log_p, log_q = _log_probs(input, self.logits)
        t = target.to(p.dtype)
        pos = self.w_pos * t * log_p
        neg = self.w_neg * (1 - t) * log_q
        if self.gamma:
            pos = pos * (1 - p).pow(self.gamma)
            neg = neg * p.pow(self.gamma)
        return _reduce(-(pos + neg), self.reduction)


class FocalLoss(WeightedFocalLoss):
    """Focal loss of Lin et al. [2]_: ``alpha`` weights positives, ``1 - alpha`` negatives."""

    def __init__(self, alpha: float = 0.25, gamma: float = 2.0, *, logits: bool = False, reduction: str = "mean"):
        super().__init__(alpha, 1.0 - alpha, gamma, logits=logits, reduction=reduction)


class WeightedBCELoss(WeightedFocalLoss):
    """Class-weighted binary cross-entropy (weighted focal loss with ``gamma = 0``)."""

    def __init__(self, w_pos: float = 50.0, w_neg: float = 0.75, *, logits: bool = False, reduction: str = "mean"):
        super().__init__(w_pos, w_neg, 0.0, logits=logits, reduction=reduction)


class BCELoss(WeightedFocalLoss):
    """Plain binary cross-entropy."""

    def __init__(self, *, logits: bool = False, reduction: str = "mean"):
        super().__init__(1.0, 1.0, 0.0, logits=logits, reduction=reduction)


class _OverlapLoss(nn.Module):
    """Base of the soft Dice and Jaccard losses: per-sample overlap over all non-batch axes."""

    def __init__(self, smooth: float = 1.0, *, logits: bool = False, reduction: str = "mean"):
        super().__init__()
        self.smooth, self.logits, self.reduction = float(smooth), bool(logits), reduction

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check(input, target, self.reduction)
        p = torch.sigmoid(input) if self.logits else input
        t = target.to(p.dtype)
        axes = tuple(range(1, p.ndim))
        inter = (p * t).sum(axes)
        total = p.sum(axes) + t.sum(axes)
        return _reduce(1 - self._score(inter, total), self.reduction)


class DiceLoss(_OverlapLoss):
    """Soft Dice loss [3]_, ``1 - (2 |P T| + s) / (|P| + |T| + s)`` per sample.

    Parameters
    ----------
    smooth : float
        Added to numerator and denominator; keeps empty targets finite.
    logits : bool
        ``True`` if ``input`` holds logits, ``False`` for probabilities.
    reduction : {"mean", "sum", "none"}
        Over the batch; ``"none"`` returns shape (B,).
    """

    def _score(self, inter, total):
        return (2 * inter + self.smooth) / (total + self.smooth)


class JaccardLoss(_OverlapLoss):
    """Soft Jaccard (IoU) loss, ``1 - (|P T| + s) / (|P| + |T| - |P T| + s)`` per sample.

    Parameters are those of :class:`DiceLoss`.
    """

    def _score(self, inter, total):
        return (inter + self.smooth) / (total - inter + self.smooth)


SEGMENTATION_LOSSES = {
    "wfocal": WeightedFocalLoss,
    "focal": FocalLoss,
    "wbce": WeightedBCELoss,
    "bce": BCELoss,
    "dice": DiceLoss,
    "jaccard": JaccardLoss,
}


def make_loss(name: str, *, logits: bool = False, **kwargs) -> nn.Module:
    """Build a segmentation loss by short name (``wfocal``, ``focal``, ``wbce``, ``bce``, ``dice``, ``jaccard``)."""
    if name not in SEGMENTATION_LOSSES:
        raise SkelkitError(f"unknown loss {name!r}; choose one of {', '.join(SEGMENTATION_LOSSES)}")
    return SEGMENTATION_LOSSES[name](logits=logits, **kwargs)
