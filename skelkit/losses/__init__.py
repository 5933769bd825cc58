"""Training losses: torch modules called as ``loss(input, target)`` (MONAI's convention)."""

from .._compat import renamed_attribute
from .cldice import ClDiceLoss, DiceClDiceLoss, skeletonizers
from .segmentation import (
    _OLD_NAMES,
    BinaryCrossEntropyLoss,
    BinaryFocalLoss,
    SoftBlockLoss,
    SoftDiceLoss,
    SoftJaccardLoss,
    WeightedBCELoss,
    WeightedFocalLoss,
    make_loss,
)

__all__ = [
    "ClDiceLoss",
    "DiceClDiceLoss",
    "skeletonizers",
    "BinaryCrossEntropyLoss",
    "BinaryFocalLoss",
    "SoftBlockLoss",
    "SoftDiceLoss",
    "SoftJaccardLoss",
    "WeightedBCELoss",
    "WeightedFocalLoss",
    "make_loss",
]


def __getattr__(name):
    return renamed_attribute(__name__, name, _OLD_NAMES)
