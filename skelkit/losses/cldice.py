"""clDice losses with a pluggable skeletonizer.

clDice compares the skeleton of each mask with the *other* mask: topology
precision is the fraction of the predicted skeleton inside the ground truth,
topology sensitivity the fraction of the ground-truth skeleton inside the
prediction; the loss is one minus their harmonic mean. A missing or broken
branch lowers sensitivity; a spurious one lowers precision.

The skeletons come from :func:`skelkit.skeletonize` (``method=`` the
``skeletonizer`` argument; any method of the method table whose tensor output
carries a gradient), so the same loss runs with the differentiable soft
skeleton of the paper, the learned Skelite thinner or exact thinning with a
straight-through gradient.

References
----------
.. [1] Shit, S., Paetzold, J. C., et al. "clDice - a Novel Topology-Preserving
   Loss Function for Tubular Structure Segmentation", CVPR 2021.
.. [2] Reyes Vargas, M. J., Menten, M. J., Paetzold, J. C., Navab, N., Azampour,
   M. F. "Skelite: Compact Neural Networks for Efficient Iterative
   Skeletonization", IPMI 2025.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

from .._compat import renamed
from .._methods import METHODS, get_method
from ..api import skeletonize
from ..errors import SkelkitError
from .reduction import check_reduction, reduce_loss
from .segmentation import SoftDiceLoss

def skeletonizers() -> list[str]:
    """Methods usable inside the losses: those of the method table whose tensor output has a gradient."""
    return [name for name, m in METHODS.items() if m.gradient != "none"]
# Probabilities may overshoot [0, 1] by rounding (e.g. after mixed precision);
# anything beyond this is taken for logits.
_PROB_TOL = 1e-3


class ClDiceLoss(nn.Module):
    r"""clDice loss, MONAI convention ``forward(input, target)``.

    For each batch item and channel, with prediction :math:`V_P`, target
    :math:`V_L` and their skeletons :math:`S_P`, :math:`S_L`:

    .. math::

        T_{prec} = \frac{\sum S_P V_L + s}{\sum S_P + s}, \quad
        T_{sens} = \frac{\sum S_L V_P + s}{\sum S_L + s}, \quad
        L = 1 - \frac{2\, T_{prec} T_{sens}}{T_{prec} + T_{sens}}

    where :math:`s` is ``smooth``. A perfect binary prediction gives
    :math:`T_{prec} = T_{sens} = 1` and a loss of 0.

    Parameters
    ----------
    skeletonizer : str
        How skeletons are computed (via :func:`skelkit.skeletonize`; any of
        :func:`skeletonizers`), among them:

        - ``"soft"``: soft skeleton of [1]_ (iterated min/max pooling);
          differentiable everywhere, soft-valued.
        - ``"skelite"``: learned iterative thinning [2]_ with the shipped
          weights; hard output, gradient through the network (straight-through
          at the final 0.5 step).
        - ``"exact"``: topology-preserving thinning of ``prediction > 0.5``;
          straight-through gradient to the kept skeleton pixels only.

        Target skeletons are computed the same way without gradient; for
        skeletonizers with binary output (all but ``"soft"``) the target is
        binarised at 0.5 first and its skeleton is hard {0, 1}.
    num_iter : int, optional
        The skeletonizer's iteration option (soft: erosion levels, covering
        structures up to about ``2 * num_iter`` pixels wide); default the
        method's own (soft 10, Skelite and exact: until done). Deprecated
        name: ``iters``.
    smooth : float
        Additive smoothing ``s`` (> 0) in both ratios; keeps empty channels finite.
    sigmoid, softmax : bool
        Apply a sigmoid (multi-label or single channel) or a softmax over
        channels to ``input`` first, i.e. ``input`` holds logits. With both
        False, ``input`` must already hold probabilities in [0, 1]; values
        outside raise :class:`SkelkitError` ("input looks like logits")
        instead of silently producing a meaningless loss.
    include_background : bool
        If False, channel 0 is dropped (after the activation) from input and
        target. Ignored, with a warning, for single-channel input.
    reduction : {"mean", "sum", "none"}
        Over batch items and channels; ``"none"`` returns shape (B, C).
    guard : bool, optional
        Use the skeletonizer's topology guard (Skelite: deletions restricted
        to simple, non-endpoint pixels); only for skeletonizers with a
        ``guard`` option.
    hybrid : bool, optional
        Hard skeleton in the forward pass, the soft skeleton's gradient in
        the backward pass (for hard skeletonizers): the loss value is the
        hard skeleton's clDice, while the gradient reaches every ridge of the
        probabilities on both sides of 0.5, sub-threshold specks included
        (a hard skeleton's straight-through gradient reaches only pixels
        already above 0.5).
    noise : float, optional
        Menten et al. (ICCV 2023): before the hard skeleton of the
        prediction, sample ``sigmoid((logit(p) + noise * L) / noise_tau)``
        with ``L`` standard logistic noise (their ``beta``, 0.33), so pixels
        near 0.5 enter the skeleton in some steps and not in others. 0 turns
        it off; applied in training mode only (``loss.eval()`` turns it off).

        ``guard``, ``hybrid`` and ``noise`` left at None take the
        skeletonizer's ``loss_defaults`` from the method table: the variant
        that did best in the clDice experiment (docs/cldice.md); otherwise
        False, False, 0.
    noise_tau : float
        Temperature of that sampling (their ``tau``, 1).
    skeletonizer_kwargs : dict, optional
        Further options of the skeletonizer, checked against the method
        table, e.g. ``{"weights": path}`` for Skelite.

    Notes
    -----
    Shapes of ``forward(input, target)``:

    - ``input``: (B, C, H, W) or (B, C, D, H, W), float.
    - ``target``: the same shape (binary / one-hot, values in [0, 1]), or
      (B, 1, ...) class indices, one-hot encoded when C > 1.
    - output: scalar, or (B, C) with ``reduction="none"`` (C counts the kept channels).

    Examples
    --------
    >>> import torch
    >>> from skelkit.losses import ClDiceLoss
    >>> target = torch.zeros(1, 1, 16, 16); target[..., 6:10, 2:14] = 1
    >>> float(ClDiceLoss()(target, target)) < 1e-6
    True
    """

    @renamed(iters="num_iter")
    def __init__(
        self,
        skeletonizer: str = "soft",
        num_iter: int | None = None,
        smooth: float = 1.0,
        sigmoid: bool = False,
        softmax: bool = False,
        include_background: bool = True,
        reduction: str = "mean",
        guard: bool | None = None,
        skeletonizer_kwargs: dict | None = None,
        hybrid: bool | None = None,
        noise: float | None = None,
        noise_tau: float = 1.0,
    ):
        super().__init__()
        if skeletonizer not in skeletonizers():
            raise SkelkitError(f"unknown skeletonizer {skeletonizer!r}; choose one of {', '.join(skeletonizers())}")
        method = get_method(skeletonizer)
        best = method.loss_defaults
        guard = bool(best.get("guard", False) if guard is None else guard)
        hybrid = bool(best.get("hybrid", False) if hybrid is None else hybrid)
        noise = best.get("noise", 0.0) if noise is None else noise
        if not smooth > 0:
            raise SkelkitError(f"smooth must be > 0 (it keeps empty channels finite), got {smooth!r}")
        if sigmoid and softmax:
            raise SkelkitError("pass at most one of sigmoid=True and softmax=True")
        check_reduction(reduction)
        if guard and "guard" not in method.option_names:
            with_guard = [n for n in skeletonizers() if "guard" in get_method(n).option_names]
            raise SkelkitError(f"guard=True applies to skeletonizer {' or '.join(map(repr, with_guard))}, not {skeletonizer!r}")
        kwargs = dict(skeletonizer_kwargs or {})
        iter_names = {method.iter_option, *method.option(method.iter_option).aliases} if method.iter_option else set()
        reserved = ({"guard", "method"} | iter_names) & set(kwargs)
        if reserved:
            raise SkelkitError(f"pass {', '.join(sorted(map(str, reserved)))} as loss arguments, not in skeletonizer_kwargs")
        if num_iter is not None:
            if method.iter_option is None:
                raise SkelkitError(f"skeletonizer {skeletonizer!r} has no iteration option; drop num_iter")
            kwargs[method.iter_option] = num_iter
        if guard:
            kwargs["guard"] = True
        method.bind(kwargs, "torch")  # unknown or bad options fail here, not in the first training step
        if (hybrid or noise) and method.soft_output:
            raise SkelkitError(f"hybrid and noise are for hard skeletonizers, not {skeletonizer!r}")
        if not (noise >= 0 and noise_tau > 0):
            raise SkelkitError(f"noise must be >= 0 and noise_tau > 0, got {noise!r}, {noise_tau!r}")
        self.hybrid, self.noise, self.noise_tau = bool(hybrid), float(noise), float(noise_tau)
        self.skeletonizer = skeletonizer
        self.num_iter = num_iter
        self.smooth = float(smooth)
        self.sigmoid = sigmoid
        self.softmax = softmax
        self.include_background = include_background
        self.reduction = reduction
        self.guard = guard
        self.skeletonizer_kwargs = kwargs

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        prob, onehot = prepare(input, target, self.sigmoid, self.softmax, self.include_background)
        return reduce_loss(self._per_channel(prob, onehot), self.reduction)

    def _per_channel(self, prob, onehot):
        return cldice_per_channel(prob, onehot, self.skeletonizer, smooth=self.smooth, hybrid=self.hybrid,
                                  noise=self.noise if self.training else 0.0, noise_tau=self.noise_tau,
                                  **self.skeletonizer_kwargs)

    def extra_repr(self) -> str:
        return (
            f"skeletonizer={self.skeletonizer!r}, num_iter={self.num_iter}, smooth={self.smooth}, "
            f"sigmoid={self.sigmoid}, softmax={self.softmax}, reduction={self.reduction!r}"
        )


class DiceClDiceLoss(ClDiceLoss):
    r"""Soft Dice plus clDice: :math:`L = (1 - \alpha) L_{Dice} + \alpha L_{clDice}`.

    :math:`L_{Dice} = 1 - (2 \sum V_P V_L + s) / (\sum V_P + \sum V_L + s)`
    per batch item and channel, combined with :class:`ClDiceLoss` before the
    reduction. The paper [1]_ pairs clDice with a volumetric loss this way since
    clDice alone ignores the vessel width.

    Parameters
    ----------
    alpha : float in [0, 1]
        Weight of clDice (0: Dice only, 1: clDice only).
    **kwargs
        As :class:`ClDiceLoss` (``skeletonizer``, ``num_iter``, ``smooth``,
        ``sigmoid``, ``softmax``, ``include_background``, ``reduction``, ``guard``).
    """

    def __init__(self, alpha: float = 0.5, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= alpha <= 1.0:
            raise SkelkitError(f"alpha must be in [0, 1], got {alpha!r}")
        self.alpha = float(alpha)

    def _per_channel(self, prob, onehot):
        dice = dice_per_channel(prob, onehot, self.smooth)
        if self.alpha == 0.0:  # skip the skeletons entirely
            return dice
        return (1.0 - self.alpha) * dice + self.alpha * super()._per_channel(prob, onehot)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, " + super().extra_repr()


def cldice_per_channel(prob, target, skeletonizer="soft", *, smooth=1.0, hybrid=False, noise=0.0, noise_tau=1.0,
                       **options):
    """clDice loss per batch item and channel.

    Parameters
    ----------
    prob : torch.Tensor, shape (B, C, H, W) or (B, C, D, H, W), float in [0, 1]
    target : torch.Tensor, same shape, float in [0, 1]
    skeletonizer, smooth, hybrid, noise, noise_tau
        As :class:`ClDiceLoss`.
    **options
        The skeletonizer's options, passed to :func:`skelkit.skeletonize`.

    Returns
    -------
    loss : torch.Tensor, shape (B, C)
    """
    soft = get_method(skeletonizer).soft_output
    sampled = logistic_sample(prob, noise, noise_tau) if noise > 0 else prob
    skel_pred = skeletonize_channels(sampled, skeletonizer, **options)
    if hybrid:  # forward: the hard skeleton; backward: the soft skeleton's gradient
        from ..core.soft import soft_skeleton

        s = soft_skeleton(prob)
        skel_pred = skel_pred.detach() + (s - s.detach())
    with torch.no_grad():
        tgt = target if soft else (target > 0.5).to(prob.dtype)
        skel_true = skeletonize_channels(tgt, skeletonizer, **options)
        if not soft:
            skel_true = (skel_true > 0.5).to(prob.dtype)
    dims = tuple(range(2, prob.ndim))
    tprec = ((skel_pred * target).sum(dims) + smooth) / (skel_pred.sum(dims) + smooth)
    tsens = ((skel_true * prob).sum(dims) + smooth) / (skel_true.sum(dims) + smooth)
    return 1.0 - 2.0 * tprec * tsens / (tprec + tsens)


def logistic_sample(prob, beta: float, tau: float = 1.0):
    """``sigmoid((logit(prob) + beta * L) / tau)`` with ``L`` standard logistic noise (Menten et al., ICCV 2023)."""
    p = prob.clamp(1e-6, 1 - 1e-6)
    u = torch.rand_like(p).clamp(1e-6, 1 - 1e-6)
    return torch.sigmoid((torch.log(p) - torch.log1p(-p) + beta * (torch.log(u) - torch.log1p(-u))) / tau)


def dice_per_channel(prob, target, smooth=1.0):
    """Soft Dice loss per batch item and channel, shape (B, C); inputs as :func:`cldice_per_channel`."""
    b, c = prob.shape[:2]
    flat = (b * c, 1) + tuple(prob.shape[2:])
    dice = SoftDiceLoss(smooth, reduction="none")  # per sample; channels folded into the batch
    return dice(prob.reshape(flat), target.reshape(flat)).reshape(b, c)


def skeletonize_channels(x, skeletonizer, **options):
    """Skeleton of every channel of ``x`` (B, C, ...) with :func:`skelkit.skeletonize`.

    Channels are folded into the batch, since the methods take (B, 1, ...).
    """
    b, c = x.shape[:2]
    flat = x.reshape(b * c, 1, *x.shape[2:])
    return skeletonize(flat, method=skeletonizer, **options).reshape(x.shape)


def prepare(input, target, sigmoid=False, softmax=False, include_background=True):
    """Check ``input``/``target``, apply the activation, one-hot the target.

    Returns
    -------
    prob, target : torch.Tensor, both (B, C', ...) in ``input``'s dtype, C' = C
        or C - 1 without background.

    Raises
    ------
    SkelkitError
        Wrong shapes or dtypes, non-finite values, logits passed as
        probabilities, target values that are neither probabilities nor class
        indices.
    """
    if not (torch.is_tensor(input) and torch.is_tensor(target)):
        raise SkelkitError("input and target must be torch tensors")
    if input.ndim not in (4, 5):
        raise SkelkitError(f"input has shape {tuple(input.shape)}; expected (B, C, H, W) or (B, C, D, H, W)")
    if not input.is_floating_point():
        raise SkelkitError(f"input has dtype {input.dtype}; expected a floating-point tensor")
    if not torch.isfinite(input).all():
        raise SkelkitError("input contains NaN or infinite values")
    n_ch = input.shape[1]
    if softmax and n_ch == 1:
        raise SkelkitError("softmax=True over a single channel is constant 1; use sigmoid=True for binary segmentation")
    if sigmoid:
        prob = torch.sigmoid(input)
    elif softmax:
        prob = torch.softmax(input, dim=1)
    else:
        lo, hi = torch.aminmax(input.detach())
        if lo < -_PROB_TOL or hi > 1 + _PROB_TOL:
            raise SkelkitError(
                "input looks like logits; pass sigmoid=True or softmax=True "
                f"(values span [{float(lo):.3g}, {float(hi):.3g}], probabilities must be in [0, 1])"
            )
        prob = input
    onehot = _target_like(target, input).to(device=input.device)
    if not include_background:
        if n_ch == 1:
            warnings.warn("single-channel input: include_background=False ignored", stacklevel=3)
        else:
            prob, onehot = prob[:, 1:], onehot[:, 1:]
    return prob, onehot


def _target_like(target, input):
    """Target as a float tensor shaped like ``input`` (one-hot from class indices when C > 1)."""
    n_ch = input.shape[1]
    shape, tshape = tuple(input.shape), tuple(target.shape)
    expected = f"expected {shape} or {(shape[0], 1) + shape[2:]} (class indices)"
    if target.dtype == torch.bool:
        target = target.to(input.dtype)
    if target.is_complex():
        raise SkelkitError("target is complex-valued; expected real values")
    if tshape == shape:
        t = target.to(input.dtype)
        if not torch.isfinite(t).all() or t.min() < 0 or t.max() > 1:
            raise SkelkitError("target values must be in [0, 1] (binary or one-hot); pass class indices as (B, 1, ...)")
        return t
    if tshape != (shape[0], 1) + shape[2:]:
        raise SkelkitError(f"target has shape {tshape}; {expected}")
    if target.is_floating_point() and (not torch.isfinite(target).all() or (target != target.round()).any()):
        raise SkelkitError("class-index target holds non-integer values")
    idx = target.long()
    if idx.min() < 0 or idx.max() >= n_ch:
        raise SkelkitError(
            f"class-index target has values {int(idx.min())}..{int(idx.max())}; expected 0..{n_ch - 1} for {n_ch} channels"
        )
    onehot = F.one_hot(idx[:, 0], n_ch)  # (B, ..., C)
    return onehot.movedim(-1, 1).to(input.dtype)
