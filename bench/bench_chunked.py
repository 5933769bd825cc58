"""Chunked vs whole-volume skeletonization: peak memory, throughput, identical output.

For each volume size, every run is a fresh subprocess that reports its peak
resident memory (``VmHWM`` from ``/proc/self/status``; ``ru_maxrss`` elsewhere)
and, on a LocalCluster, that of every worker; an "imports only" run gives the
baseline. The whole-volume run loads the volume from ``.npy``, thins it and
saves it; the chunked runs read a Zarr array and write a Zarr array with
:func:`skelkit.chunked.skeletonize` (dask threads, then a single thread).
The outputs must be identical.

Usage::

    .venv/bin/python bench/bench_chunked.py                  # tube volumes 384^3 and 512^3, chunks 128
    .venv/bin/python bench/bench_chunked.py --sizes 640 --workers 2
    .venv/bin/python bench/bench_chunked.py --quick          # one 256^3 volume (smoke test)

Writes ``bench/results/chunked.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_CHILD = r"""
import json, resource, sys, time
import numpy as np, dask, zarr
from skelkit.core.thinning import thin
from skelkit.chunked import skeletonize

def peak_mb():
    # VmHWM: this process's peak resident memory (ru_maxrss can include the parent's, from before exec)
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

mode, src, dst, chunks, workers = {args!r}
extra, t1 = {{}}, None
t0 = time.perf_counter()
if mode == "whole":
    vol = np.load(src)
    np.save(dst, thin(vol))
elif mode in ("threads", "synchronous"):
    skeletonize(src, chunks=chunks, out=dst, scheduler=mode, progress=True)
elif mode == "cluster":
    import logging
    from distributed import Client, LocalCluster
    with LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        t0 = time.perf_counter()  # cluster start-up not counted
        skeletonize(src, chunks=chunks, out=dst, scheduler=client, progress=True)
        t1 = time.perf_counter()
        extra["worker_peak_mb"] = sorted(client.run(peak_mb).values())
t1 = t1 or time.perf_counter()
print("RESULT " + json.dumps(dict(seconds=t1 - t0, peak_mb=peak_mb(), **extra)))
"""


def _child(mode, src="", dst="", chunks=0, workers=None):
    code = _CHILD.format(args=(mode, str(src), str(dst), chunks, workers))
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if proc.returncode:
        raise RuntimeError(f"{mode} run failed:\n{proc.stderr[-3000:]}")
    res = json.loads(proc.stdout.split("RESULT ", 1)[1])
    rounds = re.findall(r"round (\d+): (\d+) of (\d+) blocks", proc.stderr)
    if rounds:
        res["rounds"] = len(rounds)
        res["blocks"] = int(rounds[0][2])
        res["block_runs"] = sum(int(a) for _, a, _ in rounds)  # blocks recomputed, over all rounds
    return res


def bench_size(size, chunks, workers, tmp: Path) -> dict:
    import numpy as np
    import zarr

    from inputs import tube_volume  # bench/inputs.py (this script's folder is on sys.path)
    from skelkit.chunked.plans import make_plan
    from skelkit.chunked.rounds import round_depths

    vol = tube_volume(size)
    plan = make_plan("exact", vol.ndim)
    n, halo = round_depths(vol.shape, (chunks,) * vol.ndim, plan)
    padded = min(chunks + 2 * halo, size) ** vol.ndim
    print(f"\nvolume {vol.shape}, foreground {vol.mean():.2%}, chunks {chunks}, halo {halo}, {n} iteration(s)/round")
    res = dict(
        volume=f"bench.inputs.tube_volume({size})",
        shape=vol.shape,
        voxels=int(vol.size),
        foreground=round(float(vol.mean()), 5),
        chunks=chunks,
        halo=halo,
        iterations_per_round=n,
        padded_chunk_voxels=int(padded),
        volume_over_padded_chunk=round(vol.size / padded, 2),
    )
    np.save(tmp / "vol.npy", vol)
    z = zarr.open_array(str(tmp / "vol.zarr"), mode="w", shape=vol.shape, chunks=(chunks,) * vol.ndim, dtype=bool)
    z[:] = vol
    del vol, z

    runs = {"imports_only": _child("none")}
    runs["whole"] = _child("whole", tmp / "vol.npy", tmp / "whole.npy")
    runs["chunked_threads"] = _child("threads", tmp / "vol.zarr", tmp / "threads.zarr", chunks)
    runs["chunked_1_thread"] = _child("synchronous", tmp / "vol.zarr", tmp / "sync.zarr", chunks)
    if workers:
        runs[f"chunked_localcluster_{workers}"] = _child("cluster", tmp / "vol.zarr", tmp / "cluster.zarr", chunks, workers)
    whole = np.load(tmp / "whole.npy")
    res["identical"] = all(
        bool((zarr.open_array(str(p), mode="r")[:] == whole).all()) for p in tmp.glob("*.zarr") if p.name != "vol.zarr"
    )
    base = runs["imports_only"]["peak_mb"]
    for name, r in runs.items():
        r["peak_mb"] = round(r["peak_mb"], 1)
        r["seconds"] = round(r["seconds"], 3)
        if name == "imports_only":
            continue
        r["mvoxels_per_s"] = round(res["voxels"] / r["seconds"] / 1e6, 3)
        r["peak_above_imports_mb"] = round(r["peak_mb"] - base, 1)
        print(f"  {name:26s} {r['seconds']:8.2f} s  peak {r['peak_mb']:7.1f} MB ({r['peak_above_imports_mb']:7.1f} above imports)"
              f"  {r['mvoxels_per_s']:6.2f} Mvox/s" + (f"  workers {r['worker_peak_mb']} MB" if "worker_peak_mb" in r else ""))
    print("  identical:", res["identical"])
    res["runs"] = runs
    for p in list(tmp.iterdir()):  # free the disk before the next size
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[384, 512], help="volume sides (tube_volume(size))")
    ap.add_argument("--chunks", type=int, default=128)
    ap.add_argument("--workers", type=int, default=None, help="also run on a LocalCluster with N worker processes")
    ap.add_argument("--quick", action="store_true", help="one 256^3 volume (a smoke test: too small for the memory comparison)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "chunked.json"))
    args = ap.parse_args(argv)
    if args.quick:
        args.sizes = [256]

    from skelkit.io.atomic import atomic_write_text

    cmd = " ".join(["bench/bench_chunked.py"] + (argv if argv is not None else sys.argv[1:]))
    results = dict(
        command=f".venv/bin/python {cmd}".strip(),
        date=time.strftime("%Y-%m-%d %H:%M:%S"),
        machine=dict(cpus=os.cpu_count(), python=platform.python_version(), platform=platform.platform()),
        notes="runs are fresh subprocesses (OMP_NUM_THREADS=1); peak = VmHWM; dask threads = one per CPU",
        volumes=[],
    )
    with tempfile.TemporaryDirectory(prefix="bench-chunked-") as tmp:
        for size in args.sizes:
            results["volumes"].append(bench_size(size, args.chunks, args.workers, Path(tmp)))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(results, indent=2) + "\n")
    print("wrote", args.out)
    return 0 if all(v["identical"] for v in results["volumes"]) else 1


if __name__ == "__main__":
    sys.exit(main())
