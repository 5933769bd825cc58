"""Where do unguarded Skelite's topology errors come from? Gaps, strays and loops against the teacher.

For each weights file, runs unguarded Skelite on held-out jagged synthetic
images (``skelkit.data.synth.sample(dim, 4242, i)``, a seed no training run
uses; 12 of 256x256 in 2D, 8 of 96^3 in 3D) and, in 2D, on the 512x512
retinal vessel mask, and reports per image: Dice against the teacher (exact
thinning in depth order, equivariant in 3D), the ``b0`` and ``b1`` errors
against the input (and the signed ``b1`` difference: loops closed > 0,
opened < 0), the pixels of teacher skeleton missing where the output is
split (``skelkit.metrics.split_gaps``), the pixels of output pieces with no
teacher pixel (``skelkit.metrics.stray_components``), the output pixels the
teacher deletes (extra) and the teacher pixels the output lacks (missing).
Used to compare training recipes (e.g. with and without the component term
``--w-topo``, or keep weights).

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python bench/skelite_components.py --dim 2 [WEIGHTS.pt ...]

Without weights files it scores the shipped ones. Prints a Markdown table and
writes ``bench/results/skelite_components_{dim}d.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from skelkit.data.examples import retina_vessel_mask
from skelkit.data.synth import sample, teacher_skeleton
from skelkit.io.atomic import atomic_write_text
from skelkit.metrics import betti_numbers, component_errors, dice
import skelkit

RESULTS = Path(__file__).resolve().parent / "results"


def data(dim: int) -> dict:
    if dim == 2:
        return {"synthetic2d (12x256^2, seed 4242)": [sample(2, 4242, i) for i in range(12)],
                "retina_vessels (512^2)": [retina_vessel_mask(512)]}
    return {"synthetic3d (8x96^3, seed 4242)": [sample(3, 4242, i, shape=(96,) * 3) for i in range(8)]}


def score(masks: list, weights) -> dict:
    rows = []
    for mask in masks:
        mask = np.asarray(mask, bool)
        ref = teacher_skeleton(mask)
        out = skelkit.skeletonize(mask, "skelite", weights=weights)
        b_in, b_out = betti_numbers(mask), betti_numbers(out)
        gaps, strays = component_errors(out, ref)
        rows.append([dice(out, ref), abs(b_out[0] - b_in[0]), abs(b_out[1] - b_in[1]), b_out[1] - b_in[1],
                     gaps.sum(), strays.sum(),
                     np.count_nonzero(out & ~ref), np.count_nonzero(ref & ~out)])
    m = np.mean(np.array(rows, float), axis=0)
    keys = ["dice", "abs_db0", "abs_db1", "db1", "gap_px", "stray_px", "extra_px", "missing_px"]
    return dict(zip(keys, np.round(m, 4).tolist()))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dim", type=int, choices=(2, 3), default=2)
    ap.add_argument("weights", nargs="*", help="weights files (default: the shipped ones)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    sets = data(args.dim)
    results = []
    print("| weights | data | Dice vs teacher | abs d b0 | abs d b1 | d b1 | gap px | stray px | extra px | missing px |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for w in args.weights or [None]:
        for name, masks in sets.items():
            results.append({"weights": w or f"shipped skelite{args.dim}d.pt", "data": name, **score(masks, w)})
            r = results[-1]
            print(f"| {r['weights']} | {name} | {r['dice']:.3f} | {r['abs_db0']:.2f} | {r['abs_db1']:.2f} "
                  f"| {r['db1']:+.2f} | {r['gap_px']:.1f} | {r['stray_px']:.1f} | {r['extra_px']:.0f} "
                  f"| {r['missing_px']:.0f} |", flush=True)
    out = RESULTS / f"skelite_components_{args.dim}d.json"
    cmd = "OMP_NUM_THREADS=1 .venv/bin/python bench/skelite_components.py --dim " + " ".join(
        [str(args.dim)] + list(args.weights))
    atomic_write_text(out, json.dumps({"command": cmd, "rows": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
