"""Evaluate the SkelNetOn U-Net and thinning baselines on a SkelNetOn split.

Scores per method: SkelNetOn score (mean per-image pixel-exact F1), pooled
exact F1, mean per-image F1 with a 1- and 2-pixel tolerance, full 2x2 blocks per
image; for the U-Net both the thresholded map and the method's default output
(the map with its full 2x2 blocks broken, ``blocks_broken``). Run by hand::

    .venv/bin/python bench/eval_unet.py --baselines --tta \
        --out bench/results/unet.json

The split (names only) defaults to the one saved beside the weights, so the
scores are on images the model never trained on (CV images did steer early
stopping and the threshold choice). Needs the SkelNetOn data (``--data`` or
``$SKELKIT_SKELNETON``); nothing of it is written out except scores.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

import skelkit
from skelkit.core.blocks import break_blocks
from skelkit.data.skelneton import class_of, default_root, load_pairs, load_split
from skelkit.io.atomic import atomic_write_text
from skelkit.metrics.overlap import pooled_f1, precision_recall_f1, skelneton_score
from skelkit.metrics.thinness import full_blocks
from skelkit.models.unet import load_unet, predict_proba
from skelkit.models.weights import weights_path


def scores(preds, gts) -> dict:
    return {
        "skelneton": round(skelneton_score(preds, gts), 4),
        "pooled_f1": round(pooled_f1(preds, gts), 4),
        "f1_tol1": round(float(np.mean([precision_recall_f1(p, g, tolerance=1)[2] for p, g in zip(preds, gts)])), 4),
        "f1_tol2": round(float(np.mean([precision_recall_f1(p, g, tolerance=2)[2] for p, g in zip(preds, gts)])), 4),
        "blocks_2x2_per_image": round(float(np.mean([full_blocks(p) for p in preds])), 2),
    }


def run_unet(weights, shapes, gts, ensemble, tta, thin_too=False) -> dict:
    pred = load_unet(weights)
    thr = pred.member_threshold(ensemble, tta)
    t0 = time.perf_counter()
    probs = [predict_proba(m, ensemble, tta, weights=pred) for m in shapes]
    dt = (time.perf_counter() - t0) / len(shapes)
    hard = [(p > thr) & m for p, m in zip(probs, shapes)]
    out = {"threshold": round(thr, 3), "seconds_per_image": round(dt, 4), **scores(hard, gts)}
    # the method's default output: the thresholded map with its full 2x2 blocks broken
    t0 = time.perf_counter()
    broken = [break_blocks(h, p) for h, p in zip(hard, probs)]
    out["blocks_broken"] = {"extra_seconds_per_image": round((time.perf_counter() - t0) / len(shapes), 4),
                            **scores(broken, gts)}
    if thin_too:  # post-thinning the thresholded map (not part of the published method)
        from skimage.morphology import skeletonize as sk_skeletonize

        out["thinned"] = scores([sk_skeletonize(h) for h in hard], gts)
    return out


def run_baseline(method, shapes, gts) -> dict:
    t0 = time.perf_counter()
    preds = [skelkit.skeletonize(m, method=method) for m in shapes]
    dt = (time.perf_counter() - t0) / len(shapes)
    return {"seconds_per_image": round(dt, 4), **scores(preds, gts)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="SkelNetOn train folder (default $SKELKIT_SKELNETON or ../shared)")
    ap.add_argument("--weights", default=str(weights_path("unet")))
    ap.add_argument("--split", default=None, help="split JSON (default: beside the weights)")
    ap.add_argument("--sets", default="cv", help="comma-separated split parts to score: cv, holdout, train")
    ap.add_argument("--baselines", action="store_true", help="also score the exact and skimage thinnings")
    ap.add_argument("--tta", action="store_true", help="also score 8-fold test-time augmentation")
    ap.add_argument("--thin", action="store_true", help="also score thinning the thresholded U-Net output")
    ap.add_argument("--label", default="unet")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (timings)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    root = args.data or default_root()
    if root is None:
        sys.exit("no SkelNetOn data: pass --data or set $SKELKIT_SKELNETON")
    wpath = Path(args.weights)
    split_path = Path(args.split) if args.split else next(
        p for p in (wpath.with_name(wpath.stem + "_split.json"), wpath.with_name("split.json")) if p.is_file())
    split = load_split(split_path)
    pred = load_unet(wpath)
    report = {"label": args.label, "weights": str(wpath), "split": str(split_path),
              "members": len(pred.members), "width": pred.members[0].width, "meta": pred.meta,
              "parameters_per_member": sum(p.numel() for p in pred.members[0].parameters()),
              "machine": f"{platform.machine()} CPU, torch {torch.__version__}, {args.threads} thread(s)", "sets": {}}
    for part in args.sets.split(","):
        names, shapes, gts = load_pairs(root, split[part])
        res = {"n": len(names), "classes": sorted({class_of(n) for n in names})[:50]}
        res["unet"] = run_unet(wpath, shapes, gts, 1, False, args.thin)
        if len(pred.members) > 1:
            res["unet_ensemble"] = run_unet(wpath, shapes, gts, None, False, args.thin)
        if args.tta:
            res["unet_tta"] = run_unet(wpath, shapes, gts, 1, True, args.thin)
            if len(pred.members) > 1:
                res["unet_ensemble_tta"] = run_unet(wpath, shapes, gts, None, True, args.thin)
        if args.baselines:
            for method in ("exact", "skimage"):
                res[method] = run_baseline(method, shapes, gts)
        report["sets"][part] = res
        print(part, json.dumps({k: v for k, v in res.items() if isinstance(v, dict)}), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
