"""`skelkit train skelite`: distil the exact thinning teacher into Skelite (2D or 3D)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import click

from ..errors import SkelkitError
from ..io.atomic import created_folder


@click.command("skelite")
@click.option("--dim", type=click.Choice(["2", "3"]), required=True, help="2D or 3D model.")
@click.option("--config", "preset", type=click.Choice(["cpu", "gpu"]), default="cpu", show_default=True,
              help="Preset: cpu (small data, 2 threads) or gpu (more data, bigger batches, CUDA if available).")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Output folder (cached data, checkpoint.pt, log.jsonl, skelite{2,3}d.pt).")
@click.option("--resume", is_flag=True, help="Continue from OUT/checkpoint.pt.")
@click.option("--steps", type=int, default=None, help="Training steps (overrides the preset).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of data, init and batches.")
@click.option("--batch-size", type=int, default=None)
@click.option("--lr", type=float, default=None)
@click.option("--n-images", type=int, default=None, help="Synthetic training images (overrides the preset).")
@click.option("--val-every", type=int, default=None)
@click.option("--threads", type=int, default=None, help="torch threads (cpu preset: 2).")
@click.option("--keep-weight", type=float, default=None,
              help="Loss weight of teacher-kept pixels relative to deleted ones (preset: 6).")
@click.option("--w-topo", type=float, default=None,
              help="Weight of the component term: keep teacher pixels whose removal split the output, delete "
                   "output pieces with no teacher pixel (presets: 0.3 in 2D, 0 in 3D).")
@click.option("--init", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Start from these weights (fine-tuning) instead of a random initialisation.")
@click.option("--vessels", type=click.FloatRange(0, 1), default=None,
              help="Share of realistic vessel volumes (trees, capillary meshes, crops; 3D) in the training data.")
def command(dim, preset, out, resume, steps, seed, batch_size, lr, n_images, val_every, threads, keep_weight,
            w_topo, init, vessels):
    """Train Skelite on synthetic Bezier data with exact-thinning targets; writes OUT/skelite{dim}d.pt."""
    from ..training.skelite import make_config, train_skelite

    for name, v in (("--steps", steps), ("--batch-size", batch_size), ("--n-images", n_images),
                    ("--val-every", val_every), ("--threads", threads)):
        if v is not None and v < 1:
            raise SkelkitError(f"{name} must be >= 1, got {v}")
    for name, v in (("--lr", lr), ("--keep-weight", keep_weight)):
        if v is not None and not (math.isfinite(v) and v > 0):
            raise SkelkitError(f"{name} must be a finite number > 0, got {v}")
    if w_topo is not None and not (math.isfinite(w_topo) and w_topo >= 0):
        raise SkelkitError(f"--w-topo must be a finite number >= 0, got {w_topo}")
    cfg = make_config(preset, int(dim), steps=steps, seed=seed, batch_size=batch_size, lr=lr, n_images=n_images,
                      val_every=val_every, threads=threads, keep_weight=keep_weight, w_topo=w_topo,
                      init=None if init is None else str(init), vessels=vessels)
    with created_folder(Path(out)):  # a run that fails before writing leaves no empty folder
        path = train_skelite(out, cfg, resume=resume, progress=sys.stderr.isatty(),
                             log=lambda s: click.echo(s, err=True))
    click.echo(str(path))
