"""clDice losses: zero at the optimum, gradients, input checks, shapes, 2D/3D, each skeletonizer."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import skelkit
from skelkit.errors import SkelkitError
from skelkit.losses import ClDiceLoss, DiceClDiceLoss
from skelkit.losses.cldice import cldice_per_channel, dice_per_channel
from skelkit.models.weights import weights_path

HAVE_SKELITE_2D = weights_path("skelite2d").is_file()
HAVE_SKELITE_3D = weights_path("skelite3d").is_file()
SKELETONIZERS_2D = ["soft", "exact", "skelite"]


def _needs_weights(skeletonizer, dim=2):
    have = HAVE_SKELITE_2D if dim == 2 else HAVE_SKELITE_3D
    if skeletonizer == "skelite" and not have:
        pytest.skip(f"skelite{dim}d.pt not shipped yet (train it with `skelkit train skelite --dim {dim}`)")


def _vessels_2d(b=2, size=32):
    """A branching, looping binary structure (B, 1, size, size)."""
    t = torch.zeros(b, 1, size, size)
    t[:, :, 8:12, 2:30] = 1
    t[:, :, 2:30, 18:21] = 1
    t[:, :, 20:28, 4:14] = 1
    t[:, :, 22:26, 6:12] = 0  # a loop
    return t


def _tube_3d(size=16):
    t = torch.zeros(1, 1, size, size, size)
    t[..., 6:10, 6:10, 1:15] = 1
    t[..., 1:15, 7:9, 7:9] = 1
    return t


def _probabilities(target, seed=0):
    """A plausible, imperfect prediction in (0, 1)."""
    g = torch.Generator().manual_seed(seed)
    noise = torch.rand(target.shape, generator=g)
    return (0.7 * target + 0.3 * noise).clamp(0.01, 0.99)


@pytest.mark.parametrize("skeletonizer", SKELETONIZERS_2D)
def test_perfect_prediction_gives_zero(skeletonizer):
    _needs_weights(skeletonizer)
    t = _vessels_2d()
    assert float(ClDiceLoss(skeletonizer)(t, t)) == pytest.approx(0.0, abs=1e-6)
    assert float(DiceClDiceLoss(skeletonizer=skeletonizer)(t, t)) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("skeletonizer", SKELETONIZERS_2D)
def test_imperfect_prediction_scores_worse(skeletonizer):
    _needs_weights(skeletonizer)
    t = _vessels_2d()
    wrong = torch.roll(t, shifts=5, dims=-1)
    assert float(ClDiceLoss(skeletonizer)(wrong, t)) > 0.1


@pytest.mark.parametrize("skeletonizer", SKELETONIZERS_2D)
def test_gradients_finite_and_nonzero(skeletonizer):
    _needs_weights(skeletonizer)
    t = _vessels_2d()
    logits = (torch.logit(_probabilities(t))).requires_grad_(True)
    torch.manual_seed(0)  # the skeletonizer's default noise: the same draw for both evaluations
    loss = ClDiceLoss(skeletonizer, sigmoid=True)(logits, t)
    loss.backward()
    g = logits.grad
    assert torch.isfinite(g).all()
    assert (g != 0).any()
    # Descending the gradient lowers the loss.
    with torch.no_grad():
        stepped = logits - 1.0 * g / g.abs().max()
    torch.manual_seed(0)
    assert float(ClDiceLoss(skeletonizer, sigmoid=True)(stepped, t)) < loss.item()


def test_exact_gradient_only_on_skeletons():
    """Straight-through: gradient reaches kept skeleton pixels of the prediction and target skeleton pixels only."""
    t = _vessels_2d(b=1)
    p = _probabilities(t, seed=3).requires_grad_(True)
    ClDiceLoss("exact", hybrid=False, noise=0)(p, t).backward()
    skel_p = skelkit.skeletonize((p.detach() > 0.5).numpy()[0, 0], method="exact")
    skel_t = skelkit.skeletonize(t.numpy()[0, 0].astype(bool), method="exact")
    nonzero = p.grad[0, 0].numpy() != 0
    assert nonzero.any()
    assert not (nonzero & ~(skel_p | skel_t)).any()


def test_soft_gradient_reaches_off_skeleton_pixels():
    t = _vessels_2d(b=1)
    p = _probabilities(t).requires_grad_(True)
    ClDiceLoss("soft")(p, t).backward()
    skel_t = skelkit.skeletonize(t.numpy()[0, 0].astype(bool), method="exact")
    assert (p.grad[0, 0].numpy()[~skel_t] != 0).sum() > skel_t.sum()


@pytest.mark.parametrize("skeletonizer", ["soft", "exact"])
def test_broken_branch_costs_more_than_thinner_branch(skeletonizer):
    """clDice sees topology: a gap across a vessel is worse than losing the same pixels on its side."""
    t = torch.zeros(1, 1, 24, 40)
    t[..., 10:15, 2:38] = 1
    gap, side = t.clone(), t.clone()
    gap[..., 10:15, 19:21] = 0  # 10 pixels, cuts the vessel
    side[..., 10, 10:20] = 0  # 10 pixels, from its border
    dice = DiceClDiceLoss(alpha=0.0)
    assert float(dice(gap, t)) == pytest.approx(float(dice(side, t)), abs=1e-6)
    loss = ClDiceLoss(skeletonizer)
    assert float(loss(gap, t)) > float(loss(side, t)) + 0.01


def test_logits_without_activation_raise():
    t = _vessels_2d()
    with pytest.raises(SkelkitError, match="input looks like logits; pass sigmoid=True or softmax=True"):
        ClDiceLoss()(torch.randn(t.shape) * 3, t)
    with pytest.raises(SkelkitError, match="looks like logits"):
        DiceClDiceLoss()(t + 0.5, t)
    # Rounding overshoot is tolerated.
    ClDiceLoss()(t * (1 + 1e-6), t)


def test_multiclass_softmax_one_hot_and_indices_agree():
    g = torch.Generator().manual_seed(0)
    labels = torch.zeros(2, 1, 24, 24, dtype=torch.long)
    labels[:, :, 4:8, 2:22] = 1
    labels[:, :, 10:22, 12:15] = 2
    onehot = torch.nn.functional.one_hot(labels[:, 0], 3).permute(0, 3, 1, 2).float()
    logits = torch.randn(2, 3, 24, 24, generator=g, requires_grad=True)
    loss = ClDiceLoss(softmax=True, reduction="none")
    a, b = loss(logits, labels), loss(logits, onehot)
    assert a.shape == (2, 3)
    torch.testing.assert_close(a, b)
    a.sum().backward()
    assert torch.isfinite(logits.grad).all() and (logits.grad != 0).any()
    confident = 20.0 * (2 * onehot - 1)  # near-perfect softmax prediction
    assert float(ClDiceLoss(softmax=True)(confident, labels)) < 1e-3
    no_bg = ClDiceLoss(softmax=True, include_background=False, reduction="none")(logits, labels)
    torch.testing.assert_close(no_bg, a[:, 1:])


def test_reductions():
    t = _vessels_2d(b=3)
    p = _probabilities(t)
    per = ClDiceLoss(reduction="none")(p, t)
    assert per.shape == (3, 1)
    torch.testing.assert_close(ClDiceLoss(reduction="mean")(p, t), per.mean())
    torch.testing.assert_close(ClDiceLoss(reduction="sum")(p, t), per.sum())
    assert ClDiceLoss()(p, t).ndim == 0


def test_dice_cldice_weighting():
    t = _vessels_2d()
    p = _probabilities(t)
    dice = dice_per_channel(p, t).mean()
    cl = cldice_per_channel(p, t).mean()
    for alpha in (0.0, 0.3, 1.0):
        torch.testing.assert_close(DiceClDiceLoss(alpha=alpha)(p, t), (1 - alpha) * dice + alpha * cl)
    # Dice part: hand computation.
    inter, tot = float((p[0] * t[0]).sum()), float(p[0].sum() + t[0].sum())
    assert float(dice_per_channel(p[:1], t[:1])) == pytest.approx(1 - (2 * inter + 1) / (tot + 1), rel=1e-5)


@pytest.mark.parametrize("skeletonizer", SKELETONIZERS_2D)
def test_3d(skeletonizer):
    _needs_weights(skeletonizer, dim=3)
    t = _tube_3d()
    assert float(ClDiceLoss(skeletonizer)(t, t)) == pytest.approx(0.0, abs=1e-6)
    p = _probabilities(t).requires_grad_(True)
    loss = DiceClDiceLoss(skeletonizer=skeletonizer)(p, t)
    loss.backward()
    assert 0 < loss.item() < 1
    assert torch.isfinite(p.grad).all() and (p.grad != 0).any()


def test_skelite_sparse_default_matches_dense():
    _needs_weights("skelite")
    t = _vessels_2d()
    grads = []
    for kw in ({}, {"sparse": False}):
        p = _probabilities(t).requires_grad_(True)
        loss = ClDiceLoss("skelite", hybrid=False, noise=0.0, skeletonizer_kwargs=kw)(p, t)
        loss.backward()
        grads.append((loss.detach(), p.grad))
    torch.testing.assert_close(grads[0][0], grads[1][0])
    torch.testing.assert_close(grads[0][1], grads[1][1], atol=1e-5, rtol=1e-4)


def test_cldice_skelite_guard_runs():
    _needs_weights("skelite")
    t = _vessels_2d()
    assert float(ClDiceLoss("skelite", guard=True)(t, t)) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(skeletonizer="nope"), "unknown skeletonizer"),
        (dict(sigmoid=True, softmax=True), "at most one"),
        (dict(reduction="avg"), "unknown reduction"),
        (dict(smooth=0), "smooth"),
        (dict(num_iter=-1), "num_iter"),
        (dict(skeletonizer="exact", skeletonizer_kwargs={"bogus": 1}), "no option 'bogus'"),
        (dict(guard=True), "guard"),
        (dict(skeletonizer_kwargs={"iters": 3}), "as loss arguments"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(SkelkitError, match=match):
        ClDiceLoss(**kwargs)
    with pytest.raises(SkelkitError, match="alpha"):
        DiceClDiceLoss(alpha=1.5)


@pytest.mark.parametrize(
    "input, target, kwargs, match",
    [
        (torch.rand(2, 1, 8), torch.rand(2, 1, 8), {}, "expected \\(B, C, H, W\\)"),
        (torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 9), {}, "target has shape"),
        (torch.rand(2, 3, 8, 8), torch.full((2, 1, 8, 8), 3), dict(softmax=True), "expected 0..2"),
        (torch.rand(2, 3, 8, 8), torch.full((2, 1, 8, 8), 0.5), dict(softmax=True), "non-integer"),
        (torch.rand(2, 1, 8, 8), torch.full((2, 1, 8, 8), 2.0), {}, "target values must be in \\[0, 1\\]"),
        (torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8), dict(softmax=True), "single channel"),
        (torch.full((1, 1, 8, 8), float("nan")), torch.rand(1, 1, 8, 8), {}, "NaN"),
        (torch.ones(1, 1, 8, 8, dtype=torch.long), torch.ones(1, 1, 8, 8), {}, "floating-point"),
    ],
)
def test_bad_inputs(input, target, kwargs, match):
    with pytest.raises(SkelkitError, match=match):
        ClDiceLoss(**kwargs)(input, target)


def test_single_channel_without_background_warns():
    t = _vessels_2d()
    with pytest.warns(UserWarning, match="include_background=False ignored"):
        ClDiceLoss(include_background=False)(t, t)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), density=st.floats(0.2, 0.7), skeletonizer=st.sampled_from(["soft", "exact"]))
def test_binary_loss_symmetric_and_bounded(seed, density, skeletonizer):
    """For binary masks clDice swaps Tprec and Tsens when prediction and target swap: the loss is symmetric."""
    rng = np.random.default_rng(seed)
    a = torch.from_numpy(rng.random((2, 1, 16, 16)) < density).float()
    b = torch.from_numpy(rng.random((2, 1, 16, 16)) < density).float()
    loss = ClDiceLoss(skeletonizer, reduction="none")
    ab, ba = loss(a, b), loss(b, a)
    torch.testing.assert_close(ab, ba)
    assert ((ab >= 0) & (ab <= 1)).all()


@pytest.mark.parametrize("method", ["exact", "skelite"])
def test_hard_skeleton_gives_no_gradient_to_background(method):
    """Tprec's prediction skeleton: pixels the binarised prediction calls background get exactly zero gradient."""
    if method == "skelite":
        _needs_weights("skelite")
    torch.manual_seed(0)
    t = _vessels_2d()
    p = (0.7 * t + 0.3 * torch.rand_like(t)).clamp(0, 1).requires_grad_(True)
    s = skelkit.skeletonize(p, method=method)
    (s * torch.rand_like(s)).sum().backward()
    background = p.detach() <= 0.5
    assert background.any() and torch.all(p.grad[background] == 0)
    assert p.grad[s.detach() > 0.5].abs().sum() > 0


def test_hybrid_and_noise_options():
    _needs_weights("skelite")
    torch.manual_seed(1)
    t = _vessels_2d()
    logits = (6 * t - 3 + torch.randn_like(t)).requires_grad_(True)
    hard = ClDiceLoss("skelite", sigmoid=True, hybrid=False, noise=0.0)(logits, t)
    hyb = ClDiceLoss("skelite", sigmoid=True, hybrid=True, noise=0.0)
    value = hyb(logits, t)
    assert float(value) == pytest.approx(float(hard))  # the hard skeleton's value...
    value.backward()
    p = torch.sigmoid(logits.detach())
    assert logits.grad[p <= 0.5].abs().sum() > 0  # ...with the soft skeleton's gradient, which reaches p < 0.5
    noisy = ClDiceLoss("skelite", sigmoid=True, hybrid=False, noise=0.33)
    a, b = float(noisy(logits, t)), float(noisy(logits, t))
    assert a != b  # sampled each call in training mode
    noisy.eval()
    assert float(noisy(logits, t)) == pytest.approx(float(hard))
    with pytest.raises(SkelkitError, match="hard skeletonizers"):
        ClDiceLoss("soft", hybrid=True)


@pytest.mark.parametrize("name", ["soft", "exact", "skelite"])
def test_loss_defaults_come_from_the_method_table(name):
    best = skelkit.get_method(name).loss_defaults
    loss = ClDiceLoss(skeletonizer=name)
    assert loss.guard == bool(best.get("guard", False))
    assert loss.hybrid == bool(best.get("hybrid", False))
    assert loss.noise == best.get("noise", 0.0)
    if name != "soft":  # explicit arguments win over the table
        off = ClDiceLoss(skeletonizer=name, hybrid=False, noise=0.0)
        assert (off.hybrid, off.noise) == (False, 0.0)


def test_loss_defaults_keys_are_checked():
    with pytest.raises(SkelkitError, match="loss_defaults"):
        skelkit.Method("toy", "toy", numpy=lambda m: m, not_chunkable="toy", loss_defaults={"alpha": 1})
