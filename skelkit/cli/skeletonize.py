"""`skelkit skeletonize IN [IN ...] -o OUT_DIR`: skeletonize image files (and Zarr volumes)."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import click

from ..errors import SkelkitError

# file format (for --format and the default) -> output suffix
FORMATS = {"png": ".png", "tif": ".tif", "npy": ".npy", "nii.gz": ".nii.gz"}
# inputs we cannot (or should not, lossy) write back in their own format
_WRITE_AS = {".jpg": ".png", ".jpeg": ".png", ".bmp": ".png", ".tiff": ".tif", ".nii": ".nii"}
# flags only some methods understand (checked before any work is done)
FLAG_METHODS = {"guard": ("skelite",), "by_depth": ("exact",), "equivariant": ("exact",), "ensemble": ("unet",),
                "tta": ("unet",), "prob": ("unet",)}


def _accepts(fn, name: str) -> bool:
    params = inspect.signature(fn).parameters
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def method_kwargs(method: str, *, max_iter=None, guard=False, ensemble=None, tta=False, prob=False,
                  by_depth=False, equivariant=False) -> dict:
    """Keyword arguments for ``skelkit.skeletonize`` from the flags that were given.

    ``--max-iter`` becomes ``max_iter`` (exact) or ``iters`` (skelite, soft),
    whichever the method takes. Raises SkelkitError for an unknown method or a
    flag the method does not support.
    """
    from ..api import get_method

    m = get_method(method)
    given = {"guard": guard, "ensemble": ensemble is not None, "tta": tta, "prob": prob, "by_depth": by_depth,
             "equivariant": equivariant}
    for flag, ok in FLAG_METHODS.items():
        if given[flag] and method not in ok:
            raise SkelkitError(f"--{flag.replace('_', '-')} is only for method {' or '.join(ok)}, not {method!r}")
    kw = {}
    if max_iter is not None:
        name = next((n for n in ("max_iter", "iters") if n in inspect.signature(m.numpy_fn).parameters), None)
        if name is None:
            raise SkelkitError(f"method {method!r} has no iteration limit; drop --max-iter")
        kw[name] = max_iter
    if guard:
        kw["guard"] = True
    if by_depth:
        kw["by_depth"] = True
    if equivariant:
        kw["equivariant"] = True
    if ensemble is not None:
        kw["ensemble"] = ensemble
    if tta:
        kw["tta"] = True
    return kw


def output_path(in_path: Path, out_dir: Path, fmt: str | None) -> Path:
    """``OUT_DIR/NAME.ext``: the input's name, its own format unless ``fmt`` is given."""
    from ..io.formats import split_suffix

    stem, suffix = split_suffix(in_path.name)
    if fmt is not None:
        suffix = FORMATS[fmt]
    else:
        suffix = _WRITE_AS.get(suffix.lower(), suffix.lower())
    return out_dir / f"{stem}{suffix}"


def _is_zarr(p: Path) -> bool:
    return p.name.lower().rstrip("/").endswith(".zarr")


def _plan(inputs, out_dir: Path, fmt, overlay: bool, prob: bool) -> list[tuple[Path, dict]]:
    """Output paths per input; refuses collisions and overwriting an input before any work."""
    from ..io.formats import split_suffix

    plan, seen = [], {}
    resolved_inputs = {p.resolve() for p in inputs}
    for p in inputs:
        if _is_zarr(p):
            outs = {"skeleton": out_dir / p.name}
        else:
            stem = split_suffix(p.name)[0]
            outs = {"skeleton": output_path(p, out_dir, fmt)}
            if overlay:
                outs["overlay"] = out_dir / f"{stem}_overlay.png"
            if prob:
                outs["prob"] = out_dir / f"{stem}_prob.tif"
        for q in outs.values():
            if q.resolve() in resolved_inputs:
                raise SkelkitError(f"output {q} would overwrite an input; choose another -o folder")
            if q in seen:
                raise SkelkitError(f"inputs {seen[q]} and {p} would both write {q}; rename one")
            seen[q] = p
        plan.append((p, outs))
    return plan


def _prepare_out_dir(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SkelkitError(f"cannot create output folder {out_dir}: {exc.strerror or exc}") from None
    if not os.access(out_dir, os.W_OK):
        raise SkelkitError(f"output folder is not writable: {out_dir}")


def _run_file(path: Path, outs: dict, method: str, threshold, kw: dict, prob_kw: dict | None) -> None:
    """Skeletonize one image file; writes all its outputs or none of them."""
    from ..api import skeletonize
    from ..io import read_image, write_image

    mask, meta = read_image(path, threshold)
    try:
        skel = skeletonize(mask, method=method, **kw)
        proba = None
        if prob_kw is not None:
            from ..models.unet import predict_proba

            proba = predict_proba(mask, **prob_kw)
    except SkelkitError as exc:
        raise SkelkitError(_with_name(path, exc)) from None
    except (RuntimeError, MemoryError) as exc:  # e.g. torch out of memory: one line, not a traceback
        raise SkelkitError(f"{path}: method {method!r} failed: {exc.__class__.__name__}: {exc}") from None
    written = []
    try:
        written.append(write_image(outs["skeleton"], skel, meta))
        if "overlay" in outs:
            from ..viz import save_overlay

            save_overlay(outs["overlay"], mask, skel)
            written.append(outs["overlay"])
        if proba is not None:
            written.append(write_image(outs["prob"], proba))
    except BaseException:
        for q in written:  # all or nothing per input
            q.unlink(missing_ok=True)
        raise


def _with_name(path: Path, exc: Exception) -> str:
    msg = str(exc)
    return msg if str(path) in msg else f"{path}: {msg}"


def _run_zarr(path: Path, outs: dict, method: str, threshold, kw: dict, chunked_kw: dict) -> None:
    from ..chunked import skeletonize_path

    if threshold is not None:
        kw = {**kw, "threshold": threshold}
    skeletonize_path(path, outs["skeleton"], method=method, progress=True, **chunked_kw, **kw)


@click.command("skeletonize")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Output folder (created if missing).")
@click.option("-m", "--method", default="exact", show_default=True,
              help="exact, skimage, medial_axis, soft, skelite or unet.")
@click.option("--threshold", type=float, help="Foreground is value > T (needed for grey-level inputs).")
@click.option("--format", "fmt", type=click.Choice(sorted(FORMATS)),
              help="Output format (default: the input's; .jpg/.bmp inputs give .png).")
@click.option("--overlay", is_flag=True, help="Also write NAME_overlay.png (3D: max projection).")
@click.option("--max-iter", type=click.IntRange(min=0), help="Iteration limit (exact: max_iter; skelite/soft: iters).")
@click.option("--guard", is_flag=True, help="skelite: accept only topology-safe deletions.")
@click.option("--by-depth", is_flag=True, help="exact: peel in depth order, two layers per stage (Skelite's teacher).")
@click.option("--equivariant", is_flag=True, help="exact: no subfields, so the skeleton moves with the image (slower).")
@click.option("--ensemble", type=click.IntRange(min=1), help="unet: use the first K ensemble members.")
@click.option("--tta", is_flag=True, help="unet: average over the 8 flips/rotations.")
@click.option("--prob", is_flag=True, help="unet: also write NAME_prob.tif (skeleton probability).")
@click.option("--chunks", type=click.IntRange(min=1), help=".zarr inputs: chunk side in voxels.")
@click.option("--workers", type=click.IntRange(min=1), help=".zarr inputs: local worker processes.")
@click.option("--scheduler", help=".zarr inputs: dask scheduler (threads, processes or tcp://host:port).")
@click.option("--keep-going", is_flag=True, help="Skip inputs that fail, list them at the end and exit 1.")
def command(inputs, out_dir, method, threshold, fmt, overlay, max_iter, guard, by_depth, equivariant, ensemble, tta, prob,
            chunks, workers, scheduler, keep_going):
    """Skeletonize image files (PNG, TIFF, NPY, NIfTI) or Zarr volumes into OUT_DIR.

    Outputs keep the input's name. Every file is written atomically, and an
    input that fails leaves none of its outputs behind. By default the run
    stops at the first failing input.
    """
    from tqdm import tqdm

    kw = method_kwargs(method, max_iter=max_iter, guard=guard, ensemble=ensemble, tta=tta, prob=prob,
                       by_depth=by_depth, equivariant=equivariant)
    chunked_kw = {k: v for k, v in (("chunks", chunks), ("workers", workers), ("scheduler", scheduler)) if v}
    if chunked_kw and not any(_is_zarr(p) for p in inputs):
        raise SkelkitError("--chunks, --workers and --scheduler apply to .zarr inputs only")
    prob_kw = None
    if prob:
        prob_kw = {k: kw[k] for k in ("ensemble", "tta") if k in kw}
    plan = _plan(inputs, out_dir, fmt, overlay, prob)
    if not keep_going:  # fail before writing anything when an input is plainly missing
        for p in inputs:
            if not p.exists():
                raise SkelkitError(f"file not found: {p}")
    created = not out_dir.exists()
    _prepare_out_dir(out_dir)
    failed = []
    try:
        for path, outs in tqdm(plan, desc="skeletonize", unit="file", disable=None):
            try:
                if _is_zarr(path):
                    _run_zarr(path, outs, method, threshold, kw, chunked_kw)
                else:
                    _run_file(path, outs, method, threshold, kw, prob_kw)
            except SkelkitError as exc:
                if not keep_going:
                    raise
                failed.append((path, _with_name(path, exc)))
    finally:
        if created and not any(out_dir.iterdir()):  # a failed run leaves no empty folder behind
            out_dir.rmdir()
    done = len(plan) - len(failed)
    click.echo(f"skelkit: wrote {done} skeleton{'s' * (done != 1)} ({method}) to {out_dir}", err=True)
    if failed:
        click.echo(f"skelkit: {len(failed)} input{'s' * (len(failed) != 1)} failed:", err=True)
        for _, msg in failed:
            click.echo(f"  {msg}", err=True)
        raise SystemExit(1)
