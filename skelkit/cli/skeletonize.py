"""`skelkit skeletonize IN [IN ...] -o OUT_DIR`: skeletonize image files (and Zarr volumes)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
import numpy as np

from ..errors import SkelkitError
from ..io.atomic import created_folder, remove_stale, state
from ..io.formats import format_options, is_zarr, output_name, split_suffix
from .common import parse_spacing, spacing_for
from .method_flags import method_help, method_options, option_flags


def output_path(in_path: Path, out_dir: Path, fmt: str | None) -> Path:
    """``OUT_DIR/NAME.ext``: the input's name, its own format unless ``fmt`` (a ``--format`` value) is given."""
    return out_dir / output_name(in_path.name, fmt)


def _plan(inputs, out_dir: Path, fmt, overlay: bool, prob: bool) -> list[tuple[Path, dict]]:
    """Output paths per input; refuses collisions and writing over or into an input before any work."""
    plan, seen = [], {}
    resolved_inputs = {p.resolve() for p in inputs}
    zarr_inputs = [p.resolve() for p in inputs if is_zarr(p)]
    out_res = out_dir.resolve()
    for z in zarr_inputs:
        if out_res == z or z in out_res.parents:
            raise SkelkitError(f"output folder {out_dir} lies inside the input {z}; choose a folder outside it")
    for p in inputs:
        if is_zarr(p):
            if fmt is not None:
                raise SkelkitError(f"--format applies to image files; the Zarr input {p} is written as Zarr")
            outs = {"skeleton": out_dir / zarr_output_name(p)}
            if overlay:
                outs["overlay"] = out_dir / f"{Path(zarr_output_name(p)).stem}_overlay.png"
            if prob:
                raise SkelkitError(f"--prob is for image files, not the Zarr input {p}")
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


def zarr_output_name(path: Path) -> str:
    """Output name for a Zarr input: its own name (``img.zarr``, ``img.ome.zarr``); an array inside a store
    (``img.ome.zarr/0``) gives ``img.ome_0.zarr``."""
    name = path.resolve().name
    if name.lower().endswith(".zarr"):
        return name  # an OME-Zarr image gives an OME-Zarr skeleton, a plain array a plain array
    parent = zarr_output_name(path.resolve().parent)[: -len(".zarr")] if is_zarr(path.resolve().parent) else ""
    return f"{parent}_{name}.zarr" if parent else f"{name}.zarr"


def _run_file(path: Path, outs: dict, method: str, threshold, kw: dict, expect: dict, post: dict) -> None:
    """Skeletonize one image file; writes all its outputs or none of them (what was there stays on failure).

    ``post``: ``spacing`` (tuple or None), ``prune`` (length or None), ``labels`` (bool).
    """
    from .._methods import get_method
    from ..api import skeletonize, skeletonize_labels
    from ..io import read_array, read_image, write_image
    from ..io.atomic import atomic_files

    if post["labels"]:
        labels, meta = read_array(path)
        mask = labels != 0
    else:
        mask, meta = read_image(path, threshold)
    sp = spacing_for(post["spacing"], mask.ndim, meta, path)
    if sp is not None:
        meta = {**meta, "spacing": sp}
    try:
        if post["labels"]:
            skel = skeletonize_labels(labels, method, **kw)
        else:
            skel = skeletonize(mask, method=method, **kw)
        if post["prune"]:
            skel = _pruned(skel, post["prune"], sp, post["labels"])
        proba = None
        if "prob" in outs:
            m = get_method(method)
            proba = m.function("proba")(mask, **m.bind(kw))
    except SkelkitError as exc:
        raise SkelkitError(_with_name(path, exc)) from None
    except (RuntimeError, MemoryError) as exc:  # e.g. torch out of memory: one line, not a traceback
        raise SkelkitError(f"{path}: method {method!r} failed: {exc.__class__.__name__}: {exc}") from None
    with atomic_files() as group:
        write_image(group.stage(outs["skeleton"], expect[outs["skeleton"]]), skel, meta, labels=post["labels"])
        if "overlay" in outs:
            from ..viz import save_overlay, view_2d

            fmt = meta.get("format")
            save_overlay(group.stage(outs["overlay"], expect[outs["overlay"]]), view_2d(mask, fmt),
                         view_2d(skel != 0, fmt))
        if proba is not None:
            write_image(group.stage(outs["prob"], expect[outs["prob"]]), proba)


def _pruned(skel, length, spacing, labels: bool):
    from ..analysis import prune

    if not labels:
        return prune(skel, length, spacing)
    out = skel.copy()
    for lab in np.unique(skel[skel != 0]):  # each label's skeleton on its own
        keep = prune(skel == lab, length, spacing)
        out[(skel == lab) & ~keep] = 0
    return out


def _with_name(path: Path, exc: Exception) -> str:
    msg = str(exc)
    return msg if str(path) in msg else f"{path}: {msg}"


def _run_zarr(path: Path, outs: dict, method: str, threshold, kw: dict, chunked_kw: dict) -> None:
    from ..chunked import skeletonize_path

    if threshold is not None:
        kw = {**kw, "threshold": threshold}
    # progress on a terminal only, like the tqdm bars: in a log file it is noise
    out = skeletonize_path(path, outs["skeleton"], method=method, progress=sys.stderr.isatty(), **chunked_kw, **kw)
    if "overlay" in outs:
        from ..chunked.inputs import projection
        from ..viz import save_overlay

        save_overlay(outs["overlay"], projection(path, threshold), projection(out))


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
        click.Option(["--labels"], is_flag=True,
                     help="Inputs are label images: one skeleton per label, each pixel keeps its label."),
        click.Option(["--prune", "prune_length"], type=click.FloatRange(min=0),
                     help="Remove terminal branches shorter than this (spacing units); topology is kept."),
        click.Option(["--spacing"], metavar="Z,Y,X",
                     help="Pixel size per axis (or one number), used by --prune and written with the outputs; "
                          "default: the file's (NIfTI, TIFF, OME-Zarr)."),
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


def run(inputs, out_dir, method, threshold, fmt, overlay, max_iter, prob, labels, prune_length, spacing, chunks,
        workers, scheduler, keep_going, **flags):
    """Body of ``skelkit skeletonize`` (see :func:`make_command`)."""
    from tqdm import tqdm

    from .._methods import get_method

    kw = method_options(method, flags, max_iter)  # an unknown method is a one-line error here
    if prob and get_method(method).proba is None:
        raise SkelkitError(f"--prob needs a method with a probability map, not {method!r}")
    post = {"spacing": parse_spacing(spacing), "prune": prune_length, "labels": labels}
    if labels and threshold is not None:
        raise SkelkitError("--labels and --threshold exclude each other (labels are the values themselves)")
    if (labels or prune_length) and any(is_zarr(p) for p in inputs):
        raise SkelkitError("--labels and --prune are for image files; Zarr volumes run chunk by chunk without them")
    chunked_kw = {k: v for k, v in (("chunks", chunks), ("workers", workers), ("scheduler", scheduler)) if v}
    if chunked_kw and not any(is_zarr(p) for p in inputs):
        raise SkelkitError("--chunks, --workers and --scheduler apply to .zarr inputs only")
    if post["spacing"] is not None:
        chunked_kw["spacing"] = post["spacing"]
    plan = _plan(inputs, out_dir, fmt, overlay, prob)
    if not keep_going:  # fail before writing anything when an input is plainly missing
        for p in inputs:
            if not p.exists():
                raise SkelkitError(f"file not found: {p}")
    failed = []
    with created_folder(out_dir):
        if not os.access(out_dir, os.W_OK):
            raise SkelkitError(f"output folder is not writable: {out_dir}")
        remove_stale(out_dir)  # leftovers of runs killed with SIGKILL
        expect = {q: state(q) for _, outs in plan for q in outs.values()}  # to notice concurrent writers
        for path, outs in tqdm(plan, desc="skeletonize", unit="file", disable=None):
            try:
                if is_zarr(path):
                    _run_zarr(path, outs, method, threshold, kw, chunked_kw)
                else:
                    _run_file(path, outs, method, threshold, kw, expect, post)
            except SkelkitError as exc:
                if not keep_going:
                    raise
                failed.append((path, _with_name(path, exc)))
    done = len(plan) - len(failed)
    click.echo(f"skelkit: wrote {done} skeleton{'s' * (done != 1)} ({method}) to {out_dir}", err=True)
    if failed:
        click.echo(f"skelkit: {len(failed)} input{'s' * (len(failed) != 1)} failed:", err=True)
        for _, msg in failed:
            click.echo(f"  {msg}", err=True)
        raise SystemExit(1)
