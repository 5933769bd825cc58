"""Straight-through steps: a hard forward value with a chosen gradient."""

from __future__ import annotations

_KEPT = None


def _kept_gradient():
    """The autograd function of :func:`straight_through`, made on first use (torch is imported lazily)."""
    global _KEPT
    if _KEPT is None:
        import torch

        class KeptGradient(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x, hard):
                ctx.save_for_backward(hard)
                return hard.view_as(hard)  # no copy: the value is ``hard`` itself

            @staticmethod
            def backward(ctx, grad):
                (hard,) = ctx.saved_tensors
                return grad * hard, None

        _KEPT = KeptGradient
    return _KEPT


def straight_through(x, hard):
    """Return ``hard`` in the forward pass with the gradient of ``x`` where ``hard`` is 1.

    Gradient flows to the kept pixels: d out / d x = hard (elementwise). The
    forward value is ``hard`` exactly, and costs no arithmetic on the tensors
    (the old form ``hard * x + (hard - hard * x).detach()`` took four passes
    over them and could round 1 to 1 - 2**-24).
    """
    if not x.requires_grad:
        return hard
    return _kept_gradient().apply(x, hard.to(x.dtype))


def straight_through_step(x):
    """``x > 0.5`` in the forward pass, identity gradient (everywhere, background included)."""
    return x + ((x > 0.5).to(x.dtype) - x).detach()


def binarise_kept(x):
    """``x > 0.5`` in the forward pass, gradient only where it is 1: ``straight_through(x, x > 0.5)``."""
    return straight_through(x, (x > 0.5).to(x.dtype))
