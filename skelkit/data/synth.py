"""Synthetic skeletonization data sets: Bezier masks + exact-thinning teacher targets.

The teacher is exact thinning in depth order
(``skelkit.core.thinning.thin(mask, by_depth=True)``, in 3D also
``equivariant=True``, see :data:`EQUIVARIANT`): its stage ``k`` may
only delete pixels of city-block depth ``2k + 1`` or ``2k + 2``, the two layers
Skelite's iteration ``k`` sees as its band, so every teacher decision (but the
last stage's rare clean-ups) is one the student can make at the same step.
(The default thinning peels diagonal edges faster than the bands advance;
distilling from it capped the student's Dice, see ``docs/skelite.md``.)

A sample is stored as one ``int16`` "peel" array: 0 for background, ``t`` for
a pixel the teacher deletes in stage ``t`` (1-based), and :data:`KEEP` for
pixels of the final skeleton. From it,

* the mask is ``peel > 0``,
* the skeleton is ``peel == KEEP``,
* the teacher's state after ``n`` stages is ``peel > n``
  (:func:`teacher_state`), the per-step targets of Skelite training.

Generating targets is the slow part, so :func:`build_dataset` results are
meant to be cached (:func:`load_or_build`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import SkelkitError
from ..io.atomic import atomic_path
from .augment import augment, random_crop
from .bezier import synth_mask

KEEP = np.iinfo(np.int16).max  #: peel value of skeleton pixels
#: Part of every cache key: data built by an earlier teacher is never reused.
TEACHER = "thin-by-depth, framed crops, equivariant in 3D"
#: Teacher passes without subfields (``thin(..., equivariant=True)``) per
#: dimensionality. A convolutional student cannot see pixel parity, so a
#: subfield teacher's parity-dependent choices are noise to it; in 3D they
#: move a large part of the skeleton, in 2D little (figures in ``docs/skelite.md``).
EQUIVARIANT = {2: False, 3: True}


def _teacher_thin(mask: np.ndarray, **kw):
    from ..core.thinning import thin

    return thin(mask, by_depth=True, equivariant=EQUIVARIANT[mask.ndim], **kw)


def teacher_skeleton(mask: np.ndarray) -> np.ndarray:
    """Skeleton of ``mask`` by the exact thinning teacher (depth order; equivariant in 3D); bool, same shape."""
    return _teacher_thin(np.asarray(mask, bool))


def teacher(mask: np.ndarray) -> np.ndarray:
    """Peel map of a mask under the exact thinning teacher (depth order; equivariant in 3D).

    Parameters
    ----------
    mask : ndarray of bool, shape (H, W) or (D, H, W)

    Returns
    -------
    peel : ndarray of int16, same shape
        0 background, ``t`` deleted in teacher stage ``t``, :data:`KEEP`
        skeleton.
    """
    mask = np.asarray(mask, bool)
    skel, history = _teacher_thin(mask, return_history=True)
    peel = np.where(mask, KEEP, 0).astype(np.int16)
    prev = mask
    for t, state in enumerate(history, start=1):
        state = np.asarray(state, bool)
        peel[prev & ~state] = t
        prev = state
    peel[mask & ~np.asarray(skel, bool) & (peel == KEEP)] = len(history) + 1  # defensive: history shorter than the run
    return peel


def teacher_state(peel, n: int):
    """Teacher's state after ``n`` stages (``n = 0``: the mask). Works on numpy arrays and torch tensors."""
    return peel > n


def default_shape(dim: int) -> tuple[int, ...]:
    """Full synthetic image shape: 256x256 in 2D, 128^3 in 3D."""
    return (256, 256) if dim == 2 else (128, 128, 128)


#: Shape of the realistic 3D vessel volumes mixed into training data (smaller than the Bezier ones:
#: rendering meshes is the slow part, and training sees crops anyway).
VESSEL_SHAPE_3D = (80, 80, 80)


def sample(dim: int, seed: int, index: int, *, shape=None, max_thicken: int = 3, p_jagged: float = 0.5,
           vessels: float = 0.0) -> np.ndarray:
    """Mask number ``index`` of the set with ``seed`` (augmented); deterministic and order-free.

    With ``vessels`` > 0, that share of the masks (3D only) are realistic vessel networks of
    :func:`skelkit.data.vessels3d.vessel_volume` (trees, capillary meshes, crops of both; some with
    anisotropic voxels) instead of Bezier curves.
    """
    rng = np.random.default_rng([int(seed), int(index)])
    if vessels > 0 and dim == 3 and rng.random() < vessels:
        from .vessels3d import vessel_volume

        kind = ("tree", "mesh", "mixed")[int(rng.integers(3))]
        spacing = (float(rng.uniform(1.5, 2.5)), 1.0, 1.0) if rng.random() < 0.3 else (1.0, 1.0, 1.0)
        return vessel_volume(VESSEL_SHAPE_3D, rng, kind=kind, spacing=spacing, crop=rng.random() < 0.3)
    m = synth_mask(shape or default_shape(dim), rng)
    return augment(m, rng, max_thicken=max_thicken, p_jagged=p_jagged)


def build_dataset(
    dim: int,
    n_images: int,
    seed: int = 0,
    *,
    shape=None,
    crop=None,
    crops_per_image: int = 4,
    max_thicken: int = 3,
    p_jagged: float = 0.5,
    progress: bool = False,
    vessels: float = 0.0,
) -> np.ndarray:
    """Teacher peel maps of synthetic masks (optionally as random crops containing skeleton).

    Parameters
    ----------
    dim : {2, 3}
    n_images : int
        Number of full synthetic images to generate and thin.
    seed : int
        Image ``i`` uses ``numpy.random.default_rng([seed, i])``.
    shape : tuple of int, optional
        Full image shape (default :func:`default_shape`).
    crop : int, optional
        Crop side; each image yields ``crops_per_image`` crops centred near a
        skeleton pixel. Targets come from thinning the *full* image, so crops
        see the structure continue across their border; crops are cut from
        the image framed by Skelite's background border
        (:data:`skelkit.core.geometry.BORDER_PAD`), so one at the image's
        edge shows that edge as Skelite sees it.
    max_thicken, p_jagged
        Augmentation, see :func:`skelkit.data.augment.augment`.
    progress : bool
        Show a tqdm bar.
    vessels : float
        Share of realistic vessel volumes (3D, :func:`sample`); use with ``crop``.

    Returns
    -------
    peel : ndarray of int16, shape (N, *crop_or_shape)
    """
    from tqdm import tqdm

    from ..core.geometry import BORDER_PAD

    if dim not in (2, 3):
        raise SkelkitError(f"dim must be 2 or 3, got {dim}")
    if n_images < 1:
        raise SkelkitError(f"n_images must be >= 1, got {n_images}")
    out = []
    for i in tqdm(range(n_images), desc=f"teacher {dim}D", disable=not progress, leave=False):
        peel = teacher(sample(dim, seed, i, shape=shape, max_thicken=max_thicken, p_jagged=p_jagged, vessels=vessels))
        if crop is None:
            out.append(peel)
            continue
        rng = np.random.default_rng([int(seed), int(i), 1])
        peel = np.pad(peel, BORDER_PAD)
        for _ in range(crops_per_image):
            out.append(random_crop(peel == KEEP, (crop,) * dim, rng, peel)[1])
    return np.stack(out)


def load_or_build(path, *, progress: bool = False, **spec) -> np.ndarray:
    """Load a cached :func:`build_dataset` result from ``path`` (``.npz``) or build and save it.

    The cache is only reused if it was built with the same ``spec``.
    """
    path = Path(path)
    key = json.dumps({**spec, "teacher": TEACHER}, sort_keys=True, default=list)
    if path.is_file():
        with np.load(path) as z:
            if str(z["spec"]) == key:
                return z["peel"]
    peel = build_dataset(progress=progress, **spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, peel=peel, spec=np.array(key))
    return peel
