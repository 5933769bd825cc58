"""How the SkelNetOn ground truth places its line inside straight bands (docs/unet.md).

Two counts over the training pairs, both about whether a pixel-exact line can be read
off the local shape:

* **Tie side**: where the true line runs straight along a row (or column) of a band
  whose cross-section there is an even number of pixels, the band's centre lies between
  two pixels; counts of the line taking the upper/left or the lower/right one.
* **Uniform bands**: runs of >= 10 consecutive columns (or rows) whose cross-section is
  one and the same even-width interval (>= 4 px); counts of those where the true line
  keeps one row all along and those where it switches rows.

Run by hand (needs the data; prints counts only, writes nothing)::

    .venv/bin/python bench/skelneton_gt_stats.py [--data DIR]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter

import numpy as np

from skelkit.data.skelneton import default_root, load_pairs


def _run_bounds(line: np.ndarray, i: int) -> tuple[int, int]:
    """First and last index of the run of True in ``line`` that holds ``i``."""
    lo, hi = i, i
    while lo > 0 and line[lo - 1]:
        lo -= 1
    while hi < len(line) - 1 and line[hi + 1]:
        hi += 1
    return lo, hi


def tie_sides(shape: np.ndarray, skel: np.ndarray) -> Counter:
    """Counter of ``"before"``/``"after"`` for straight horizontal line pixels in even-width columns."""
    out = Counter()
    h, w = skel.shape
    for y, x in zip(*np.nonzero(skel)):
        if not (1 <= y < h - 1 and 2 <= x < w - 2):
            continue
        straight = skel[y, x - 2:x + 3].all() and not skel[y - 1, x] and not skel[y + 1, x]
        if straight:
            lo, hi = _run_bounds(shape[:, x], y)
            if (hi - lo + 1) % 2 == 0 and abs(y - (lo + hi) / 2) == 0.5:
                out["before" if y < (lo + hi) / 2 else "after"] += 1
    return out


def uniform_bands(shape: np.ndarray, skel: np.ndarray, min_len: int = 10) -> Counter:
    """Counter of ``"keeps"``/``"switches"`` over uniform even-width bands along the columns."""
    out = Counter()
    prev, rows = None, []

    def close():
        if prev is not None and len(rows) >= min_len and (prev[1] - prev[0] + 1) % 2 == 0 and prev[1] - prev[0] >= 3:
            out["keeps" if len(set(rows)) == 1 else "switches"] += 1

    for x in range(shape.shape[1]):
        ys = np.nonzero(shape[:, x])[0]
        key = (int(ys[0]), int(ys[-1])) if len(ys) and ys[-1] - ys[0] + 1 == len(ys) else None
        line = tuple(np.nonzero(skel[:, x])[0].tolist())
        if key is not None and key == prev:
            rows.append(line)
        else:
            close()
            rows = [line]
        prev = key
    close()
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="SkelNetOn train folder (default $SKELKIT_SKELNETON or ../shared)")
    args = ap.parse_args(argv)
    root = args.data or default_root()
    if root is None:
        sys.exit("no SkelNetOn data: pass --data or set $SKELKIT_SKELNETON")
    _, shapes, skels = load_pairs(root)
    ties, bands = Counter(), Counter()
    for s, g in zip(shapes, skels):
        for a, b in ((s, g), (s.T, g.T)):  # rows, then columns
            ties += tie_sides(a, b)
            bands += uniform_bands(a, b)
    print(f"{len(shapes)} pairs")
    print(f"tie side (even-width cross-section, straight line): before {ties['before']}, after {ties['after']}")
    print(f"uniform even-width bands >= 10 long: line keeps one row {bands['keeps']}, switches {bands['switches']}")


if __name__ == "__main__":
    main()
