"""`skelkit analyze IN [IN ...] -o OUT_DIR`: skeleton graphs, branch tables and totals in physical units."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import SkelkitError
from .common import parse_spacing, spacing_for
from .method_flags import method_options


def _load(path: Path, threshold):
    from ..io import read_image
    from ..io.formats import is_zarr

    if is_zarr(path):
        import numpy as np

        from ..chunked.inputs import open_source, source_spacing
        from ..validate import as_binary

        arr = np.asarray(open_source(path)[...])
        sp, unit, _ = source_spacing(path)
        return as_binary(arr, threshold, name=str(path)), {"spacing": sp, "unit": unit, "format": "zarr"}
    return read_image(path, threshold)


@click.command("analyze")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Output folder (created if missing).")
@click.option("--skeletons", is_flag=True, help="Inputs are skeletons already (no radius); default: masks.")
@click.option("-m", "--method", default="exact", show_default=True, help="Skeletonization method for masks.")
@click.option("--threshold", type=float, help="Foreground is value > T (needed for grey-level inputs).")
@click.option("--spacing", default=None, metavar="Z,Y,X",
              help="Pixel size per axis (2 or 3 numbers, or one for all); default: the file's (NIfTI, TIFF, "
                   "OME-Zarr), else 1.")
@click.option("--prune", "prune_length", type=click.FloatRange(min=0), default=None,
              help="Remove terminal branches shorter than this (spacing units) first; topology is kept.")
@click.option("--keep-going", is_flag=True, help="Skip inputs that fail, list them at the end and exit 1.")
def command(inputs, out_dir, skeletons, method, threshold, spacing, prune_length, keep_going):
    """Graph, branch table and totals of skeletons (or of masks, skeletonized first with --method).

    Per input NAME: NAME_branches.csv (one row per branch: type, length,
    end-to-end distance, tortuosity, radius), NAME.graphml, NAME.swc (3D) and
    NAME_qc.png; summary.csv has one row per input. Lengths and radii are in
    the units of the spacing.
    """
    from tqdm import tqdm

    from ..io.atomic import created_folder, remove_stale

    sp = parse_spacing(spacing)
    kw = method_options(method, {}) if not skeletons else {}
    for p in inputs:
        if not p.exists() and not keep_going:
            raise SkelkitError(f"file not found: {p}")
    rows, failed = [], []
    with created_folder(out_dir):
        remove_stale(out_dir)
        for path in tqdm(inputs, desc="analyze", unit="file", disable=None):
            try:
                rows.append(analyze_file(path, out_dir, skeletons, method, kw, threshold, sp, prune_length))
            except SkelkitError as exc:
                if not keep_going:
                    raise
                failed.append(str(exc) if str(path) in str(exc) else f"{path}: {exc}")
        if rows:
            from ..analysis.export import csv_text
            from ..io.atomic import atomic_write_text

            atomic_write_text(out_dir / "summary.csv", csv_text(rows))
    click.echo(f"skelkit: analysed {len(rows)} input{'s' * (len(rows) != 1)} into {out_dir}", err=True)
    if failed:
        click.echo(f"skelkit: {len(failed)} input{'s' * (len(failed) != 1)} failed:", err=True)
        for msg in failed:
            click.echo(f"  {msg}", err=True)
        sys.exit(1)


def analyze_file(path: Path, out_dir: Path, skeletons: bool, method: str, kw: dict, threshold, spacing,
                 prune_length) -> dict:
    """Analyse one input and write its files (all or none); returns its summary row."""
    from ..analysis import analyze, prune
    from ..analysis.export import csv_text, swc_text
    from ..analysis.qc import save_qc
    from ..api import skeletonize
    from ..io.atomic import atomic_files
    from ..io.formats import split_suffix

    mask, meta = _load(path, threshold)
    sp = spacing_for(spacing, mask.ndim, meta, path)
    skel = mask if skeletons else skeletonize(mask, method, **kw)
    if prune_length:
        skel = prune(skel, prune_length, sp)
    result = analyze(skel, None if skeletons else mask, sp)
    stem = split_suffix(path.name)[0] if not path.name.endswith("/") else path.name
    with atomic_files() as group:
        group.stage(out_dir / f"{stem}_branches.csv").write_text(csv_text(result.branches, _columns()))
        _write_graphml(result, group.stage(out_dir / f"{stem}.graphml"))
        if mask.ndim == 3:
            group.stage(out_dir / f"{stem}.swc").write_text(swc_text(result))
        save_qc(group.stage(out_dir / f"{stem}_qc.png"), result, None if skeletons else mask, meta.get("format"),
                title=f"{path.name}: {result.summary['n_branches']} branches, total length "
                      f"{result.summary['total_length']:.4g}")
    unit = meta.get("unit") if spacing is None else None
    return {"input": path.name, "ndim": mask.ndim, "spacing": " ".join(f"{v:g}" for v in result.spacing),
            "unit": unit or ("pixel" if sp is None else "given"), **result.summary}


def _columns():
    from ..analysis import BRANCH_COLUMNS

    return BRANCH_COLUMNS


def _write_graphml(result, tmp: Path) -> None:
    from ..analysis.export import write_graphml

    try:
        write_graphml(result, tmp)
    except ImportError:
        raise SkelkitError("the GraphML export needs networkx: pip install 'skelkit[analysis]'") from None
