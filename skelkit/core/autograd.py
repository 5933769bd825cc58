"""Straight-through steps: a hard forward value with a chosen gradient."""

from __future__ import annotations


def straight_through(x, hard):
    """Return ``hard`` in the forward pass with the gradient of ``x`` where ``hard`` is 1.

    Gradient flows to the kept pixels: d out / d x = hard (elementwise).
    """
    return hard * x + (hard - hard * x).detach()


def straight_through_step(x):
    """``x > 0.5`` in the forward pass, identity gradient (everywhere, background included)."""
    return x + ((x > 0.5).to(x.dtype) - x).detach()


def binarise_kept(x):
    """``x > 0.5`` in the forward pass, gradient only where it is 1: ``straight_through(x, x > 0.5)``."""
    return straight_through(x, (x > 0.5).to(x.dtype))
