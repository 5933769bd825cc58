"""SkelNetOn Pixel track data: loading and deterministic splits.

The training pairs are 256x256 binary shapes with 1-pixel ground-truth
skeletons, stored as ``ROOT/shapes/NAME.png`` and ``ROOT/skeletons/NAME.png``
with ``NAME = CLASS-ID`` (e.g. ``Bone-1``). The data is for academic use only
and is never copied into this repository; point :func:`default_root` at it.

References
----------
.. [1] Demir, I. et al. "SkelNetOn 2019: Dataset and Challenge on Deep Learning
   for Geometric Shape Understanding", CVPR Workshops 2019.
"""

from __future__ import annotations

import json
import os
import random
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..errors import SkelkitError
from ..io.atomic import atomic_write_text

ENV_VAR = "SKELKIT_SKELNETON"
_FALLBACK = Path("..") / "shared" / "data" / "skelneton" / "train"


def default_root() -> Path | None:
    """Data folder from ``$SKELKIT_SKELNETON``, else ``../shared/data/skelneton/train`` if it exists."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    return _FALLBACK if _FALLBACK.is_dir() else None


def class_of(name: str) -> str:
    """Class of a SkelNetOn sample name: ``"Bone-1"`` -> ``"Bone"``."""
    return name.rsplit("-", 1)[0]


def list_names(root) -> list[str]:
    """Sorted names of the samples having both a shape and a skeleton PNG."""
    root = Path(root)
    shapes, skels = root / "shapes", root / "skeletons"
    if not shapes.is_dir() or not skels.is_dir():
        raise SkelkitError(f"SkelNetOn data folder {root} must contain shapes/ and skeletons/")
    names = sorted(p.stem for p in shapes.glob("*.png") if (skels / p.name).is_file())
    if not names:
        raise SkelkitError(f"no shape/skeleton PNG pairs found in {root}")
    return names


def load_pairs(root, names=None) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Load shape/skeleton pairs.

    Parameters
    ----------
    root : path
        Folder with ``shapes/`` and ``skeletons/``.
    names : list of str, optional
        Samples to load (default: all pairs).

    Returns
    -------
    names : list of str
    shapes : ndarray of bool, shape (N, H, W)
    skeletons : ndarray of bool, shape (N, H, W)
    """
    from PIL import Image

    root = Path(root)
    names = list_names(root) if names is None else list(names)
    shapes, skels = [], []
    for n in names:
        try:
            a = np.asarray(Image.open(root / "shapes" / f"{n}.png").convert("L")) > 127
            b = np.asarray(Image.open(root / "skeletons" / f"{n}.png").convert("L")) > 127
        except FileNotFoundError:
            raise SkelkitError(f"SkelNetOn sample {n!r} missing under {root}") from None
        if a.shape != b.shape:
            raise SkelkitError(f"sample {n!r}: shape {a.shape} and skeleton {b.shape} sizes differ")
        shapes.append(a)
        skels.append(b)
    if len({s.shape for s in shapes}) > 1:
        raise SkelkitError("SkelNetOn samples have different image sizes; expected one size")
    return names, np.stack(shapes), np.stack(skels)


def split_names(names, cv_fraction: float = 0.2, seed: int = 0, holdout_classes=()) -> dict:
    """Deterministic train / cross-validation split, stratified by class.

    Every class with at least two samples contributes ``round(cv_fraction * n)``
    (at least one) samples to CV; single-sample classes go to train. Samples of
    ``holdout_classes`` are kept out of both and listed under ``"holdout"``.

    Returns
    -------
    split : dict
        ``{"train": [...], "cv": [...], "holdout": [...], "seed": seed,
        "cv_fraction": cv_fraction, "holdout_classes": [...]}``; names sorted.
    """
    holdout_classes = sorted(set(holdout_classes))
    known = {class_of(n) for n in names}
    missing = [c for c in holdout_classes if c not in known]
    if missing:
        raise SkelkitError(f"unknown hold-out classes: {', '.join(missing)}")
    by_class = defaultdict(list)
    for n in sorted(names):
        by_class[class_of(n)].append(n)
    rng = random.Random(seed)
    train, cv, holdout = [], [], []
    for c in sorted(by_class):
        members = by_class[c]
        if c in holdout_classes:
            holdout += members
            continue
        rng.shuffle(members)
        k = max(1, round(cv_fraction * len(members))) if len(members) > 1 else 0
        cv += members[:k]
        train += members[k:]
    return {"train": sorted(train), "cv": sorted(cv), "holdout": sorted(holdout), "seed": seed,
            "cv_fraction": cv_fraction, "holdout_classes": holdout_classes}


def save_split(path, split: dict) -> None:
    """Write a split (names only) as JSON, atomically."""
    atomic_write_text(path, json.dumps(split, indent=1) + "\n")


def load_split(path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise SkelkitError(f"cannot read split file {path}: {exc}") from None
