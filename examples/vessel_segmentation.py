"""Does clDice help a vessel-segmentation U-Net, and does the skeletonizer matter?

Trains the same small U-Net three times on synthetic grey-level vessel images
(:func:`skelkit.data.vessels.render_vessels`) with the same seed, data, batch
order and number of epochs, changing only the loss:

  (a) ``dice``     soft Dice
  (b) ``soft``     Dice + clDice with the soft skeleton      (DiceClDiceLoss, alpha)
  (c) ``skelite``  Dice + clDice with the Skelite skeleton   (needs shipped weights)

Held-out synthetic images: Dice, clDice (exact skeletons), Betti errors b0/b1,
training time per epoch. The three models are also run on the green channel of
``skimage.data.retina()`` (inverted so vessels are bright). Writes
``results.json``, ``results.md``, ``predictions.png`` and ``retina.png`` to
``--out``.

Usage::

    python examples/vessel_segmentation.py --out out/vessel_seg [--epochs 30] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from skelkit.data.vessels import render_vessels
from skelkit.errors import SkelkitError
from skelkit.io.atomic import atomic_path, atomic_write_text
from skelkit.losses import DiceClDiceLoss, SoftDiceLoss
from skelkit.metrics.overlap import cldice, dice
from skelkit.metrics.topology import betti_errors, betti_numbers
from skelkit.models.unet import UNet
from skelkit.models.weights import save_checkpoint, weights_path

RUNS = {
    "dice": "(a) Dice",
    "soft": "(b) Dice + clDice (soft skeleton)",
    "skelite": "(c) Dice + clDice (Skelite skeleton)",
}
# Thinner tubes than synth_mask's 256-px defaults (closer to retinal vessels at this
# scale), and noisier images with more faint thin branches than render_vessels' defaults.
RENDER = dict(radius=(0.5, 3.0), n_curves=(4, 8), noise=(0.03, 0.08), texture=(0.02, 0.06),
              contrast=(0.15, 0.5), faint_prob=0.8)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="output folder (created)")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--runs", default="dice,soft,skelite", help="comma-separated subset of: " + ", ".join(RUNS))
    p.add_argument("--size", type=int, default=128, help="training image side (multiple of 8)")
    p.add_argument("--n-train", type=int, default=192)
    p.add_argument("--n-test", type=int, default=96)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--width", type=int, default=8, help="U-Net width (channels of the first block)")
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--alpha", type=float, default=0.5, help="clDice weight in (b) and (c)")
    p.add_argument("--retina-size", type=int, default=512, help="side the retina photo is resized to")
    p.add_argument("--skelite-weights", default=None, help="Skelite weights for (c) (default: the shipped skelite2d.pt)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    args.runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    bad = [r for r in args.runs if r not in RUNS]
    if bad:
        raise SkelkitError(f"unknown run(s) {', '.join(bad)}; choose from {', '.join(RUNS)}")
    if args.size % 2**args.depth:
        raise SkelkitError(f"--size {args.size} must be a multiple of {2**args.depth} for a depth-{args.depth} U-Net")
    return args


# ------------------------------------------------------------------ data
def make_set(n: int, size: int, rng: np.random.Generator):
    """``n`` rendered vessel images and masks as (n, 1, size, size) float32 tensors."""
    pairs = [render_vessels((size, size), rng, **RENDER) for _ in range(n)]
    img = torch.from_numpy(np.stack([p[0] for p in pairs]))[:, None]
    gt = torch.from_numpy(np.stack([p[1] for p in pairs]))[:, None].float()
    return img, gt


def augment(x: torch.Tensor, y: torch.Tensor, g: torch.Generator):
    """Random 90-degree rotation and flip of a batch (same for image and mask)."""
    k = int(torch.randint(4, (1,), generator=g))
    x, y = torch.rot90(x, k, (2, 3)), torch.rot90(y, k, (2, 3))
    if bool(torch.randint(2, (1,), generator=g)):
        x, y = x.flip(3), y.flip(3)
    return x, y


# ------------------------------------------------------------------ training
def make_loss(run: str, args):
    if run == "dice":
        return SoftDiceLoss(sigmoid=True)
    extra = {"weights": args.skelite_weights} if run == "skelite" and args.skelite_weights else None
    return DiceClDiceLoss(alpha=args.alpha, skeletonizer=run, sigmoid=True, skeletonizer_kwargs=extra)


def train(run: str, train_set, args, log):
    """Train one model; identical initialisation and batch order for every run."""
    torch.manual_seed(args.seed)
    model = UNet(width=args.width, depth=args.depth).to(args.device)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
    loss_fn = make_loss(run, args)
    g = torch.Generator().manual_seed(args.seed)
    img, gt = train_set
    n = img.shape[0]
    history, epoch_times, epoch_cpu = [], [], []
    for epoch in range(args.epochs):
        model.train()
        t0, c0, total = time.perf_counter(), time.process_time(), 0.0
        order = torch.randperm(n, generator=g)
        for i in range(0, n - args.batch + 1, args.batch):
            idx = order[i : i + args.batch]
            x, y = augment(img[idx], gt[idx], g)
            loss = loss_fn(model(x.to(args.device)), y.to(args.device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        sched.step()
        epoch_times.append(time.perf_counter() - t0)
        epoch_cpu.append(time.process_time() - c0)
        history.append(total / (n - n % args.batch))
        log(f"  [{run}] epoch {epoch + 1}/{args.epochs} loss {history[-1]:.4f} "
            f"({epoch_times[-1]:.1f} s wall, {epoch_cpu[-1]:.1f} s CPU)")
    return model.eval(), history, {"wall": epoch_times, "cpu": epoch_cpu}


@torch.no_grad()
def predict(model, img: torch.Tensor, device) -> np.ndarray:
    """Binary predictions (sigmoid > 0.5), bool (n, H, W)."""
    out = [torch.sigmoid(model(img[i : i + 8].to(device))).cpu() for i in range(0, img.shape[0], 8)]
    return (torch.cat(out)[:, 0] > 0.5).numpy()


METRICS = ("dice", "cldice", "b0_error", "b1_error")


def per_image(pred: np.ndarray, gt: np.ndarray) -> dict:
    """Dice, clDice (exact skeletons) and Betti errors of every image: metric -> list."""
    rows = []
    for p, g in zip(pred, gt):
        e = betti_errors(p, g)
        rows.append((dice(p, g), cldice(p, g)[0], e[0], e[1]))
    return {k: [float(v) for v in col] for k, col in zip(METRICS, zip(*rows))}


def summarize(values: dict) -> dict:
    return {k: {"mean": float(np.mean(v)), "std": float(np.std(v))} for k, v in values.items()}


def paired(values: dict, base: dict) -> dict:
    """Per-image differences to the baseline run: mean difference and how many images got better / worse."""
    out = {}
    for k in METRICS:
        d = np.asarray(values[k]) - np.asarray(base[k])
        better = d > 1e-12 if k in ("dice", "cldice") else d < -1e-12
        worse = d < -1e-12 if k in ("dice", "cldice") else d > 1e-12
        out[k] = {"mean_diff": float(d.mean()), "better": int(better.sum()), "worse": int(worse.sum())}
    return out


# ------------------------------------------------------------------ retina
def retina_image(size: int):
    """Green channel of ``skimage.data.retina`` inverted (vessels bright), flattened, in [0, 1]; and its FOV.

    The slowly varying illumination is removed with a wide Gaussian (as the
    synthetic images have a smooth background of their own) and the result is
    scaled to the synthetic images' grey levels. Outside the field of view the
    image is set to the background level.
    """
    from scipy import ndimage
    from skimage import data, transform

    rgb = data.retina()
    green = transform.resize(rgb[..., 1] / 255.0, (size, size), anti_aliasing=True)
    fov = transform.resize((rgb[..., 0] > 30).astype(float), (size, size)) > 0.5
    fov = ndimage.binary_erosion(fov, iterations=max(1, size // 80))  # drop the bright rim
    inv = 1.0 - green
    mean_in = ndimage.gaussian_filter(np.where(fov, inv, 0.0), size / 32)
    weight = ndimage.gaussian_filter(fov.astype(float), size / 32)
    flat = np.where(fov, inv - mean_in / np.maximum(weight, 1e-6), 0.0)
    lo, hi = np.percentile(flat[fov], [1, 99.5])
    img = np.clip(0.25 + 0.55 * (flat - np.median(flat[fov])) / (hi - lo), 0, 1)
    img[~fov] = 0.25
    return img.astype(np.float32), fov


def retina_stats(pred: np.ndarray, fov: np.ndarray, ref: np.ndarray) -> dict:
    """Connectivity of a retina prediction inside the FOV, and agreement with a filter-based reference."""
    p = pred & fov
    b0, b1 = betti_numbers(p)
    return {"components": int(b0), "holes": int(b1), "vessel_fraction": float(p[fov].mean()),
            "dice_vs_sato_reference": dice(p, ref & fov), "cldice_vs_sato_reference": cldice(p, ref & fov)[0]}


# ------------------------------------------------------------------ outputs
def save_figure(fig, path):
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")


def error_map(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """RGB: correct vessel white, missed vessel (FN) blue, false vessel (FP) orange."""
    rgb = np.zeros(pred.shape + (3,))
    rgb[pred & gt] = 1.0
    rgb[gt & ~pred] = (0.2, 0.55, 1.0)
    rgb[pred & ~gt] = (1.0, 0.55, 0.0)
    return rgb


def prediction_figure(img, gt, preds: dict, path, n_show=4):
    """The first ``n_show`` test images (not picked): image, ground truth, each model's error map and b0."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = ["image", "ground truth"] + [RUNS[r] for r in preds]
    fig, axes = plt.subplots(n_show, len(cols), figsize=(2.4 * len(cols), 2.5 * n_show), squeeze=False)
    for i in range(n_show):
        g = gt[i, 0].numpy() > 0.5
        panels = [(img[i, 0].numpy(), ""), (g, f"b0 = {betti_numbers(g)[0]}")]
        panels += [(error_map(p[i], g), f"b0 = {betti_numbers(p[i])[0]}") for p in preds.values()]
        for j, (ax, (im, label)) in enumerate(zip(axes[i], panels)):
            ax.imshow(im, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            ax.set_xlabel(label, fontsize=8)
            if i == 0:
                ax.set_title(cols[j].replace(" (", "\n("), fontsize=8)
    fig.suptitle("white: correct vessel, blue: missed, orange: false vessel; b0 = connected components", fontsize=9)
    save_figure(fig, path)
    plt.close(fig)


def retina_figure(img, fov, ref, preds: dict, stats: dict, path):
    """Full field of view (top) and a zoomed crop (bottom) of the input, the reference and each model."""
    n = img.shape[0]
    crop = (slice(int(0.29 * n), int(0.6 * n)), slice(int(0.27 * n), int(0.58 * n)))  # between disc and macula
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("retina green, inverted", img), ("Sato/Otsu reference\n(not ground truth)", ref & fov)]
    panels += [(f"{RUNS[r]}\n{stats[r]['components']} components".replace(" (", "\n("), p & fov) for r, p in preds.items()]
    fig, axes = plt.subplots(2, len(panels), figsize=(3.2 * len(panels), 7.0), squeeze=False)
    for j, (title, im) in enumerate(panels):
        for i, view in enumerate((im, im[crop])):
            ax = axes[i, j]
            ax.imshow(view, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            if i == 0:
                ax.set_title(title, fontsize=8)
                ys, xs = crop
                ax.add_patch(plt.Rectangle((xs.start, ys.start), xs.stop - xs.start, ys.stop - ys.start,
                                           fill=False, edgecolor="tab:orange", linewidth=1))
    save_figure(fig, path)
    plt.close(fig)


def markdown_table(results: dict) -> str:
    head = ("| loss | Dice | clDice | b0 error | b1 error | CPU s / epoch | wall s / epoch | retina components |\n"
            "|---|---|---|---|---|---|---|---|\n")
    rows = []
    for run, r in results["runs"].items():
        m = r["test"]
        cell = lambda k: f"{m[k]['mean']:.3f} ± {m[k]['std']:.3f}"  # noqa: E731
        ret = r.get("retina", {}).get("components", "")
        rows.append(f"| {RUNS[run]} | {cell('dice')} | {cell('cldice')} | {cell('b0_error')} | {cell('b1_error')} | "
                    f"{r['cpu_seconds_per_epoch']:.1f} | {r['seconds_per_epoch']:.1f} | {ret} |")
    table = head + "\n".join(rows) + "\n"
    paired_rows = [(run, r["vs_dice"]) for run, r in results["runs"].items() if "vs_dice" in r]
    if paired_rows:
        n = len(next(iter(results["runs"].values()))["per_image"]["dice"])
        table += (f"\nPer-image comparison with (a) on the same {n} test images: mean difference "
                  "(better / worse images)\n\n| loss | Δ Dice | Δ clDice | Δ b0 error | Δ b1 error |\n|---|---|---|---|---|\n")
        for run, v in paired_rows:
            cells = " | ".join(f"{v[k]['mean_diff']:+.3f} ({v[k]['better']} / {v[k]['worse']})" for k in METRICS)
            table += f"| {RUNS[run]} | {cells} |\n"
    return table


# ------------------------------------------------------------------ main
def run(args) -> dict:
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    (out / "models").mkdir(parents=True, exist_ok=True)

    def log(msg):
        print(msg, flush=True)

    runs = list(args.runs)
    skelite_file = Path(args.skelite_weights) if args.skelite_weights else weights_path("skelite2d")
    if "skelite" in runs and not skelite_file.is_file():
        log(f"skipping run (c): Skelite weights {skelite_file} not found (train them first)")
        runs.remove("skelite")
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    train_set = make_set(args.n_train, args.size, rng)
    test_img, test_gt = make_set(args.n_test, args.size, rng)
    log(f"data: {args.n_train} train / {args.n_test} test images of {args.size}^2 in {time.perf_counter() - t0:.1f} s")

    retina, fov = retina_image(args.retina_size)
    from skelkit.data.examples import retina_vessel_mask

    ref = retina_vessel_mask(args.retina_size)
    results = {"config": {k: v for k, v in vars(args).items()}, "render_opts": RENDER, "runs": {},
               "environment": {"torch": torch.__version__, "python": platform.python_version(),
                               "machine": platform.machine(), "cpu_count": os.cpu_count(), "threads": args.threads}}
    if "skelite" in runs:
        import hashlib

        results["skelite_weights"] = {"path": str(skelite_file),
                                      "sha256": hashlib.sha256(skelite_file.read_bytes()).hexdigest()}
    test_preds, retina_preds = {}, {}
    for r in runs:
        log(f"training {RUNS[r]}")
        model, history, times = train(r, train_set, args, log)
        save_checkpoint(out / "models" / f"{r}.pt", {"model": model.state_dict(), "width": args.width,
                                                      "depth": args.depth, "run": r, "seed": args.seed})
        test_preds[r] = predict(model, test_img, args.device)
        retina_preds[r] = predict(model, torch.from_numpy(retina)[None, None], args.device)[0]
        stats = retina_stats(retina_preds[r], fov, ref)
        images = per_image(test_preds[r], test_gt[:, 0].numpy() > 0.5)
        results["runs"][r] = {"test": summarize(images), "per_image": images, "loss_history": history,
                              "seconds_per_epoch": float(np.mean(times["wall"])),
                              "cpu_seconds_per_epoch": float(np.mean(times["cpu"])),
                              "train_seconds": float(np.sum(times["wall"])),
                              "retina": stats}
        m = results["runs"][r]["test"]
        log(f"  {r}: Dice {m['dice']['mean']:.3f} clDice {m['cldice']['mean']:.3f} "
            f"b0 err {m['b0_error']['mean']:.2f} b1 err {m['b1_error']['mean']:.2f}; retina components {stats['components']}")
    if "dice" in results["runs"]:
        base = results["runs"]["dice"]["per_image"]
        for r in results["runs"]:
            if r != "dice":
                results["runs"][r]["vs_dice"] = paired(results["runs"][r]["per_image"], base)
    results["retina_reference"] = {"components": int(betti_numbers(ref & fov)[0]),
                                   "source": "skelkit.data.examples.retina_vessel_mask (Sato filter + Otsu), not ground truth"}
    atomic_write_text(out / "results.json", json.dumps(results, indent=2))
    table = markdown_table(results)
    atomic_write_text(out / "results.md", f"# Vessel segmentation: Dice vs Dice + clDice\n\nCommand: `{' '.join(sys.argv)}`\n\n{table}")
    if test_preds:
        prediction_figure(test_img, test_gt, test_preds, out / "predictions.png")
        retina_figure(retina, fov, ref, retina_preds, {r: results["runs"][r]["retina"] for r in runs}, out / "retina.png")
    log(table)
    return results


def main(argv=None):
    try:
        run(parse_args(argv))
    except SkelkitError as exc:
        print(f"vessel_segmentation: error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
