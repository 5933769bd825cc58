"""Speed of exact thinning (`skelkit.core.thinning.thin`) next to scikit-image's skeletonize.

Runs both methods on the same inputs in one process, interleaved, and reports
the median of several timed runs after a warm-up call (2D: Zhang's method in
scikit-image; 3D: Lee's). "cold" is our first call on a fresh 3D memo table.
Prints a table and writes ``bench/results/exact.json``.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_exact.py [--quick] [--repeats N]
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

import inputs  # noqa: E402  (bench/inputs.py: this script's folder is on sys.path)

from skelkit.core import simple  # noqa: E402
from skelkit.core.thinning import thin  # noqa: E402
from skelkit.io.atomic import atomic_write_text  # noqa: E402
from skelkit.metrics.topology import betti_numbers  # noqa: E402


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _times(fn, x, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t)
    return times


def _cases(quick: bool):
    if quick:
        return [
            ("vessel 2D 256", lambda: inputs.vessel_mask_2d(256, 0)),
            ("blobs 2D 256", lambda: inputs.blobs_2d(256, 0)),
            ("tubes 3D 64", lambda: inputs.tube_volume(64, 0)),
        ]
    return [
        ("vessel 2D 512", lambda: inputs.vessel_mask_2d(512, 0)),
        ("blobs 2D 1024", lambda: inputs.blobs_2d(1024, 0)),
        ("horse 2D", inputs.horse),
        ("retina 2D", inputs.retina_vessel_mask),
        ("tubes 3D 128", lambda: inputs.tube_volume(128, 0)),
        ("tubes 3D 256", lambda: inputs.tube_volume(256, 0)),
    ]


def main(argv=None) -> dict:
    from skimage.morphology import skeletonize

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small inputs only")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per method and input")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "exact.json"))
    args = parser.parse_args(argv)

    rows = []
    print(f"{'input':<16}{'shape':>16}{'ours ms':>10}{'cold ms':>10}{'skimage ms':>12}{'ratio':>8}  betti ok (ours/skimage)")
    for name, make in _cases(args.quick):
        x = make()
        cold = None
        if x.ndim == 3:
            simple.clear_cache_3d()
            t = time.perf_counter()
            ours_out = thin(x)
            cold = time.perf_counter() - t
        else:
            ours_out = thin(x)  # warm-up
        ref_out = skeletonize(x)  # warm-up
        ours_t, ref_t = [], []
        for _ in range(args.repeats):  # interleaved, so load changes hit both alike
            ours_t += _times(thin, x, 1)
            ref_t += _times(skeletonize, x, 1)
        ours, ref = float(np.median(ours_t)), float(np.median(ref_t))
        betti = betti_numbers(x)
        row = {
            "input": name,
            "shape": list(x.shape),
            "foreground": int(x.sum()),
            "ours_s": ours,
            "ours_min_s": min(ours_t),
            "ours_cold_s": cold,
            "skimage_s": ref,
            "skimage_min_s": min(ref_t),
            "ratio_ours_over_skimage": ours / ref,
            "ours_pixels": int(ours_out.sum()),
            "skimage_pixels": int(ref_out.sum()),
            "ours_betti_ok": betti_numbers(ours_out) == betti,
            "skimage_betti_ok": betti_numbers(ref_out) == betti,
        }
        rows.append(row)
        cold_txt = f"{cold * 1e3:10.1f}" if cold is not None else f"{'-':>10}"
        print(
            f"{name:<16}{'x'.join(map(str, x.shape)):>16}{ours * 1e3:10.1f}{cold_txt}{ref * 1e3:12.1f}"
            f"{ours / ref:8.2f}  {row['ours_betti_ok']}/{row['skimage_betti_ok']}",
            flush=True,
        )

    result = {
        "benchmark": "exact thinning vs skimage.morphology.skeletonize",
        "statistic": f"median of {args.repeats} interleaved runs after one warm-up run",
        "load_average": list(os.getloadavg()),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "threads": {k: os.environ.get(k, "unset") for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")},
        "numpy": np.__version__,
        "python": platform.python_version(),
        "rows": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps(result, indent=2) + "\n")
    print(
        f"cpu: {result['cpu']} ({result['cpu_count']} cores), threads: {result['threads']}, "
        f"load average: {', '.join(f'{v:.1f}' for v in result['load_average'])}; wrote {out}"
    )
    return result


if __name__ == "__main__":
    main()
