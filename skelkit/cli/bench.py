"""`skelkit bench`: run the benchmark harness (``bench/run.py``) of a source checkout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click

from ..errors import SkelkitError


def find_harness() -> Path:
    """``bench/run.py`` beside the package (source checkout) or in the current folder.

    Raises
    ------
    SkelkitError
        Neither exists, e.g. skelkit was installed from a wheel.
    """
    for root in (Path(__file__).resolve().parents[2], Path.cwd()):
        script = root / "bench" / "run.py"
        if script.is_file():
            return script
    raise SkelkitError(
        "`skelkit bench` needs a source checkout: no bench/run.py beside the package or in the current folder "
        "(a wheel install does not ship the benchmarks); run it from a clone of the repository"
    )


@click.command("bench")
@click.option("--quick", is_flag=True, help="Small subset of inputs (a few minutes).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Folder for the JSON results [bench/results].")
@click.option("--docs", type=click.Path(file_okay=False), default=None,
              help="Folder for the report and plots [docs/ for a full run, OUT for --quick].")
@click.option("--methods", default=None, help="Comma-separated subset, e.g. exact,skimage,menten.")
@click.option("--cases", default=None, help="Comma-separated input names or prefixes, e.g. vessel2d,horse.")
@click.option("--threads", type=int, default=1, show_default=True, help="CPU threads for numpy and torch.")
@click.option("--budget", type=float, default=None, help="Seconds of timing per (method, input) cell.")
@click.option("--repeats", type=int, default=None, help="Timed calls after the warm-up.")
@click.option("--no-report", is_flag=True, help="Write the JSON only.")
def command(quick, out, docs, methods, cases, threads, budget, repeats, no_report):
    """Time and score every skeletonization method side by side.

    Writes bench/results/bench.json and regenerates docs/benchmarks.md with
    its plots (--quick: bench_quick.* under bench/results). Runs
    bench/run.py, so it needs a source checkout of skelkit.
    """
    if threads < 1:
        raise SkelkitError(f"--threads must be >= 1, got {threads}")
    script = find_harness()
    args = [sys.executable, str(script), "--threads", str(threads)]
    for flag, value in (("--out", out), ("--docs", docs), ("--methods", methods), ("--cases", cases),
                        ("--budget", budget), ("--repeats", repeats)):
        if value is not None:
            args += [flag, str(value)]
    args += ["--quick"] * quick + ["--no-report"] * no_report
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    rc = subprocess.call(args, cwd=script.parents[1], env=env)
    if rc != 0:
        raise SkelkitError(f"benchmark harness {script} exited with status {rc}")
