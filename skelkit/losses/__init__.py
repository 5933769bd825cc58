"""Training losses: torch modules called as ``loss(input, target)``."""

from .cldice import ClDiceLoss, DiceClDiceLoss
from .segmentation import (
    BCELoss,
    DiceLoss,
    FocalLoss,
    JaccardLoss,
    WeightedBCELoss,
    WeightedFocalLoss,
    make_loss,
)

__all__ = [
    "ClDiceLoss",
    "DiceClDiceLoss",
    "BCELoss",
    "DiceLoss",
    "FocalLoss",
    "JaccardLoss",
    "WeightedBCELoss",
    "WeightedFocalLoss",
    "make_loss",
]
