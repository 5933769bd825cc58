"""Evaluate Skelite (with and without the topology guard) against exact thinning and baselines.

Data: a held-out synthetic Bezier set (seed 777, never used in training),
the retinal vessel mask of ``skelkit.data.examples.retina_vessel_mask()``
(512x512), ``skimage.data.binary_blobs`` (512x512) and a synthetic 3D set.
Per method and data set: mean |d b_i| (Betti numbers of the output vs the
input), images whose topology changed, Dice and clDice vs the teacher
(exact thinning in depth order, ``thin(mask, by_depth=True)``, in 3D also
``equivariant=True``, see ``skelkit.data.synth.EQUIVARIANT``; clDice here:
each skeleton against the other's 3x3-dilation, i.e. Dice with a one-pixel
tolerance), Dice vs the subfield teacher (``by_depth`` only: differs in 3D),
Dice vs the default exact thinning, thinness (fraction of output pixels that are not
removable: 1 = as thin as the teacher's criterion), pixels, and CPU time per
image (1 thread). Also times the band-by-band, gathered-sparse and dense
Skelite paths on the 512x512 vessel mask in the same process.

Writes ``bench/results/skelite.json`` and prints a Markdown table.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python bench/eval_skelite.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

import skelkit
from skelkit.core.simple import removable_points
from skelkit.core.thinning import thin
from skelkit.data.augment import thicken
from skelkit.data.bezier import synth_mask
from skelkit.data.synth import EQUIVARIANT, teacher_skeleton
from skelkit.io.atomic import atomic_write_text
from skelkit.metrics.overlap import dice
from skelkit.metrics.topology import betti_numbers
from skelkit.models.skelite import load_model

METHODS = {
    "skelite": dict(method="skelite"),
    "skelite+guard": dict(method="skelite", guard=True),
    "exact (depth order, teacher)": dict(method="exact", by_depth=True),
    "exact": dict(method="exact"),
    "soft": dict(method="soft"),
    "skimage": dict(method="skimage"),
}
RESULTS = Path(__file__).resolve().parent / "results"


def datasets(quick: bool) -> dict:
    from skimage.data import binary_blobs

    from skelkit.data.examples import retina_vessel_mask

    n2, n3 = (4, 1) if quick else (16, 4)
    syn2 = [thicken(synth_mask((256, 256), np.random.default_rng([777, i])), i % 3) for i in range(n2)]
    syn3 = [thicken(synth_mask((96, 96, 96), np.random.default_rng([778, i])), i % 2) for i in range(n3)]
    blobs = [binary_blobs(512, blob_size_fraction=0.08, volume_fraction=0.35, rng=s) for s in range(1 if quick else 3)]
    return {"synthetic2d": syn2, "retina_vessels": [retina_vessel_mask(512)], "blobs": blobs, "synthetic3d": syn3}


def _dilate(s):
    from scipy import ndimage

    return ndimage.binary_dilation(s, np.ones((3,) * s.ndim, bool))


def metrics(out, mask, ref, ref_exact, ref_sub) -> dict:
    bo, bi = betti_numbers(out), betti_numbers(mask)
    tprec = np.count_nonzero(out & _dilate(ref)) / max(out.sum(), 1)
    tsens = np.count_nonzero(ref & _dilate(out)) / max(ref.sum(), 1)
    return {
        "dbetti": [abs(a - b) for a, b in zip(bo, bi)],
        "dice": dice(out, ref),
        "dice_sub": dice(out, ref_sub),
        "dice_exact": dice(out, ref_exact),
        "cldice": 2 * tprec * tsens / max(tprec + tsens, 1e-12),
        "thinness": 1 - removable_points(out).sum() / max(out.sum(), 1),
        "pixels": int(out.sum()),
    }


def evaluate(data: dict, weights=None) -> dict:
    """Metrics per (data set, method); ``weights`` maps dim -> weights path (default: shipped)."""
    rows = {}
    for name, masks in data.items():
        methods = {m: dict(kw, **({"weights": weights[masks[0].ndim]} if m.startswith("skelite") and weights
                                  and weights.get(masks[0].ndim) else {})) for m, kw in METHODS.items()}
        for meth, kw in methods.items():
            skelkit.skeletonize(masks[0][:32, :32] if masks[0].ndim == 2 else masks[0][:16, :16, :16], **kw)  # warm-up
        eq = EQUIVARIANT[masks[0].ndim]
        if eq:
            methods["exact (depth order, teacher)"]["equivariant"] = True
        refs = [teacher_skeleton(m) for m in masks]
        refs_sub = [thin(m, by_depth=True) for m in masks] if eq else refs
        refs_exact = [thin(m) for m in masks]
        for meth, kw in methods.items():
            per, times = [], []
            for m, ref, ref_exact, ref_sub in zip(masks, refs, refs_exact, refs_sub):
                t = time.process_time()
                out = skelkit.skeletonize(m, **kw)
                times.append(time.process_time() - t)
                per.append(metrics(out, m, ref, ref_exact, ref_sub))
            db = np.array([p["dbetti"] for p in per])
            rows[(name, meth)] = {
                "data": name, "method": meth, "images": len(masks), "shape": list(masks[0].shape),
                "mean_abs_dbetti": db.mean(0).round(3).tolist(),
                "images_topology_changed": int((db.sum(1) > 0).sum()),
                "dice_vs_teacher": round(float(np.mean([p["dice"] for p in per])), 4),
                "cldice_vs_teacher": round(float(np.mean([p["cldice"] for p in per])), 4),
                "dice_vs_subfield_teacher": round(float(np.mean([p["dice_sub"] for p in per])), 4),
                "dice_vs_exact": round(float(np.mean([p["dice_exact"] for p in per])), 4),
                "thinness": round(float(np.mean([p["thinness"] for p in per])), 4),
                "pixels": round(float(np.mean([p["pixels"] for p in per])), 1),
                "cpu_s_per_image": round(float(np.mean(times)), 4),
            }
            print(json.dumps(rows[(name, meth)]), flush=True)
    return rows


def sparse_vs_dense(mask: np.ndarray, repeats: int = 3, weights=None) -> dict:
    """CPU time of the three Skelite paths on one image: band by band (the default without
    gradients), gathered sparse forward (the training path) and the dense reference."""
    import skelkit

    model = load_model(2, weights)
    x = torch.from_numpy(mask)[None, None].float()
    paths = {  # the numpy path runs band by band
        "bands": lambda guard: torch.from_numpy(skelkit.skeletonize(mask, "skelite", guard=guard, weights=weights))[None, None],
        "sparse": lambda guard: model(x, guard=guard, sparse=True) > 0.5,
        "dense": lambda guard: model(x, guard=guard, sparse=False) > 0.5,
    }
    res, outs = {}, {}
    with torch.no_grad():
        for guard in (False, True):
            for name, run in paths.items():
                run(guard)  # warm-up
                ts = []
                for _ in range(repeats):
                    t = time.process_time()
                    outs[(guard, name)] = run(guard)
                    ts.append(time.process_time() - t)
                res[f"{'guard_' if guard else ''}{name}_cpu_s"] = round(min(ts), 4)
    for g in ("", "guard_"):
        res[f"{g}speedup_bands_over_dense"] = round(res[f"{g}dense_cpu_s"] / res[f"{g}bands_cpu_s"], 2)
        res[f"{g}speedup_sparse_over_dense"] = round(res[f"{g}dense_cpu_s"] / res[f"{g}sparse_cpu_s"], 2)
    res["identical_outputs"] = all(torch.equal(outs[(g, n)], outs[(g, "dense")]) for g in (False, True) for n in paths)
    from skelkit.models.skelite import iters_for

    res["iterations"] = iters_for(mask)
    res["foreground_fraction"] = round(float(mask.mean()), 4)
    return res


def table(rows: dict) -> str:
    lines = ["| data | method | mean abs d b_i | topo changed | Dice vs teacher | clDice vs teacher "
             "| Dice vs subfield teacher | Dice vs exact | thinness | CPU s/img |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows.values():
        lines.append(f"| {r['data']} ({r['images']}x{'x'.join(map(str, r['shape']))}) | {r['method']} | "
                     f"{' / '.join(f'{v:g}' for v in r['mean_abs_dbetti'])} | {r['images_topology_changed']} | "
                     f"{r['dice_vs_teacher']:.3f} | {r['cldice_vs_teacher']:.3f} | "
                     f"{r['dice_vs_subfield_teacher']:.3f} | {r['dice_vs_exact']:.3f} | "
                     f"{r['thinness']:.3f} | "
                     f"{r['cpu_s_per_image']:.3f} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer images (smoke run)")
    ap.add_argument("--out", default=str(RESULTS / "skelite.json"))
    ap.add_argument("--weights2d", default=None, help="2D weights file (default: shipped)")
    ap.add_argument("--weights3d", default=None, help="3D weights file (default: shipped)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    data = datasets(args.quick)
    weights = {2: args.weights2d, 3: args.weights3d}
    rows = evaluate(data, weights)
    speed = sparse_vs_dense(data["retina_vessels"][0], weights=args.weights2d)
    print(json.dumps({"sparse_vs_dense": speed}))
    result = {
        "benchmark": "Skelite vs its teacher (exact thinning in depth order), exact thinning and baselines",
        "command": "OMP_NUM_THREADS=1 .venv/bin/python bench/eval_skelite.py" + (" --quick" if args.quick else ""),
        "cpu": platform.processor() or platform.machine(), "torch_threads": 1, "torch": torch.__version__,
        "timing": "process CPU time (time.process_time), single thread, after a warm-up call",
        "rows": list(rows.values()), "sparse_vs_dense_retina512": speed,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(result, indent=1) + "\n")
    print(table(rows))
    print(f"sparse vs dense on the 512x512 vessel mask: {speed}")


if __name__ == "__main__":
    main()
