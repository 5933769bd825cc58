"""Shipped weights: where they live, how they load, how checkpoints are saved.

Weights ship inside the package (``skelkit/models/weights/NAME.pt``) with a model
card ``NAME.md`` beside each; nothing is ever downloaded.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import SkelkitError, WeightsNotFoundError
from ..io.atomic import atomic_path

WEIGHTS_DIR = Path(__file__).parent / "weights"


def weights_path(name: str) -> Path:
    """Path of the shipped weights file ``NAME.pt`` (it may not exist)."""
    return WEIGHTS_DIR / f"{name}.pt"


def load_state(name: str | None = None, path=None, map_location="cpu") -> dict:
    """Load a checkpoint dict from ``path`` or from the shipped weights ``name``.

    Raises
    ------
    WeightsNotFoundError
        The file does not exist (names the path and the command that makes it).
    SkelkitError
        The file exists but is not a readable checkpoint.
    """
    p = Path(path) if path is not None else weights_path(name)
    if not p.is_file():
        raise WeightsNotFoundError(
            f"model weights not found: {p} (train them with `skelkit train ...`, or pass weights=PATH)"
        )
    try:
        return torch.load(p, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt files
        raise SkelkitError(f"cannot read model weights {p}: {exc.__class__.__name__}: {exc}") from None


def save_checkpoint(path, obj: dict) -> None:
    """Save a checkpoint atomically (a crash never leaves a truncated file)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
