"""Grey-level vessel images rendered from random vessel-tree masks.

A binary tree from :func:`skelkit.data.bezier.synth_mask` is split into
branches (its skeleton cut at junctions); each branch gets its own contrast,
thin branches are often faint, vessels are brighter along their centre line,
and the result is blurred (imaging PSF), laid on a smoothly inhomogeneous
background and corrupted by a mottled texture and Gaussian noise. The mask is
the ground truth for segmentation experiments (see
``examples/vessel_segmentation.py``).

Works for 2D and 3D shapes alike.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..core.thinning import thin
from ..errors import SkelkitError
from ..validate import as_binary


def render_vessels(
    shape,
    rng=None,
    *,
    mask=None,
    contrast=(0.25, 0.6),
    faint_width=3.0,
    faint_prob=0.6,
    faint_factor=(0.15, 0.45),
    background=(0.1, 0.35),
    inhomogeneity=0.25,
    texture=(0.0, 0.04),
    blur=(0.5, 1.2),
    noise=(0.02, 0.06),
    **opts,
):
    """Render a random grey-level vessel image and its ground-truth mask.

    Parameters
    ----------
    shape : tuple of int
        (H, W) or (D, H, W).
    rng : numpy.random.Generator or int, optional
        Source of randomness (an int seeds a new Generator). Same seed, same output.
    mask : array_like of bool, optional
        Render this vessel mask instead of drawing one (must have ``shape``).
    contrast : (float, float)
        Range of the per-branch vessel intensity above the background.
    faint_width : float
        Branches whose mean width (pixels) is at most this are "thin" ...
    faint_prob : float
        ... and are faint with this probability: ...
    faint_factor : (float, float)
        ... their contrast is multiplied by a factor from this range.
    background : (float, float)
        Range of the mean background level.
    inhomogeneity : float
        Peak-to-peak amplitude of the smooth background variation (illumination).
    texture : (float, float)
        Range of the standard deviation of a mottled background texture
        (Gaussian noise blurred over ~3 pixels, like tissue behind the vessels).
    blur : (float, float)
        Range of the Gaussian PSF sigma, pixels.
    noise : (float, float)
        Range of the additive Gaussian noise sigma.
    **opts
        Passed to :func:`skelkit.data.bezier.synth_mask` (ignored with ``mask``).

    Returns
    -------
    image : ndarray of float32, shape ``shape``, values in [0, 1]
        Bright vessels on a darker background.
    mask : ndarray of bool, shape ``shape``
        Vessel ground truth.

    Examples
    --------
    >>> import numpy as np
    >>> from skelkit.data.vessels import render_vessels
    >>> img, gt = render_vessels((64, 64), np.random.default_rng(0))
    >>> img.dtype, img.shape, gt.dtype
    (dtype('float32'), (64, 64), dtype('bool'))
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (2, 3):
        raise SkelkitError(f"shape {shape} has {len(shape)} dimensions; expected 2 (H, W) or 3 (D, H, W)")
    if min(shape) < 8:
        raise SkelkitError(f"shape {shape} too small to render vessels; need at least 8 pixels per axis")
    rng = np.random.default_rng(rng)
    if mask is None:
        from .bezier import synth_mask  # lazy: keeps this module importable on its own

        mask = synth_mask(shape, rng, **opts)
    mask = as_binary(mask, name="mask")
    if mask.shape != shape:
        raise SkelkitError(f"mask has shape {mask.shape}; expected {shape}")

    level = _branch_contrast(mask, rng, contrast, faint_width, faint_prob, faint_factor)
    sigma = rng.uniform(*blur)
    vessels = ndimage.gaussian_filter(level, sigma) if sigma > 0 else level
    image = _background(shape, rng, background, inhomogeneity) + vessels
    amp = rng.uniform(*texture)
    if amp > 0:
        mottle = ndimage.gaussian_filter(rng.normal(size=shape), 3.0)
        image += amp * mottle / max(mottle.std(), 1e-9)
    image += rng.normal(0.0, rng.uniform(*noise), size=shape)
    return np.clip(image, 0.0, 1.0).astype(np.float32), mask


def _branch_contrast(mask, rng, contrast, faint_width, faint_prob, faint_factor):
    """Intensity above background per vessel pixel: per-branch contrast times a centre-bright profile."""
    level = np.zeros(mask.shape, np.float64)
    if not mask.any():
        return level
    skel = thin(mask)
    dist = ndimage.distance_transform_edt(mask)
    # Branches = skeleton minus junctions (>= 3 skeleton neighbours).
    n_nb = ndimage.convolve(skel.astype(np.uint8), np.ones((3,) * mask.ndim, np.uint8), mode="constant") - 1
    branches, n = ndimage.label(skel & (n_nb <= 2), structure=np.ones((3,) * mask.ndim, bool))
    if n == 0:  # e.g. only junction pixels: treat the skeleton as one branch
        branches, n = skel.astype(np.int32), 1
    idx = np.arange(1, n + 1)
    width = 2.0 * np.asarray(ndimage.mean(dist, branches, idx))
    gain = rng.uniform(*contrast, size=n)
    faint = (width <= faint_width) & (rng.random(n) < faint_prob)
    gain[faint] *= rng.uniform(*faint_factor, size=int(faint.sum()))
    # Every vessel pixel takes its nearest branch's gain and radius.
    near = ndimage.distance_transform_edt(branches == 0, return_distances=False, return_indices=True)
    near = tuple(near)
    label_at = branches[near]
    radius = np.maximum(dist[near], 1.0)
    profile = 0.6 + 0.4 * np.clip(dist / radius, 0.0, 1.0)  # brighter centre line (tube cross-section)
    level[mask] = (gain[label_at - 1] * profile)[mask]
    return level


def _background(shape, rng, background, inhomogeneity):
    """Smooth random illumination: a few random low-frequency plane waves (at most 1.5 cycles per image)."""
    axes = np.meshgrid(*[np.linspace(0.0, 1.0, s) for s in shape], indexing="ij", sparse=True)
    field = np.zeros(shape)
    for _ in range(3):
        freq = rng.uniform(-1.5, 1.5, size=len(shape))
        field = field + rng.uniform(0.5, 1.0) * np.cos(2 * np.pi * sum(f * a for f, a in zip(freq, axes)) + rng.uniform(0, 2 * np.pi))
    field = (field - field.min()) / max(np.ptp(field), 1e-9)
    return rng.uniform(*background) + inhomogeneity * (field - 0.5)
