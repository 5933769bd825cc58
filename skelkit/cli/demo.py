"""`skelkit demo -o OUT_DIR`: every available method on the bundled examples, with pictures and metrics."""

from __future__ import annotations

import inspect
import json
import os
import platform
import time
from pathlib import Path

import click
import numpy as np

from .._methods import METHODS
from ..errors import SkelkitError


def _probe_inputs() -> dict[int, np.ndarray]:
    a2 = np.zeros((24, 24), bool)
    a2[4:20, 6:18] = True
    a3 = np.zeros((12, 12, 12), bool)
    a3[3:9, 2:10, 4:8] = True
    return {2: a2, 3: a3}


def probe_methods(methods) -> tuple[dict, dict]:
    """Try each method on tiny 2D and 3D inputs (also warms caches and loads weights).

    Returns
    -------
    usable : dict
        method -> {ndim: None if it runs, else a short reason}.
    skipped : dict
        method -> reason, for methods that run on neither 2D nor 3D.
    """
    from .._methods import get_method
    from ..api import skeletonize

    usable, skipped = {}, {}
    for name in methods:
        try:
            m = get_method(name)
        except (SkelkitError, ImportError) as exc:
            skipped[name] = f"not available: {exc}"
            continue
        status = {}
        for nd, arr in _probe_inputs().items():
            if nd not in m.dims:
                status[nd] = f"{'/'.join(map(str, m.dims))}D only"
                continue
            try:
                skeletonize(arr, method=name)
                status[nd] = None
            except (SkelkitError, ImportError, RuntimeError) as exc:
                status[nd] = str(exc)
        if all(v is not None for v in status.values()):
            skipped[name] = next(v for v in status.values() if not v.endswith("D only"))
        else:
            usable[name] = status
    return usable, skipped


def _fmt_betti(b) -> str:
    return "(" + ", ".join(str(int(x)) for x in b) + ")"


def metrics_markdown(results: list[dict], skipped: dict, notes: dict, env: dict) -> str:
    lines = [
        "# skelkit demo: metrics",
        "",
        "Betti error = |Betti(skeleton) - Betti(input)| per dimension (2D: components, holes;"
        " 3D: components, tunnels, cavities); 0 means the topology was kept.",
        "Thinness: `blocks` = all-foreground 2x2 (2x2x2) windows, `removable` = pixels that are still"
        " simple non-end points; both 0 for a one-pixel-thin skeleton.",
        f"Time: wall seconds of one `skelkit.skeletonize` call on {env['machine']}"
        f" (torch threads: {env['torch_threads']}); caches were warmed on tiny inputs first.",
        "",
        "| input | shape | method | skeleton px | Betti input | Betti skeleton | Betti error | blocks | removable"
        " | time (s) |",
        "|---|---|---|---:|---|---|---|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['input']} | {'x'.join(map(str, r['shape']))} | {r['method']} | {r['pixels']} | "
            f"{_fmt_betti(r['betti_input'])} | {_fmt_betti(r['betti_skeleton'])} | {_fmt_betti(r['betti_error'])} | "
            f"{r['full_blocks']} | {r['removable']} | {r['time_s']:.3f} |"
        )
    if notes:
        lines += ["", "Not run:", ""] + [f"- {i} / {m}: {why}" for (i, m), why in notes.items()]
    if skipped:
        lines += ["", "Skipped methods:", ""] + [f"- {m}: {why}" for m, why in skipped.items()]
    return "\n".join(lines) + "\n"


def make_command() -> click.Command:
    """The ``demo`` command; ``--method`` lists the method table as it is now."""
    return click.Command("demo", callback=run, help=inspect.cleandoc(run.__doc__), params=[
        click.Option(["-o", "--out", "out_dir"], default="out/demo", show_default=True,
                     type=click.Path(path_type=Path, file_okay=False), help="Output folder (created if missing)."),
        click.Option(["-m", "--method", "methods"], multiple=True, type=click.Choice(list(METHODS)),
                     help="Run only these methods (repeatable; default: every method of the table)."),
    ])


def run(out_dir, methods):
    """Skeletonize the bundled examples with every available method.

    Writes OUT_DIR/inputs, skeletons/ and overlays/ (per input and method),
    gallery.png (rows = inputs, columns = methods), metrics.md and metrics.json
    (Betti errors against the input, thinness, time). Learned methods run only
    if their shipped weights load; the others are listed as skipped.
    """
    import torch

    from ..api import skeletonize
    from ..data.examples import EXAMPLES
    from ..io import atomic_write_text, write_image
    from ..metrics import betti_errors, betti_numbers, thinness
    from ..viz import overlay_rgb, save_gallery, save_png

    t_start = time.perf_counter()
    for sub in ("inputs", "skeletons", "overlays"):
        try:
            (out_dir / sub).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SkelkitError(f"cannot create output folder {out_dir / sub}: {exc.strerror or exc}") from None
    usable, skipped = probe_methods(methods or list(METHODS))
    for name, why in skipped.items():
        click.echo(f"skipped {name}: {why}")
    if not usable:
        raise SkelkitError("no skeletonization method is available")

    results, cells, notes = [], {}, {}
    env = {"machine": f"{platform.machine()}, {os.cpu_count()} CPU cores", "torch_threads": torch.get_num_threads()}
    for inp, build in EXAMPLES.items():
        mask = build()
        ext = ".png" if mask.ndim == 2 else ".tif"
        write_image(out_dir / "inputs" / f"{inp}{ext}", mask)
        b_in = betti_numbers(mask)
        for meth, status in usable.items():
            if status[mask.ndim] is not None:
                notes[(inp, meth)] = status[mask.ndim]
                continue
            t0 = time.perf_counter()
            skel = skeletonize(mask, method=meth)
            dt = time.perf_counter() - t0
            write_image(out_dir / "skeletons" / f"{inp}_{meth}{ext}", skel)
            rgb = overlay_rgb(mask, skel)
            save_png(out_dir / "overlays" / f"{inp}_{meth}.png", rgb)
            cells[(inp, meth)] = overlay_rgb(mask, skel, target=256, max_side=256)
            results.append({
                "input": inp, "shape": list(mask.shape), "method": meth, "pixels": int(skel.sum()),
                "betti_input": list(b_in), "betti_skeleton": list(betti_numbers(skel)),
                "betti_error": list(betti_errors(skel, mask)), **thinness(skel), "time_s": round(dt, 4),
            })
            click.echo(f"{inp:>8} {meth:<12} {dt:7.3f} s  Betti error {_fmt_betti(results[-1]['betti_error'])}")
    save_gallery(out_dir / "gallery.png", list(EXAMPLES), list(usable), cells,
                 notes={k: v if len(v) < 60 else v[:57] + "..." for k, v in notes.items()})
    atomic_write_text(out_dir / "metrics.md", metrics_markdown(results, skipped, notes, env))
    atomic_write_text(out_dir / "metrics.json", json.dumps({
        "methods": list(usable), "skipped": skipped, "environment": env, "results": results,
        "not_run": [{"input": i, "method": m, "reason": r} for (i, m), r in notes.items()],
    }, indent=2) + "\n")
    click.echo(f"wrote {len(results)} skeletons, overlays, gallery.png and metrics.md to {out_dir} "
               f"in {time.perf_counter() - t_start:.1f} s")
