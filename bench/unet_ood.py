"""U-Net weights side by side on shapes unlike the SkelNetOn training data.

No ground truth exists for these, so per weights file: Betti numbers of the input and the output
(components the prediction breaks into), full 2x2 blocks (thickness) and F1 within 2 px of exact
thinning (placement). Usage::

    OMP_NUM_THREADS=2 .venv/bin/python bench/unet_ood.py OLD.pt NEW.pt
"""

from __future__ import annotations

import argparse

import skimage.data
import skimage.transform

import skelkit
from skelkit.data.examples import retina_vessel_mask
from skelkit.metrics import betti_numbers, precision_recall_f1
from skelkit.metrics.thinness import full_blocks


def shapes() -> dict:
    horse = ~skimage.data.horse().astype(bool)
    return {"horse 328x400": horse,
            "horse in a 256 frame": skimage.transform.resize(horse, (256, 312), order=0).astype(bool)[:, 28:284],
            "blobs 256": skimage.data.binary_blobs(256, 0.25, rng=3),
            "retina vessels 512": retina_vessel_mask(512)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights", nargs="+", help="U-Net weights files to compare")
    args = ap.parse_args(argv)
    print("| input | weights | Betti in -> out | 2x2 blocks | F1 within 2 px of exact |")
    print("|---|---|---|---|---|")
    for name, m in shapes().items():
        ex = skelkit.skeletonize(m, method="exact")
        for w in args.weights:
            s = skelkit.skeletonize(m, method="unet", weights=w)
            f1 = precision_recall_f1(s, ex, tolerance=2)[2]
            print(f"| {name} | {w} | {betti_numbers(m)} -> {betti_numbers(s)} | {full_blocks(s)} | {f1:.3f} |")


if __name__ == "__main__":
    main()
