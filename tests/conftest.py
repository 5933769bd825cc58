"""Shared fixtures: small shapes with known topology and an in-process CLI runner."""

import numpy as np
import pytest


def disk_ring(size=40, outer=15, inner=8):
    """Thick ring (annulus) in a size x size image: Betti (1, 1)."""
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    r = np.hypot(yy, xx)
    return (r <= outer) & (r >= inner)


@pytest.fixture
def ring2d():
    return disk_ring()


@pytest.fixture
def run_cli(capsys):
    """Run ``skelkit ARGS`` through the console entry point; returns (exit code, stdout, stderr)."""
    from skelkit.cli.main import main

    def run(*args):
        code = 0
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        return code, out, err

    return run
