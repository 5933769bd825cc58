"""`skelkit synth`: write synthetic Bezier masks with exact-thinning teacher skeletons."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import numpy as np

from ..errors import SkelkitError


@click.command("synth")
@click.option("-o", "--out", required=True, type=click.Path(file_okay=False), help="Output folder (created).")
@click.option("--dim", type=click.Choice(["2", "3"]), default="2", show_default=True)
@click.option("-n", "n_images", type=click.IntRange(min=1), default=16, show_default=True, help="Number of images.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Image i uses default_rng([seed, i]).")
@click.option("--shape", default=None, help="Image shape, e.g. 256,256 or 128,128,128 (default: those).")
@click.option("--augment/--no-augment", default=True, show_default=True,
              help="Thickening and jagged-boundary augmentation, as in Skelite training data.")
@click.option("--teacher/--no-teacher", default=True, show_default=True,
              help="Also compute exact-thinning skeletons and per-iteration peel maps.")
@click.option("--preview", is_flag=True, help="Also write preview.png (masks with skeletons in red).")
def command(out, dim, n_images, seed, shape, augment, teacher, preview):
    """Random Bezier-curve structures (branches, crossings, loops) -> OUT/synth{dim}d.npz.

    The archive holds ``mask`` (N, *shape) bool and, with --teacher,
    ``skeleton`` (bool) and ``peel`` (int16: 0 background, t = deleted in
    teacher stage t, 32767 = skeleton; the teacher is exact thinning in depth order).
    """
    from ..io.atomic import created_folder

    dim = int(dim)
    shp = _parse_shape(shape, dim) if shape else None
    n_pixels = int(np.prod(shp)) if shp else (256 * 256 if dim == 2 else 128**3)
    need = n_pixels * n_images * (4 if teacher else 1)  # bool masks and skeletons, int16 peel maps
    if need > MAX_BYTES:
        raise SkelkitError(f"{n_images} images of {n_pixels} pixels need about {need / 2**30:.1f} GiB "
                           f"(limit {MAX_BYTES / 2**30:.0f} GiB); use a smaller --shape or fewer images (-n)")
    with created_folder(Path(out)) as folder:  # a failed run leaves no empty folder
        for written in write_synth(folder, dim, n_images, seed, shp, augment, teacher, preview):
            click.echo(str(written))


#: Largest data set ``skelkit synth`` builds in memory.
MAX_BYTES = 8 * 2**30


def write_synth(out: Path, dim: int, n_images: int, seed: int, shape, augment: bool, teacher: bool,
                preview: bool) -> list[Path]:
    """Build the data set and write ``OUT/synth{dim}d.npz`` (and ``preview.png``); returns the paths written."""
    from tqdm import tqdm

    from ..data.bezier import synth_mask
    from ..data.synth import KEEP, default_shape, sample
    from ..data.synth import teacher as teacher_fn
    from ..io.atomic import atomic_path

    shape = shape or default_shape(dim)
    masks, peels = [], []
    for i in tqdm(range(n_images), desc="synth", disable=not sys.stderr.isatty()):
        m = sample(dim, seed, i, shape=shape) if augment else synth_mask(shape, np.random.default_rng([seed, i]))
        masks.append(m)
        if teacher:
            peels.append(teacher_fn(m))
    arrays = {"mask": np.stack(masks)}
    if teacher:
        arrays["peel"] = np.stack(peels)
        arrays["skeleton"] = arrays["peel"] == KEEP
    path = out / f"synth{dim}d.npz"
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
    written = [path]
    if preview:
        written.append(out / "preview.png")
        write_preview(written[-1], arrays["mask"], arrays.get("skeleton"))
    return written


def _parse_shape(text: str, dim: int) -> tuple[int, ...]:
    try:
        shp = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        raise SkelkitError(f"--shape must be comma-separated integers, got {text!r}") from None
    if len(shp) != dim or min(shp) < 8:
        raise SkelkitError(f"--shape must have {dim} sides >= 8, got {text!r}")
    return shp


def write_preview(path, masks: np.ndarray, skels=None, n: int = 8) -> None:
    """Grid of up to ``n`` masks (grey) with skeletons (red); 3D shown as max projections."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..io.atomic import atomic_path

    k = min(n, len(masks))
    cols = min(k, 4)
    rows = -(-k // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= k:
            continue
        m = masks[i] if masks.ndim == 3 else masks[i].max(0)
        rgb = np.stack([m * 0.5] * 3, -1)
        if skels is not None:
            s = skels[i] if skels.ndim == 3 else skels[i].max(0)
            rgb[s] = (1.0, 0.1, 0.1)
        ax.imshow(rgb, interpolation="nearest")
        ax.set_title(f"#{i}", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
