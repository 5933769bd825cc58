"""`skelkit eval PRED GT`: compare predicted skeletons with reference skeletons."""

from __future__ import annotations

import json
import math
from pathlib import Path

import click

from ..errors import SkelkitError
from .common import parse_spacing, spacing_for

# (metric key, table header, format); betti_error_2 only appears for 3D pairs
COLUMNS = [
    ("f1", "F1", ".3f"), ("precision", "prec", ".3f"), ("recall", "rec", ".3f"), ("f1_exact", "F1@0", ".3f"),
    ("hausdorff", "HD", ".2f"), ("hd95", "HD95", ".2f"), ("betti_error_0", "dB0", ".2f"),
    ("betti_error_1", "dB1", ".2f"), ("betti_error_2", "dB2", ".2f"), ("full_blocks", "blocks", ".1f"),
    ("removable", "remov", ".1f"),
]


def pair_files(pred: Path, gt: Path) -> tuple[list[tuple[str, Path, Path]], list[str], list[str]]:
    """Pairs ``(name, pred_file, gt_file)`` and the unmatched names on each side.

    Two files make one pair. Two folders are matched by file name without
    its image extension (``a.png`` matches ``a.tif``); other files are ignored.
    """
    from ..io.formats import format_of, split_suffix

    if pred.is_file() and gt.is_file():
        return [(pred.name, pred, gt)], [], []
    for p in (pred, gt):
        if not p.exists():
            raise SkelkitError(f"not found: {p}")
    if not (pred.is_dir() and gt.is_dir()):
        raise SkelkitError(f"give two files or two folders, got {pred} and {gt}")

    def images(folder):
        files = {}
        for f in sorted(folder.iterdir()):
            fmt = format_of(f)
            if f.is_file() and fmt is not None and fmt.read is not None:
                files.setdefault(split_suffix(f.name)[0], f)
        return files

    a, b = images(pred), images(gt)
    common = sorted(set(a) & set(b))
    if not common:
        raise SkelkitError(f"no image names in common between {pred} ({len(a)} images) and {gt} ({len(b)} images)")
    return [(n, a[n], b[n]) for n in common], sorted(set(a) - set(b)), sorted(set(b) - set(a))


def mean_metrics(rows: list[dict]) -> dict:
    """Mean of every metric over the rows that have it (an ``inf`` distance makes its mean ``inf``)."""
    keys = [k for k in rows[0] if isinstance(rows[0][k], (int, float))]
    keys += [k for r in rows for k in r if k not in keys and isinstance(r[k], (int, float))]
    return {k: sum(r[k] for r in rows if k in r) / sum(1 for r in rows if k in r) for k in keys}


def _json_safe(obj):
    """Infinite distances (one set empty) become JSON ``null``."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_json_safe(v) for v in obj]
    return obj


def format_table(rows: list[dict], mean: dict) -> str:
    cols = [c for c in COLUMNS if any(c[0] in r for r in rows)]
    width = max([len("name"), len("mean")] + [len(r["name"]) for r in rows])
    head = f"{'name':<{width}}  " + "  ".join(f"{h:>7}" for _, h, _ in cols)
    lines = [head, "-" * len(head)]
    for r in rows + ([dict(mean, name="mean")] if len(rows) > 1 else []):
        cells = [format(r[k], f) if k in r else "" for k, _, f in cols]
        lines.append(f"{r['name']:<{width}}  " + "  ".join(f"{c:>7}" for c in cells))
    return "\n".join(lines)


@click.command("eval")
@click.argument("pred", type=click.Path(path_type=Path))
@click.argument("gt", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table (inf distances are null).")
@click.option("--spacing", default=None, metavar="Z,Y,X",
              help="Pixel size per axis for distances: Y,X or Z,Y,X (2D uses the last two) or one number. "
                   "Default: the reference file's (NIfTI, TIFF), else 1.")
@click.option("--tolerance", default=1.0, show_default=True, type=click.FloatRange(min=0),
              help="Matching radius in pixels for precision/recall/F1.")
@click.option("--threshold", type=float, help="Binarise grey-level files with value > T.")
def command(pred, gt, as_json, spacing, tolerance, threshold):
    """Score predicted skeletons PRED against references GT (two files or two folders).

    Reports tolerant and exact F1, Hausdorff/HD95, Betti-number errors and the
    prediction's thinness (leftover 2x2 blocks, still-removable pixels).
    """
    from ..io import read_image
    from ..metrics import evaluate_pair

    spacing = parse_spacing(spacing)
    pairs, only_pred, only_gt = pair_files(pred, gt)
    rows = []
    for name, pf, gf in pairs:
        p, _ = read_image(pf, threshold)
        g, gmeta = read_image(gf, threshold)
        if p.shape != g.shape:
            raise SkelkitError(f"{pf} has shape {p.shape} but {gf} has shape {g.shape}")
        sp = spacing_for(spacing, p.ndim, gmeta, gf)
        rows.append({"name": name, **evaluate_pair(p, g, spacing=sp, tolerance=tolerance)})
    mean = mean_metrics([{k: v for k, v in r.items() if k != "name"} for r in rows])
    if as_json:
        out = {"tolerance": tolerance, "spacing": list(spacing) if spacing else None, "files": rows, "mean": mean,
               "unmatched": {"pred": only_pred, "gt": only_gt}}
        click.echo(json.dumps(_json_safe(out), indent=2))
    else:
        click.echo(format_table(rows, mean))
    for side, names in (("PRED", only_pred), ("GT", only_gt)):
        if names:
            click.echo(f"skelkit: {len(names)} name(s) only in {side}: {', '.join(names)}", err=True)
