"""Exact thinning of torch tensors: the device sweep against the numpy path, and against Menten et al.

On the CPU: ``thin`` (numpy, compiled kernel), ``skeletonize(tensor, "exact")`` (which hands CPU tensors to
the numpy path) and the device sweep ``thin_torch`` forced onto CPU tensors. With CUDA: ``thin_torch`` on
the GPU (batch of 8 x 512^2 and 128^3, synchronised, after a warm-up) and the project's re-implementation of
Menten et al. (``bench/menten.py``) on the same batch. Checks that every output equals the numpy skeleton.

Usage::

    OMP_NUM_THREADS=1 python bench/bench_torch_exact.py [--repeats 5] [--out bench/results/torch_exact.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

import inputs  # noqa: E402  (bench/inputs.py: this script's folder is on sys.path)

import skelkit
from skelkit.core.thinning import thin
from skelkit.core.thinning_torch import thin_torch


def _median_time(fn, repeats, sync=None):
    fn()
    if sync:
        sync()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        if sync:
            sync()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "torch_exact.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    cases = {"vessel 2D 512": inputs.vessel_mask_2d(512, 0), "tubes 3D 128": inputs.tube_volume(128, 0)}
    rows = []
    for name, m in cases.items():
        for batch in (1, 8):
            masks = np.stack([np.roll(m, 3 * i, axis=-1) for i in range(batch)])
            x = torch.from_numpy(masks.astype(np.float32))[:, None]
            want = np.stack([thin(a) for a in masks])
            assert np.array_equal(thin_torch(x)[:, 0].numpy(), want)
            assert np.array_equal(skelkit.skeletonize(x, "exact")[:, 0].numpy() > 0.5, want)
            row = {"input": name, "batch": batch,
                   "numpy_s": _median_time(lambda: [thin(a) for a in masks], args.repeats),
                   "tensor_cpu_s": _median_time(lambda: skelkit.skeletonize(x, "exact"), args.repeats),
                   "device_sweep_on_cpu_s": _median_time(lambda: thin_torch(x), args.repeats)}
            if torch.cuda.is_available():
                xg = x.cuda()
                assert np.array_equal(thin_torch(xg)[:, 0].cpu().numpy(), want)
                sync = torch.cuda.synchronize
                row["gpu"] = torch.cuda.get_device_name(0)
                row["device_sweep_gpu_s"] = _median_time(lambda: thin_torch(xg), args.repeats, sync)
                try:
                    from menten import MentenSkeletonize

                    menten = MentenSkeletonize()
                    with torch.no_grad():
                        row["menten_gpu_s"] = _median_time(lambda: menten(xg), max(1, args.repeats // 2), sync)
                    row["menten_over_ours"] = row["menten_gpu_s"] / row["device_sweep_gpu_s"]
                except Exception as exc:  # the baseline is optional
                    row["menten_error"] = f"{type(exc).__name__}: {exc}"
            rows.append(row)
            print(json.dumps({k: (round(v * 1e3, 2) if k.endswith("_s") else v) for k, v in row.items()}), flush=True)
    out = {"rows": rows, "torch": torch.__version__, "machine": platform.machine(), "threads": 1,
           "note": "seconds per batch; median after a warm-up; outputs checked equal to the numpy skeletons"}
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
