"""Does the skeleton move with the image? Dice between skeletons of a mask and of the mask shifted by one pixel.

For every non-zero shift ``s`` in ``{0, 1}^d`` the mask is placed on a canvas
one pixel larger on each side, once at offset 1 and once at ``1 + s``; both
skeletons are cut back to the mask's window and compared (Dice). Dice 1 means
the method's output moves with the image. Exact thinning by subfields picks
between equally central pixels by pixel parity, so its output does not
(``thin(..., equivariant=True)`` is the fix). Also records CPU time per image.

Data: synthetic Bezier masks (seed 779, never used in training), 8 of 256x256
and 4 of 96^3, thickened by 0-2 levels.

Writes ``bench/results/shift.json`` and prints a Markdown table.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python bench/shift.py
"""

from __future__ import annotations

import itertools
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

import skelkit
from skelkit.data.augment import thicken
from skelkit.data.bezier import synth_mask
from skelkit.io.atomic import atomic_write_text
from skelkit.metrics.overlap import dice

METHODS = {
    "exact": dict(method="exact"),
    "exact, equivariant": dict(method="exact", equivariant=True),
    "exact, depth order (Skelite 2D teacher)": dict(method="exact", by_depth=True),
    "exact, depth order, equivariant (Skelite 3D teacher)": dict(method="exact", by_depth=True, equivariant=True),
    "skimage": dict(method="skimage"),
    "skelite": dict(method="skelite"),
}
RESULTS = Path(__file__).resolve().parent / "results"


def shift_dice(mask: np.ndarray, kw: dict) -> tuple[float, float]:
    """Mean Dice over the ``2**d - 1`` one-pixel shifts, and mean CPU seconds per call."""
    window = tuple(slice(1, 1 + n) for n in mask.shape)
    t = time.process_time()
    base = skelkit.skeletonize(np.pad(mask, 1), **kw)[window]
    calls, dices = 1, []
    for s in itertools.product((0, 1), repeat=mask.ndim):
        if not any(s):
            continue
        out = skelkit.skeletonize(np.pad(mask, [(1 + a, 1 - a) for a in s]), **kw)
        out = out[tuple(slice(1 + a, 1 + a + n) for a, n in zip(s, mask.shape))]
        calls += 1
        dices.append(dice(out, base))
    return float(np.mean(dices)), (time.process_time() - t) / calls


def main():
    torch.set_num_threads(1)
    data = {
        "synthetic2d (8x256x256)": [thicken(synth_mask((256, 256), np.random.default_rng([779, i])), i % 3) for i in range(8)],
        "synthetic3d (4x96x96x96)": [thicken(synth_mask((96,) * 3, np.random.default_rng([779, i])), i % 2) for i in range(4)],
    }
    rows = []
    for name, masks in data.items():
        for meth, kw in METHODS.items():
            res = [shift_dice(m, kw) for m in masks]
            rows.append({"data": name, "method": meth, "shift_dice": round(float(np.mean([r[0] for r in res])), 4),
                         "min_shift_dice": round(float(np.min([r[0] for r in res])), 4),
                         "cpu_s_per_image": round(float(np.mean([r[1] for r in res])), 4)})
            print(json.dumps(rows[-1]), flush=True)
    result = {
        "benchmark": "Dice between the skeletons of a mask and of the mask shifted by one pixel (mean over shifts)",
        "command": "OMP_NUM_THREADS=1 .venv/bin/python bench/shift.py",
        "cpu": platform.processor() or platform.machine(), "torch_threads": 1, "torch": torch.__version__,
        "rows": rows,
    }
    atomic_write_text(RESULTS / "shift.json", json.dumps(result, indent=1) + "\n")
    print("| data | method | Dice after a one-pixel shift (mean / worst image) | CPU s/img |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['data']} | {r['method']} | {r['shift_dice']:.3f} / {r['min_shift_dice']:.3f} | {r['cpu_s_per_image']:.3f} |")


if __name__ == "__main__":
    main()
