"""Shipped weights: where they live, how they load (one cache for every model), how checkpoints are saved.

Weights ship inside the package (``skelkit/models/weights/NAME.pt``) with a model
card ``NAME.md`` beside each; nothing is ever downloaded.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch

from ..errors import SkelkitError, WeightsNotFoundError
from ..io.atomic import atomic_path

WEIGHTS_DIR = Path(__file__).parent / "weights"
#: Loaded models kept at once (least recently used dropped first): they are
#: small, and callers switch between a few (2D and 3D, CPU and GPU).
CACHE_SIZE = 8

_CACHE: OrderedDict = OrderedDict()


def weights_path(name: str) -> Path:
    """Path of the shipped weights file ``NAME.pt`` (it may not exist)."""
    return WEIGHTS_DIR / f"{name}.pt"


def resolve(weights, default: str) -> Path:
    """The weights file meant by ``weights``.

    ``None`` means the shipped ``default``; a bare name without suffix or
    folder (``"unet"``) a shipped file; anything else a path.
    """
    if weights is None:
        return weights_path(default)
    p = Path(weights)
    return p.resolve() if p.suffix or p.parent != Path(".") else weights_path(str(weights))


def canonical_device(device) -> torch.device:
    """``torch.device`` with its index filled in, so ``"cuda"`` and ``"cuda:0"`` name one device."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise SkelkitError(f"unknown device {device!r}: {exc}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise SkelkitError(f"device {device!r} asked for, but this torch build or machine has no CUDA GPU")
        if dev.index is None:
            dev = torch.device("cuda", torch.cuda.current_device())
    return dev


def load_model(weights, default: str, build, *, device="cpu", dtype=torch.float32) -> torch.nn.Module:
    """A model built from a weights file by ``build(state) -> nn.Module``, cached, on ``device``, in eval mode.

    Parameters
    ----------
    weights : str, path or None
        See :func:`resolve`.
    default : str
        Shipped name used when ``weights`` is None.
    build : callable
        Turns the loaded checkpoint dict into a model; raises
        :class:`SkelkitError` when the file holds something else. Part of the
        cache key, so two model kinds never share an entry.
    device, dtype
        Where the parameters live. ``"cuda"`` and ``"cuda:0"`` share one copy.

    Raises
    ------
    WeightsNotFoundError
        The weights file does not exist.
    """
    path = resolve(weights, default)
    dev = canonical_device(device)
    stamp = path.stat().st_mtime_ns if path.exists() else 0
    key = (build, str(path), stamp, str(dev), dtype)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    model = build(load_state(path=path)).to(device=dev, dtype=dtype).eval().requires_grad_(False)
    _CACHE[key] = model
    while len(_CACHE) > CACHE_SIZE:
        _CACHE.popitem(last=False)
    return model


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
        state = torch.load(p, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt files
        raise SkelkitError(f"cannot read model weights {p}: not a readable checkpoint ({exc.__class__.__name__})") from None
    if not isinstance(state, dict):
        raise SkelkitError(f"cannot read model weights {p}: expected a checkpoint dict, got {type(state).__name__}")
    return state


def save_checkpoint(path, obj: dict) -> None:
    """Save a checkpoint atomically (a crash never leaves a truncated file)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
