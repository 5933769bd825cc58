"""`skelkit train unet`: train the SkelNetOn U-Net on the SkelNetOn Pixel training pairs."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import click

from ..errors import SkelkitError
from ..io.atomic import created_folder


@click.command("unet")
@click.option("--data", type=click.Path(file_okay=False), default=None,
              help="SkelNetOn train folder with shapes/ and skeletons/ "
                   "(default: $SKELKIT_SKELNETON or ../shared/data/skelneton/train).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder (checkpoints, unet.pt).")
@click.option("--config", "config", type=click.Choice(["cpu", "gpu"]), default="cpu", show_default=True,
              help="Preset: cpu (width 8, 1 thread) or gpu (published width 32, CUDA, AMP).")
@click.option("--width", type=int, default=None, help="Channels of the first block (overrides the preset).")
@click.option("--epochs", type=int, default=None, help="Maximum epochs per model.")
@click.option("--loss", default="wfocal", show_default=True,
              help="Loss by name (wfocal, focal, wbce, bce, dice, jaccard, block); '+' sums terms, 'W*' weights one, "
                   "e.g. wfocal+dice+2*block.")
@click.option("--ensemble", type=int, default=1, show_default=True, help="Models trained on different subsets.")
@click.option("--resume", is_flag=True, help="Continue from the checkpoints in --out.")
@click.option("--init", "init", type=click.Path(dir_okay=False), default=None,
              help="Start from these U-Net weights (a .pt file or shipped name) instead of at random: fine-tuning.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the split, init and batches.")
@click.option("--holdout-classes", default="", help="Comma-separated classes kept out of training, e.g. Bone,fish.")
@click.option("--batch-size", type=int, default=None)
@click.option("--lr", type=float, default=None)
@click.option("--max-minutes", type=float, default=None, help="Wall-time budget per model.")
@click.option("--max-train", type=int, default=None, help="Train on this many samples only (quick runs).")
@click.option("--inputs", default=None, help="Input channels, comma-separated from shape,edt,ridge (default: shape).")
@click.option("--block", type=click.Choice(["paper", "light"]), default=None,
              help="paper: the published blocks; light: two convolutions per block (about half the work).")
@click.option("--crop", type=click.IntRange(min=32), default=None,
              help="Train on random crops of this side holding shape (validation on whole images).")
@click.option("--val-every", type=click.IntRange(min=1), default=None, help="Epochs between validations.")
def command(data, out, config, width, epochs, loss, ensemble, resume, init, seed, holdout_classes, batch_size, lr,
            max_minutes, max_train, inputs, block, crop, val_every):
    """Train the SkelNetOn U-Net (Panichev & Voloshyna 2019) and write OUT/unet.pt."""
    from ..data.skelneton import default_root
    from ..training.unet import make_config, make_loss_fn, train_unet

    root = data or default_root()
    if root is None:
        raise SkelkitError("no SkelNetOn data: pass --data DIR or set $SKELKIT_SKELNETON")
    for name, v in (("--width", width), ("--epochs", epochs), ("--ensemble", ensemble), ("--batch-size", batch_size),
                    ("--max-train", max_train)):
        if v is not None and v < 1:
            raise SkelkitError(f"{name} must be >= 1, got {v}")
    for name, v in (("--lr", lr), ("--max-minutes", max_minutes)):
        if v is not None and not (math.isfinite(v) and v > 0):
            raise SkelkitError(f"{name} must be a finite number > 0, got {v}")
    make_loss_fn(loss)  # a bad --loss or --init fails here, before the data is read
    if init is not None:
        from ..models.unet import load_unet

        load_unet(init)
    holdout = tuple(c for c in holdout_classes.split(",") if c)
    from ..models.unet import check_inputs

    cfg = make_config(config, width=width, epochs=epochs, loss=loss, ensemble=ensemble, seed=seed,
                      holdout_classes=holdout, batch_size=batch_size, lr=lr, max_minutes=max_minutes,
                      max_train=max_train, block=block, init=init, crop=crop, val_every=val_every,
                      inputs=None if inputs is None else check_inputs(i.strip() for i in inputs.split(",") if i.strip()))
    if cfg.crop is not None and cfg.crop % 2**cfg.depth:
        raise SkelkitError(f"--crop must be a multiple of {2**cfg.depth} (the U-Net's depth {cfg.depth})")
    with created_folder(Path(out)):  # a run that fails before writing leaves no empty folder
        path = train_unet(root, out, cfg, resume=resume, progress=sys.stderr.isatty(),
                          log=lambda s: click.echo(s, err=True))
    click.echo(str(path))
