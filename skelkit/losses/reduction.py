"""The ``reduction`` argument shared by every loss (MONAI's convention)."""

from __future__ import annotations

from ..errors import SkelkitError

REDUCTIONS = ("mean", "sum", "none")


def check_reduction(reduction: str) -> str:
    if reduction not in REDUCTIONS:
        raise SkelkitError(f"unknown reduction {reduction!r}; choose one of {', '.join(REDUCTIONS)}")
    return reduction


def reduce_loss(values, reduction: str):
    """Apply ``"mean"``, ``"sum"`` or ``"none"`` to a tensor of loss values."""
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    return values
