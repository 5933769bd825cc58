"""`skelkit skeletonize IN [IN ...] -o OUT_DIR`: skeletonize image files (and Zarr volumes)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ..errors import SkelkitError
from ..io.formats import format_options, is_zarr, output_name, split_suffix
from .method_flags import method_help, method_options, option_flags


def output_path(in_path: Path, out_dir: Path, fmt: str | None) -> Path:
    """``OUT_DIR/NAME.ext``: the input's name, its own format unless ``fmt`` (a ``--format`` value) is given."""
    return out_dir / output_name(in_path.name, fmt)


def _plan(inputs, out_dir: Path, fmt, overlay: bool, prob: bool) -> list[tuple[Path, dict]]:
    """Output paths per input; refuses collisions and overwriting an input before any work."""
    plan, seen = [], {}
    resolved_inputs = {p.resolve() for p in inputs}
    for p in inputs:
        if is_zarr(p):
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


def _run_file(path: Path, outs: dict, method: str, threshold, kw: dict) -> None:
    """Skeletonize one image file; writes all its outputs or none of them."""
    from .._methods import get_method
    from ..api import skeletonize
    from ..io import read_image, write_image

    mask, meta = read_image(path, threshold)
    try:
        skel = skeletonize(mask, method=method, **kw)
        proba = None
        if "prob" in outs:
            m = get_method(method)
            proba = m.function("proba")(mask, **m.bind(kw))
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


def make_command() -> click.Command:
    """The ``skeletonize`` command, its method flags built from the method table as it is now."""
    from .._methods import METHODS

    params = [
        click.Argument(["inputs"], nargs=-1, required=True, type=click.Path(path_type=Path)),
        click.Option(["-o", "--out", "out_dir"], required=True, type=click.Path(path_type=Path, file_okay=False),
                     help="Output folder (created if missing)."),
        click.Option(["-m", "--method"], default="exact", show_default=True, metavar=f"[{'|'.join(METHODS)}]",
                     help="Skeletonization method (listed below)."),
        click.Option(["--threshold"], type=float, help="Foreground is value > T (needed for grey-level inputs)."),
        click.Option(["--format", "fmt"], type=click.Choice(sorted(format_options())),
                     help="Output format (default: the input's; .jpg/.bmp inputs give .png)."),
        click.Option(["--overlay"], is_flag=True, help="Also write NAME_overlay.png (3D: max projection)."),
        click.Option(["--max-iter", "max_iter"], type=click.IntRange(min=0),
                     help="Iteration limit (the method's own iteration option)."),
        click.Option(["--prob"], is_flag=True, help="Also write NAME_prob.tif (skeleton probability; "
                     + ", ".join(m.name for m in METHODS.values() if m.proba) + ")."),
        *option_flags(),
        click.Option(["--chunks"], type=click.IntRange(min=1), help=".zarr inputs: chunk side in voxels."),
        click.Option(["--workers"], type=click.IntRange(min=1), help=".zarr inputs: local worker processes."),
        click.Option(["--scheduler"], help=".zarr inputs: dask scheduler (threads, processes or tcp://host:port)."),
        click.Option(["--keep-going"], is_flag=True, help="Skip inputs that fail, list them at the end and exit 1."),
    ]
    doc = (
        "Skeletonize image files (PNG, TIFF, NPY, NIfTI) or Zarr volumes into OUT_DIR.\n\n"
        "Outputs keep the input's name. Every file is written atomically, and an "
        "input that fails leaves none of its outputs behind. By default the run "
        "stops at the first failing input.\n\n\b\nMethods:\n" + method_help()
    )
    return click.Command("skeletonize", params=params, callback=run, help=doc)


def run(inputs, out_dir, method, threshold, fmt, overlay, max_iter, prob, chunks, workers, scheduler, keep_going,
        **flags):
    """Body of ``skelkit skeletonize`` (see :func:`make_command`)."""
    from tqdm import tqdm

    from .._methods import get_method

    kw = method_options(method, flags, max_iter)  # an unknown method is a one-line error here
    if prob and get_method(method).proba is None:
        raise SkelkitError(f"--prob needs a method with a probability map, not {method!r}")
    chunked_kw = {k: v for k, v in (("chunks", chunks), ("workers", workers), ("scheduler", scheduler)) if v}
    if chunked_kw and not any(is_zarr(p) for p in inputs):
        raise SkelkitError("--chunks, --workers and --scheduler apply to .zarr inputs only")
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
                if is_zarr(path):
                    _run_zarr(path, outs, method, threshold, kw, chunked_kw)
                else:
                    _run_file(path, outs, method, threshold, kw)
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
