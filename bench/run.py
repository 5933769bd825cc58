"""Benchmark every skeletonization method side by side: speed, memory, quality.

Usage::

    python bench/run.py [--quick] [--out bench/results] [--methods exact,skelite,...] [--threads 1]
    skelkit bench [--quick] ...            # same thing, from a source checkout

Each (method, input) cell runs in a fresh process forked from this one (the
inputs are generated here once and inherited), so the peak-memory figure is
that cell's own and a slow cell can be stopped: a cell whose timing does not
finish within ``--budget`` seconds is killed and recorded as "skipped: over
budget", and larger inputs of the same series are then skipped without
running. Nothing is faked: unavailable methods (missing module or weights) and
inputs (missing data) are listed with the reason.

Timing: one call on a tiny input (imports, weights), then one warm-up call on
the input (its time is the "first call" and its peak memory the memory
figure), then up to ``--repeats`` timed calls while the budget allows; the
reported time is their median. Peak memory: resident set size high-water mark
of the cell's process during the warm-up call minus the resident size just
before it (Linux ``/proc/self/clear_refs`` + ``VmHWM``; falls back to the
``ru_maxrss`` delta), i.e. everything the call allocated, numpy and torch
alike, including allocator caching; free heap memory is returned to the OS
(``malloc_trim``) before forking and before the call so reused pages count. With CUDA, torch-capable methods are also
timed on the GPU (input already on the device; synchronised).

Writes ``OUT/bench.json`` (``bench_quick.json`` with ``--quick``), the gallery
crops ``OUT/bench[_quick]_gallery.json``, then renders the report (tables,
plots, PASS/FAIL targets) with ``bench/report.py``: ``docs/benchmarks.md`` and
``docs/img/bench_*.png`` for a full run, ``OUT/bench_quick.md`` and
``OUT/bench_quick_*.png`` for a quick one.
"""

from __future__ import annotations

import argparse
import os
import sys


def _threads_from_argv(argv) -> int:
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            return int(argv[i + 1])
        if a.startswith("--threads="):
            return int(a.split("=", 1)[1])
    return 1


# Thread pools are sized when numpy/torch load: pin them before importing either.
_THREADS = _threads_from_argv(sys.argv[1:] if __name__ == "__main__" else [])
if __name__ == "__main__":
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[_var] = str(_THREADS)

import ctypes  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import multiprocessing as mp  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

from report import pack_bits  # noqa: E402  (bench/report.py: this script's folder is on sys.path)

import skelkit  # noqa: E402

#: Peer implementations benchmarked beside skelkit's methods (modules in bench/).
PEERS = {"menten": "bench/menten.py, Menten et al. (ICCV 2023) re-implemented from the paper"}


def bench_methods() -> dict:
    """Benchmark column -> (method, options): every method of the table and its named variants, then the peers."""
    cols = {}
    for name in skelkit.available_methods():
        cols[name] = (name, {})
        for variant, opts in skelkit.get_method(name).variants.items():
            cols[variant] = (name, dict(opts))
    cols.update({p: (p, {}) for p in PEERS})
    return cols


METHODS = list(bench_methods())
GALLERY_CROP = 256  # gallery images are centre crops at most this big


# ------------------------------------------------------------------ inputs --
@dataclass
class Case:
    """One benchmark input: a single mask, or a set of SkelNetOn shape/skeleton pairs."""

    name: str
    make: Callable  # () -> dict(masks=[...], gts=[...] or None, note=str)
    dim: int
    series: str | None = None  # inputs of one series differ only in size (scaling fits)
    size: int | None = None
    kind: str = "synthetic"  # synthetic | real | shape | skelneton
    gallery: bool = False
    data: dict = field(default_factory=dict, repr=False)


def _inputs_module():
    try:
        import inputs  # bench/inputs.py (exact-thinning engineer)
    except ImportError as exc:
        return None, f"bench/inputs.py not importable ({exc})"
    return inputs, None


def _single(fn_name, *args):
    def make():
        mod, err = _inputs_module()
        if mod is None or not hasattr(mod, fn_name):
            raise _Unavailable(err or f"bench/inputs.py has no {fn_name}()")
        return {"masks": [np.ascontiguousarray(getattr(mod, fn_name)(*args), dtype=bool)], "gts": None}

    return make


class _Unavailable(Exception):
    """An input or method cannot be benchmarked here; the message says why."""


def skelneton_pairs(n: int) -> dict:
    """``n`` SkelNetOn validation pairs (evenly spaced over the split's validation names)."""
    from skelkit.data.skelneton import default_root, list_names, load_pairs, load_split, split_names
    from skelkit.models.weights import WEIGHTS_DIR

    root = default_root()
    if root is None:
        here = ROOT.parent / "shared" / "data" / "skelneton" / "train"
        root = here if here.is_dir() else None
    if root is None:
        raise _Unavailable("no SkelNetOn data (set $SKELKIT_SKELNETON or put it in ../shared/data/skelneton/train)")
    split_file = next((p for p in (WEIGHTS_DIR / "unet_split.json", WEIGHTS_DIR / "split.json") if p.is_file()), None)
    if split_file is not None:
        names = load_split(split_file).get("cv") or []
        note = f"validation ('cv') names of the U-Net split {split_file.relative_to(ROOT)}"
    else:
        names = split_names(list_names(root))["cv"]
        note = ("no U-Net split JSON beside the weights: 'cv' part of split_names(seed=0), the training default "
                "(may overlap U-Net training data if the weights used another split)")
    if not names:
        raise _Unavailable(f"the split has no validation names ({split_file})")
    pick = [names[int(i)] for i in np.linspace(0, len(names) - 1, min(n, len(names)))]
    names, shapes, gts = load_pairs(root, pick)
    return {"masks": list(shapes), "gts": list(gts), "names": names, "note": f"{len(names)} pairs; {note}"}


def build_cases(quick: bool, n_skelneton: int | None = None) -> list[Case]:
    v2 = [256, 512] if quick else [128, 256, 512, 1024, 2048]
    v3 = [32, 64] if quick else [32, 64, 128, 256]
    cases = [Case(f"vessel2d-{s}", _single("vessel_mask_2d", s, 0), 2, "vessel2d", s, gallery=s == 256) for s in v2]
    cases += [Case(f"tube3d-{s}", _single("tube_volume", s, 0), 3, "tube3d", s, gallery=s == 64) for s in v3]
    cases.append(Case("horse", _single("horse"), 2, kind="shape", gallery=True))
    if not quick:
        cases.append(Case("retina", _single("retina_vessel_mask"), 2, kind="real", gallery=True))
    b = 256 if quick else 512
    cases.append(Case(f"blobs-{b}", _single("blobs_2d", b, 0), 2, kind="synthetic", gallery=True))
    n = n_skelneton or (8 if quick else 64)
    cases.append(Case("skelneton-val", lambda: skelneton_pairs(n), 2, kind="skelneton", gallery=True))
    return cases


# ----------------------------------------------------------------- methods --
def method_callables(name: str):
    """``(numpy_fn, torch_fn_or_None)`` for a benchmark column; imports happen here (in the cell's process)."""
    if name == "menten":
        import menten

        return menten.menten_skeletonize, menten.MentenSkeletonize()
    base, kw = bench_methods()[name]
    torch_fn = None
    if skelkit.get_method(base).torch is not None:  # methods without one run their numpy path per item
        def torch_fn(x, _b=base, _kw=kw):
            return skelkit.skeletonize(x, method=_b, **_kw)

    return (lambda mask, _b=base, _kw=kw: skelkit.skeletonize(mask, method=_b, **_kw)), torch_fn


def unavailable_reason(name: str, case: Case) -> str | None:
    """Why ``name`` cannot run on ``case`` (checked in the parent, without running anything), or None."""
    if name in PEERS:
        return None if (HERE / f"{name}.py").is_file() else f"bench/{name}.py missing"
    base = bench_methods()[name][0]
    m = skelkit.get_method(base)
    if m.domain == "shapes":  # for SkelNetOn-style 256x256 silhouettes
        if case.dim != 2 or case.kind not in ("skelneton", "shape"):
            return f"{name} is for 2D shape images (SkelNetOn-style 256x256 silhouettes)"
        if case.kind == "shape" and case.data["masks"][0].shape != (256, 256):
            return f"{name} is for 256x256 shape images; this one is " + "x".join(map(str, case.data["masks"][0].shape))
    reason = skelkit.unavailable_reason(base, case.dim)
    return None if reason is None else reason.replace(str(ROOT) + "/", "")


# ------------------------------------------------------------- one cell ----
def _status_kb(field_name: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


class _PeakRSS:
    """Peak resident-memory increase of this process over a block (MiB)."""

    def __enter__(self):
        try:
            Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
            self.hwm = True
        except OSError:
            self.hwm = False
        self.rss0 = _status_kb("VmRSS") if self.hwm else None
        self.maxrss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return self

    def __exit__(self, *exc):
        if self.hwm and self.rss0 is not None and _status_kb("VmHWM") is not None:
            self.mb = max(_status_kb("VmHWM") - self.rss0, 0) / 1024
            self.how = "VmHWM-VmRSS"
        else:
            self.mb = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - self.maxrss0, 0) / 1024
            self.how = "ru_maxrss delta"
        return False


def release_free_memory() -> None:
    """Hand freed heap memory back to the OS (glibc ``malloc_trim``), so a forked cell cannot reuse it unseen.

    Without this, a child reuses free heap pages that are already resident
    (inherited from the parent or left by its own set-up call) and the
    resident-set high-water mark misses those allocations.
    """
    gc.collect()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the figure may undercount
        pass


def _tiny(dim: int) -> np.ndarray:
    grid = np.indices((24,) * dim) - 11.5
    return np.sqrt((grid ** 2).sum(0)) < 8


def _run_all(fn, masks):
    return [fn(m) for m in masks]


def _time_cell(fn, masks, budget: float, repeats: int) -> tuple[dict, list]:
    """Warm-up call (memory, first-call time), then timed calls within ``budget``; times are per image.

    ``repeats`` timed calls (more for calls under ~0.1 s), as many as fit in ``budget``.
    """
    release_free_memory()
    start = time.perf_counter()
    with _PeakRSS() as mem:
        t = time.perf_counter()
        outs = _run_all(fn, masks)
        first = (time.perf_counter() - t) / len(masks)
    # Fast calls get more repeats (up to 10x, about half a second in all) so millisecond medians are stable.
    want = max(repeats, min(10 * repeats, int(0.5 / max(first * len(masks), 1e-6))))
    times = []
    while len(times) < want:
        guess = (np.median(times) if times else first) * len(masks)
        if time.perf_counter() + guess > start + budget:
            break
        t = time.perf_counter()
        _run_all(fn, masks)
        times.append((time.perf_counter() - t) / len(masks))
    res = {"first_s": first, "times_s": times, "n_runs": len(times),
           "time_s": float(np.median(times)) if times else first, "peak_rss_mb": mem.mb, "memory_how": mem.how}
    if not times:
        res["note"] = "single cold call (no repeat fitted in the budget)"
    return res, outs


def _time_gpu(torch_fn, masks, budget: float, repeats: int) -> dict:
    import torch

    dev = torch.device("cuda")
    xs = [torch.as_tensor(m, dtype=torch.float32, device=dev)[None, None] for m in masks]
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    start = time.perf_counter()
    with torch.no_grad():
        t = time.perf_counter()
        for x in xs:
            torch_fn(x)
        torch.cuda.synchronize()
        first = (time.perf_counter() - t) / len(xs)
        times = []
        while len(times) < repeats and time.perf_counter() + first * len(xs) < start + budget:
            t = time.perf_counter()
            for x in xs:
                torch_fn(x)
            torch.cuda.synchronize()
            times.append((time.perf_counter() - t) / len(xs))
    return {"device": torch.cuda.get_device_name(0), "first_s": first, "times_s": times,
            "time_s": float(np.median(times)) if times else first,
            "peak_mb": (torch.cuda.max_memory_allocated() - base) / 2 ** 20}


def gallery_view(a: np.ndarray) -> np.ndarray:
    """2D picture of a mask or skeleton: a centre crop, or the max projection along axis 0 in 3D."""
    a = np.asarray(a, bool)
    if a.ndim == 3:
        a = a.any(0)
    sl = tuple(slice(max((n - GALLERY_CROP) // 2, 0), max((n - GALLERY_CROP) // 2, 0) + min(n, GALLERY_CROP))
               for n in a.shape)
    return a[sl]


def _quality(outs, case: Case, ref) -> dict:
    """Quality numbers of one method's skeletons (means over the images of the case)."""
    from scipy import ndimage

    import skelkit.metrics as M

    masks, gts = case.data["masks"], case.data.get("gts")
    rows = []
    for i, (mask, skel) in enumerate(zip(masks, outs)):
        skel = np.asarray(skel, bool)
        r = {"skeleton_px": int(skel.sum()), "outside_mask_px": int((skel & ~mask).sum())}
        be = M.betti_errors(skel, mask)
        r["betti_error"] = int(sum(be))
        r.update({f"betti_error_{k}": int(e) for k, e in enumerate(be)})
        r.update(M.thinness(skel))
        if ref is not None:
            r["dice_vs_exact"] = M.dice(skel, ref[i])
            # clDice of the two skeletons seen as 1-pixel-radius tubes: centreline agreement within 1 pixel.
            tube = np.ones((3,) * skel.ndim, bool)
            r["cldice_vs_exact"] = M.cldice(ndimage.binary_dilation(skel, tube), ndimage.binary_dilation(ref[i], tube),
                                            pred_skel=skel, ref_skel=ref[i])[0]
        if gts is not None:
            r["f1_exact_px"] = M.precision_recall_f1(skel, gts[i], 0)[2]
            r["f1_tol1"] = M.precision_recall_f1(skel, gts[i], 1)[2]
        rows.append(r)
    q = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    if gts is not None:
        q["skelneton_score"] = M.skelneton_score([np.asarray(o, bool) for o in outs], gts)
    q["n_images"] = len(rows)
    return q


def _cell_main(conn, method: str, case: Case, ref_path, save_ref, cfg: dict) -> None:
    """Body of a forked cell process; reports through ``conn`` in three steps (ready, timed, done)."""
    try:
        import torch

        torch.set_num_threads(cfg["threads"])
        fn, torch_fn = method_callables(method)
        masks = case.data["masks"]
        fn(_tiny(case.dim) if method != "unet" else np.pad(_tiny(2), 116))
        conn.send(("ready", None))
        timing, outs = _time_cell(fn, masks, cfg["budget"], cfg["repeats"])
        conn.send(("timed", timing))
        if save_ref:
            np.save(save_ref, np.stack([np.asarray(o, bool) for o in outs]))
        ref = np.load(ref_path) if ref_path and Path(ref_path).is_file() else None
        extra = {"quality": _quality(outs, case, ref)}
        if case.gallery:
            extra["gallery"] = pack_bits(gallery_view(outs[0]))
        if torch_fn is not None and torch.cuda.is_available():
            extra["gpu"] = _time_gpu(torch_fn, masks, cfg["budget"], cfg["repeats"])
        conn.send(("done", extra))
    except BaseException as exc:  # report, never hang the parent
        conn.send(("error", f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                   traceback.format_exc(limit=4)))
    finally:
        conn.close()


def run_cell(method: str, case: Case, ref_path, save_ref, cfg: dict) -> dict:
    """Run one (method, input) cell in a forked process; returns its result record."""
    release_free_memory()
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_cell_main, args=(child, method, case, ref_path, save_ref, cfg), daemon=True)
    proc.start()
    child.close()
    rec = {"case": case.name, "method": method}

    def wait(timeout):
        if parent.poll(timeout):
            try:
                return parent.recv()
            except EOFError:
                return None
        return None

    try:
        msg = wait(cfg["setup_timeout"])
        if msg is None or msg[0] == "error":
            return {**rec, "status": "error", "reason": _why(msg, proc, "no answer during set-up")}
        msg = wait(cfg["budget"] + 10)
        if msg is None:
            if proc.is_alive():
                return {**rec, "status": "skipped", "reason": f"over budget (> {cfg['budget']:g} s)",
                        "over_budget": True}
            return {**rec, "status": "error", "reason": _why(msg, proc, "died while timing")}
        if msg[0] == "error":
            return {**rec, "status": "error", "reason": _why(msg, proc, "")}
        rec.update(status="ok", **msg[1])
        msg = wait(cfg["metrics_timeout"])
        if msg is None or msg[0] == "error":
            rec["quality_error"] = _why(msg, proc, f"no quality numbers within {cfg['metrics_timeout']} s")
        else:
            rec.update(msg[1])
        return rec
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(5)
        parent.close()


def _why(msg, proc, default: str) -> str:
    if msg is not None and msg[0] == "error":
        return msg[1]
    proc.join(1)
    if proc.exitcode is not None and proc.exitcode < 0:
        return f"{default} (killed by signal {-proc.exitcode}; out of memory?)"
    return default


# ----------------------------------------------------------------- driver --
def machine_info(threads: int) -> dict:
    import scipy
    import skimage
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30, 1),
        "threads": threads,
        "torch_threads": threads,
        "platform": platform.platform(),
        "versions": {"python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
                     "scikit-image": skimage.__version__, "torch": torch.__version__, "skelkit": _skelkit_version()},
        "git_commit": git("rev-parse", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
    }


def _skelkit_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("skelkit")
    except PackageNotFoundError:
        return "unknown"


def _gpu_name() -> str | None:
    """CUDA device name, probed in a child process so this process never initialises CUDA before forking."""
    code = "import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out or None


def _predicted(method: str, case: Case, done: dict) -> tuple[float | None, str | None]:
    """Time predicted for ``case`` from the smaller sizes of its series, and the size it is predicted from.

    Extrapolates with the exponent seen between the two previous sizes (at
    least linear in pixels). ``done`` maps an earlier case name to
    ``(Case, {method: record})``.
    """
    prev = sorted((c for c, recs in done.values() if case.series and c.series == case.series
                   and c.size < case.size and method in recs), key=lambda c: c.size)
    if not prev:
        return None, None
    c = prev[-1]
    r = done[c.name][1][method]
    if r.get("over_budget"):
        return math.inf, c.name
    if r["status"] != "ok":
        return None, None
    b = 1.0
    if len(prev) >= 2:
        r0 = done[prev[-2].name][1][method]
        if r0["status"] == "ok":
            b = max(1.0, math.log(r["time_s"] / r0["time_s"]) / (case.dim * math.log(c.size / prev[-2].size)))
    return r["time_s"] * (case.size / c.size) ** (case.dim * b), c.name


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small subset of inputs (about 2-3 minutes)")
    ap.add_argument("--out", default=str(HERE / "results"), help="folder for the JSON results")
    ap.add_argument("--docs", default=None, help="folder for the markdown report and plots "
                    "(default: docs/ for a full run, OUT for --quick)")
    ap.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of " + ",".join(METHODS))
    ap.add_argument("--cases", default=None, help="comma-separated input names (prefixes) to run")
    ap.add_argument("--threads", type=int, default=_THREADS, help="CPU threads for numpy/torch (default 1)")
    ap.add_argument("--budget", type=float, default=None, help="seconds of timing per cell (default 12 quick, 60 full)")
    ap.add_argument("--repeats", type=int, default=None, help="timed calls after the warm-up (default 3 quick, 5 full)")
    ap.add_argument("--skelneton", type=int, default=None, help="SkelNetOn validation pairs (default 8 quick, 64 full)")
    ap.add_argument("--no-report", action="store_true", help="write the JSON only")
    args = ap.parse_args(argv)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bad = [m for m in methods if m not in METHODS]
    if bad:
        ap.error(f"unknown method(s) {', '.join(bad)}; choose from {', '.join(METHODS)}")
    args.methods = [m for m in METHODS if m in methods]  # exact first: it is the quality reference
    args.budget = args.budget or (12.0 if args.quick else 60.0)
    args.repeats = args.repeats or (3 if args.quick else 5)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    torch.set_num_threads(args.threads)
    from skelkit.io.atomic import atomic_write_text

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = "bench_quick" if args.quick else "bench"
    t_start = time.perf_counter()
    meta = machine_info(args.threads)
    meta.update(date=datetime.now(timezone.utc).isoformat(timespec="seconds"), quick=args.quick,
                command="python bench/run.py " + " ".join(sys.argv[1:] if argv is None else argv),
                budget_s=args.budget, repeats=args.repeats, methods=args.methods, gpu=_gpu_name(),
                memory_measure="peak RSS increase during the warm-up call, per cell in a forked process")
    print(f"skelkit bench: {meta['cpu']}, {meta['cpus_usable']} CPUs usable, {args.threads} thread(s), "
          f"load {meta['load_average_at_start']}, GPU: {meta['gpu'] or 'none'}; budget {args.budget:g} s/cell",
          flush=True)
    cases = build_cases(args.quick, args.skelneton)
    if args.cases:
        want = [c.strip() for c in args.cases.split(",")]
        cases = [c for c in cases if any(c.name.startswith(w) for w in want)]
    cfg = {"threads": args.threads, "budget": args.budget, "repeats": args.repeats,
           "setup_timeout": 180, "metrics_timeout": max(300, 3 * args.budget)}
    tmp = Path(tempfile.mkdtemp(prefix="skelkit-bench-"))
    records, case_meta, gallery, done = [], [], {"inputs": {}, "skeletons": {}}, {}
    try:
        for case in cases:
            try:
                case.data = case.make()
            except (_Unavailable, Exception) as exc:  # a missing input is reported, never fatal
                reason = str(exc) if isinstance(exc, _Unavailable) else f"{type(exc).__name__}: {exc}"
                print(f"{case.name:16s} input skipped: {reason}", flush=True)
                case_meta.append({"name": case.name, "status": "skipped", "reason": reason})
                continue
            masks = case.data["masks"]
            case_meta.append({"name": case.name, "status": "ok", "dim": case.dim, "series": case.series,
                              "size": case.size, "kind": case.kind, "shape": list(masks[0].shape),
                              "n_images": len(masks), "pixels": int(masks[0].size),
                              "foreground": float(np.mean([m.mean() for m in masks])), "note": case.data.get("note")})
            if case.gallery:
                gallery["inputs"][case.name] = pack_bits(gallery_view(masks[0]))
            ref = tmp / f"{case.name}.npy"
            done[case.name] = (case, {})
            for method in args.methods:
                reason = unavailable_reason(method, case)
                pred, from_case = _predicted(method, case, done) if reason is None else (None, None)
                if reason is None and pred is not None and pred > args.budget:
                    reason = (f"over budget (at {from_case})" if math.isinf(pred)
                              else f"over budget (predicted {pred:.0f} s from {from_case})")
                if reason is not None:
                    rec = {"case": case.name, "method": method, "status": "skipped", "reason": reason,
                           "over_budget": reason.startswith("over budget")}
                else:
                    rec = run_cell(method, case, str(ref), str(ref) if method == "exact" else None, cfg)
                rec["load_average"] = round(os.getloadavg()[0], 2)
                done[case.name][1][method] = rec
                if "gallery" in rec:
                    gallery["skeletons"][f"{case.name}|{method}"] = rec.pop("gallery")
                records.append(rec)
                _print_record(rec)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    meta["elapsed_s"] = round(time.perf_counter() - t_start, 1)
    meta["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results = {"meta": meta, "cases": case_meta, "results": records}
    import report

    results["summary"] = report.summarize(results)
    json_path = out / f"{stem}.json"
    atomic_write_text(json_path, json.dumps(results, indent=1, default=_json_default) + "\n")
    atomic_write_text(out / f"{stem}_gallery.json", json.dumps(gallery) + "\n")
    print(f"wrote {json_path} ({meta['elapsed_s']:.0f} s)", flush=True)
    if not args.no_report:
        docs = Path(args.docs) if args.docs else (out if args.quick else ROOT / "docs")
        md = report.render(json_path, docs, quick=args.quick)
        print(f"wrote {md}", flush=True)
    return 0


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o).__name__)


def _print_record(rec: dict) -> None:
    head = f"{rec['case']:16s} {rec['method']:14s}"
    if rec["status"] != "ok":
        print(f"{head} {rec['status']}: {rec['reason']}", flush=True)
        return
    q = rec.get("quality", {})
    extra = f"betti err {q['betti_error']:.2f}" if "betti_error" in q else rec.get("quality_error", "")
    if "skelneton_score" in q:
        extra += f", F1 {q['skelneton_score']:.3f}"
    gpu = f", GPU {rec['gpu']['time_s']:.4f} s" if "gpu" in rec else ""
    print(f"{head} {rec['time_s']:9.4f} s/img ({rec['n_runs']} runs, first {rec['first_s']:.4f} s), "
          f"peak +{rec['peak_rss_mb']:.0f} MiB{gpu}; {extra}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
