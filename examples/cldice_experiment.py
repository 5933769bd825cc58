"""Which skeleton inside clDice improves the topology of a vessel segmentation? Several seeds, paired statistics.

Every arm trains the same small U-Net (identical initialisation per seed, identical batches) on the same
synthetic grey-level vessel images (:func:`skelkit.data.vessels.render_vessels`); only the loss differs:

  dice             soft Dice alone
  soft             Dice + clDice, soft skeleton (Shit et al. 2021)
  exact            Dice + clDice, exact thinning, straight-through gradient to the kept skeleton
  skelite-old      Dice + clDice, Skelite as shipped before the fix (identity straight-through at its input)
  skelite          Dice + clDice, Skelite (input step passes gradient only to pixels above 0.5)
  skelite-guard    ... with the topology guard (keeps small components)
  skelite-hybrid   ... hard Skelite skeleton forward, soft-skeleton gradient backward
  skelite-noise    ... Menten-style logistic noise on the prediction first (beta 0.33, tau 1)
  skelite-hybrid-guard, skelite-hybrid-noise, exact-hybrid   the combinations

Held-out images of the training distribution (set A) and of a second distribution with thinner, denser
vessels (set B): Dice, clDice (exact skeletons), b0 and b1 errors, and b0 split into spurious components
(predicted, touching no vessel), fragments (extra pieces a true vessel is broken into) and missed
components. Per image the metric is averaged over seeds; arms are compared image by image with the Dice
arm and the soft-clDice arm (mean difference and 95% t-interval over images). Also CPU seconds per
training step for each arm.

Usage::

    python examples/cldice_experiment.py --out runs/cldice --seeds 0,1,2    # about 8 x 3 short trainings
    python examples/cldice_experiment.py --out runs/cldice --report-only    # tables and figure from results.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage, stats

import vessel_segmentation as vs  # examples/vessel_segmentation.py: data, augmentation, U-Net set-up

from skelkit.data.vessels import render_vessels
from skelkit.io.atomic import atomic_write_text
from skelkit.losses import DiceClDiceLoss, SoftDiceLoss
from skelkit.metrics.overlap import cldice, dice
from skelkit.metrics.topology import betti_errors
from skelkit.models.unet import UNet

# every arm spells out hybrid/noise/guard: ClDiceLoss's defaults now come from this experiment
_PLAIN = {"hybrid": False, "noise": 0.0, "guard": False}
ARMS = {
    "dice": None,
    "soft": {"skeletonizer": "soft"},
    "exact": {"skeletonizer": "exact", **_PLAIN},
    "skelite-old": {"skeletonizer": "skelite", **_PLAIN},
    "skelite": {"skeletonizer": "skelite", **_PLAIN},
    "skelite-guard": {"skeletonizer": "skelite", **_PLAIN, "guard": True},
    "skelite-hybrid": {"skeletonizer": "skelite", **_PLAIN, "hybrid": True},
    "skelite-noise": {"skeletonizer": "skelite", **_PLAIN, "noise": 0.33},
    "skelite-hybrid-guard": {"skeletonizer": "skelite", **_PLAIN, "hybrid": True, "guard": True},
    "skelite-hybrid-noise": {"skeletonizer": "skelite", **_PLAIN, "hybrid": True, "noise": 0.33},
    "exact-hybrid": {"skeletonizer": "exact", **_PLAIN, "hybrid": True},
    "exact-hybrid-noise": {"skeletonizer": "exact", **_PLAIN, "hybrid": True, "noise": 0.33},
}
#: Set B: thinner, denser vessels than the training distribution (``vessel_segmentation.RENDER``).
RENDER_B = dict(vs.RENDER, radius=(0.5, 1.6), n_curves=(6, 11), faint_prob=0.9)
METRICS = ("dice", "cldice", "b0_error", "b1_error", "spurious", "fragments", "missed")
HIGHER_IS_BETTER = {"dice", "cldice"}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--arms", default=",".join(ARMS))
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--size", type=int, default=96)
    p.add_argument("--n-train", type=int, default=96)
    p.add_argument("--n-test", type=int, default=96)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--width", type=int, default=8)
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--alpha", type=float, default=0.5)
    p.add_argument("--data-seed", type=int, default=1234)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--report-only", action="store_true")
    p.add_argument("--docs", help="also write the report between the experiment markers of this Markdown file "
                                  "and its figure next to it (img/cldice_arms.png)")
    a = p.parse_args(argv)
    a.arms = [x for x in a.arms.split(",") if x]
    a.seeds = [int(x) for x in a.seeds.split(",") if x]
    return a


# ------------------------------------------------------------------ losses
class OldSkeliteInput:
    """The Skelite input step before the fix (identity straight-through everywhere), for the 'skelite-old' arm."""

    def __enter__(self):
        from skelkit.core import autograd
        from skelkit.models import skelite_net

        self.saved = skelite_net.binarise_kept
        skelite_net.binarise_kept = autograd.straight_through_step
        return self

    def __exit__(self, *exc):
        from skelkit.models import skelite_net

        skelite_net.binarise_kept = self.saved
        return False


def make_loss(arm: str, alpha: float):
    if ARMS[arm] is None:
        return SoftDiceLoss(sigmoid=True)
    return DiceClDiceLoss(alpha=alpha, sigmoid=True, **ARMS[arm])


# ------------------------------------------------------------------ metrics
def components(pred: np.ndarray, gt: np.ndarray) -> dict:
    """b0 error split: spurious predicted components, fragments of true components, missed true components."""
    full = np.ones((3, 3), bool)
    lp, n_p = ndimage.label(pred, full)
    lg, n_g = ndimage.label(gt, full)
    touch = np.zeros((n_p + 1, n_g + 1), bool)
    both = pred & gt
    touch[lp[both], lg[both]] = True
    touch = touch[1:, 1:]
    return {"spurious": int((~touch.any(1)).sum()), "fragments": int(np.maximum(touch.sum(0) - 1, 0).sum()),
            "missed": int((~touch.any(0)).sum())}


def per_image(pred: np.ndarray, gt: np.ndarray) -> dict:
    out = {k: [] for k in METRICS}
    for p, g in zip(pred, gt):
        e = betti_errors(p, g)
        row = {"dice": dice(p, g), "cldice": cldice(p, g)[0], "b0_error": e[0], "b1_error": e[1], **components(p, g)}
        for k in METRICS:
            out[k].append(float(row[k]))
    return out


# ------------------------------------------------------------------ training
def train(arm: str, seed: int, train_set, args, log):
    torch.manual_seed(seed)
    model = UNet(width=args.width, depth=args.depth)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
    loss_fn = make_loss(arm, args.alpha)
    g = torch.Generator().manual_seed(seed)
    img, gt = train_set
    n, steps, cpu = img.shape[0], 0, 0.0
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(n, generator=g)
        for i in range(0, n - args.batch + 1, args.batch):
            idx = order[i:i + args.batch]
            x, y = vs.augment(img[idx], gt[idx], g)
            c0 = time.process_time()
            loss = loss_fn(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            cpu += time.process_time() - c0
            steps += 1
        sched.step()
    log(f"  {arm} seed {seed}: final loss {loss.item():.4f}, {cpu / steps:.3f} CPU s / step")
    return model.eval(), cpu / steps


def run(args) -> dict:
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.data_seed)
    train_set = vs.make_set(args.n_train, args.size, rng)
    test_a = vs.make_set(args.n_test, args.size, rng)
    pairs_b = [render_vessels((args.size, args.size), rng, **RENDER_B) for _ in range(args.n_test)]
    test_b = (torch.from_numpy(np.stack([p[0] for p in pairs_b]))[:, None],
              torch.from_numpy(np.stack([p[1] for p in pairs_b]))[:, None].float())
    path = out / "results.json"
    res = json.loads(path.read_text()) if path.is_file() else {"config": {}, "runs": {}}
    res["config"] = {k: v for k, v in vars(args).items() if k != "report_only"}
    for arm in args.arms:
        for seed in args.seeds:
            key = f"{arm}/{seed}"
            if key in res["runs"]:
                continue  # resumable: finished runs are kept
            t0 = time.perf_counter()
            with (OldSkeliteInput() if arm == "skelite-old" else _nothing()):
                model, cpu_step = train(arm, seed, train_set, args, print)
            rec = {"cpu_s_per_step": cpu_step, "wall_s": time.perf_counter() - t0}
            for name, (img, gt) in (("A", test_a), ("B", test_b)):
                pred = vs.predict(model, img, "cpu")
                rec[name] = per_image(pred, gt[:, 0].numpy() > 0.5)
            res["runs"][key] = rec
            atomic_write_text(path, json.dumps(res))
    return res


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# ------------------------------------------------------------------ report
def _arm_seed(key: str) -> tuple:
    """A run's key ``"arm/seed"`` as ``(arm, seed)``."""
    arm, seed = key.split("/")
    return arm, int(seed)


def arm_runs(res, arm, seeds=None) -> list:
    """The finished runs (one per seed) of ``arm``, only those of ``seeds`` if given."""
    return [v for k, v in res["runs"].items()
            if _arm_seed(k)[0] == arm and (seeds is None or _arm_seed(k)[1] in seeds)]


def arm_seeds(res, arm) -> set:
    """The seeds ``arm`` has finished runs for."""
    return {s for a, s in map(_arm_seed, res["runs"]) if a == arm}


def present_arms(res) -> list:
    """The arms with at least one finished run, in table order."""
    return [a for a in ARMS if arm_runs(res, a)]


def seed_mean(res, arm, source, metric, seeds=None):
    """Per image, the metric averaged over the seeds the arm has (or over ``seeds``)."""
    runs = arm_runs(res, arm, seeds)
    return np.mean([r[source][metric] for r in runs], axis=0), len(runs)


def paired(res, arm, base, source, metric) -> tuple:
    """Mean difference arm - base [95% CI] over images, each averaged over the seeds both arms ran."""
    common = arm_seeds(res, arm) & arm_seeds(res, base)
    a, _ = seed_mean(res, arm, source, metric, common)
    b, _ = seed_mean(res, base, source, metric, common)
    d = a - b
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return float(d.mean()), float(d.mean() - half), float(d.mean() + half)


def report(res) -> str:
    arms = present_arms(res)
    seeds = sorted({s for _, s in map(_arm_seed, res["runs"])})
    cfg = res["config"]
    L = [f"Config: {cfg.get('n_train')} training images of {cfg.get('size')}^2, {cfg.get('epochs')} epochs, U-Net "
         f"width {cfg.get('width')} depth {cfg.get('depth')}, alpha {cfg.get('alpha')}, seeds {seeds}; "
         f"{cfg.get('n_test')} test images per set.", ""]
    for source, title in (("A", "Set A (the training distribution)"), ("B", "Set B (thinner, denser vessels)")):
        L += [f"### {title}: mean over images of the seed-averaged metric", "",
              "| arm | seeds | Dice | clDice | b0 error | spurious | fragments | missed | b1 error | CPU s / step |",
              "|---|---|---|---|---|---|---|---|---|---|"]
        for arm in arms:
            cells = [f"{seed_mean(res, arm, source, m)[0].mean():.3f}" for m in
                     ("dice", "cldice", "b0_error", "spurious", "fragments", "missed", "b1_error")]
            cpu = np.mean([v["cpu_s_per_step"] for v in arm_runs(res, arm)])
            L.append(f"| {arm} | {len(arm_runs(res, arm))} | " + " | ".join(cells) + f" | {cpu:.3f} |")
        L.append("")
        for base in ("dice", "soft"):
            if base not in arms:
                continue
            L += [f"Paired with `{base}` on the same images and seeds (those both arms ran): mean difference "
                  "[95% CI]", "",
                  "| arm | Δ Dice | Δ clDice | Δ b0 error | Δ spurious | Δ fragments | Δ b1 error |",
                  "|---|---|---|---|---|---|---|"]
            for arm in arms:
                if arm == base:
                    continue
                cells = []
                for m in ("dice", "cldice", "b0_error", "spurious", "fragments", "b1_error"):
                    d, lo, hi = paired(res, arm, base, source, m)
                    cells.append(f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]")
                L.append(f"| {arm} | " + " | ".join(cells) + " |")
            L.append("")
    L += ["Per seed, set A: mean b0 error / Dice (a run *collapsed* when its mean Dice is below "
          f"{COLLAPSED}: it then predicts too little or too much vessel and its b0 error means little)", "",
          "| arm | " + " | ".join(f"seed {s}" for s in seeds) + " | collapsed | median b0 error / Dice |",
          "|---" * (len(seeds) + 3) + "|"]
    for arm in arms:
        cells, b0s, dices = [], [], []
        for s in seeds:
            r = res["runs"].get(f"{arm}/{s}")
            if r:
                b0s.append(np.mean(r["A"]["b0_error"]))
                dices.append(np.mean(r["A"]["dice"]))
            cells.append(f"{b0s[-1]:.2f} / {dices[-1]:.3f}" if r else "")
        n_bad = sum(d < COLLAPSED for d in dices)
        L.append(f"| {arm} | " + " | ".join(cells) + f" | {n_bad} of {len(dices)} | "
                 f"{np.median(b0s):.2f} / {np.median(dices):.3f} |")
    L += ["", *verdict(res, arms)]
    return "\n".join(L) + "\n"


COLLAPSED = 0.6  # mean Dice on set A below this: the run collapsed


def verdict(res, arms) -> list:
    """The issue's target, checked per arm: b0 error below soft clDice's (paired CI < 0) with Dice within 0.01 of Dice alone."""
    if not {"dice", "soft"} <= set(arms):
        return []
    L = ["Target check (set A): mean b0 error below soft clDice's (paired 95% CI entirely below 0), Dice within 0.01 "
         "of the Dice-only arm, no collapsed run:", ""]
    for arm in arms:
        if arm in ("dice", "soft"):
            continue
        d, lo, hi = paired(res, arm, "soft", "A", "b0_error")
        dd = paired(res, arm, "dice", "A", "dice")[0]
        bad = sum(np.mean(v["A"]["dice"]) < COLLAPSED for v in arm_runs(res, arm))
        ok = hi < 0 and dd >= -0.01 and bad == 0
        L.append(f"- `{arm}`: Δ b0 vs soft {d:+.2f} [{lo:+.2f}, {hi:+.2f}], Δ Dice vs Dice alone {dd:+.3f}, "
                 f"{bad} collapsed: **{'meets' if ok else 'misses'}** the target")
    return L


def figure(res, path: Path) -> None:
    """Each run (arm x seed) as a point: set-A mean Dice against mean b0 error."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = present_arms(res)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    marks = "os^Dvp<>hX*P"
    for i, arm in enumerate(arms):
        runs = arm_runs(res, arm)
        ax.scatter([np.mean(r["A"]["dice"]) for r in runs], [np.mean(r["A"]["b0_error"]) for r in runs],
                   marker=marks[i % len(marks)], label=arm, s=40)
    ax.axvline(COLLAPSED, color="0.7", lw=0.8, ls="--")
    ax.set_xlabel("Dice (set A, mean over images)")
    ax.set_ylabel("b0 error (set A, mean over images)")
    ax.set_title("One point per training run (arm x seed); right and low is better")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


START, END = "<!-- cldice-experiment:start -->", "<!-- cldice-experiment:end -->"


def write_docs(md: str, res, doc: Path) -> None:
    text = doc.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"{doc}: markers {START} / {END} not found")
    figure(res, doc.parent / "img" / "cldice_arms.png")
    body = f"{START}\n\n{md}\n![runs](img/cldice_arms.png)\n\n{END}"
    atomic_write_text(doc, text[:text.index(START)] + body + text[text.index(END) + len(END):])


def main(argv=None):
    args = parse_args(argv)
    out = Path(args.out)
    res = json.loads((out / "results.json").read_text()) if args.report_only else run(args)
    md = report(res)
    atomic_write_text(out / "results.md", md)
    if args.docs:
        write_docs(md, res, Path(args.docs))
    print(md)


if __name__ == "__main__":
    sys.exit(main())
