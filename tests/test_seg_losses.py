import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from skelkit.errors import SkelkitError
from skelkit.losses import (
    BinaryCrossEntropyLoss,
    BinaryFocalLoss,
    SoftBlockLoss,
    SoftDiceLoss,
    SoftJaccardLoss,
    WeightedBCELoss,
    WeightedFocalLoss,
    make_loss,
)


def test_weighted_focal_matches_hand_computation():
    p = torch.tensor([0.9, 0.2, 0.6, 0.05])
    t = torch.tensor([1.0, 0.0, 1.0, 0.0])
    hand = [
        -50 * (1 - 0.9) ** 2 * math.log(0.9),
        -0.75 * 0.2**2 * math.log(1 - 0.2),
        -50 * (1 - 0.6) ** 2 * math.log(0.6),
        -0.75 * 0.05**2 * math.log(1 - 0.05),
    ]
    loss = WeightedFocalLoss(sigmoid=False, reduction="none")(p, t)
    assert torch.allclose(loss, torch.tensor(hand), rtol=1e-5)
    assert WeightedFocalLoss()(p, t).item() == pytest.approx(sum(hand) / 4, rel=1e-5)
    assert WeightedFocalLoss(reduction="sum")(p, t).item() == pytest.approx(sum(hand), rel=1e-5)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-8, 8), min_size=1, max_size=16), st.integers(0, 2**16), st.sampled_from(list(range(4))))
def test_logits_and_probabilities_agree(zs, bits, which):
    z = torch.tensor(zs, dtype=torch.float64)
    t = torch.tensor([(bits >> i) & 1 for i in range(len(zs))], dtype=torch.float64)
    cls = [WeightedFocalLoss, BinaryCrossEntropyLoss, SoftDiceLoss, SoftJaccardLoss][which]
    a = cls(sigmoid=True)(z, t)
    b = cls(sigmoid=False)(torch.sigmoid(z), t)
    assert a.item() == pytest.approx(b.item(), rel=1e-6, abs=1e-9)


def test_bce_family_matches_torch():
    torch.manual_seed(0)
    z = torch.randn(2, 1, 5, 7)
    t = (torch.rand_like(z) > 0.7).float()
    ref = F.binary_cross_entropy_with_logits(z, t)
    assert BinaryCrossEntropyLoss(sigmoid=True)(z, t).item() == pytest.approx(ref.item(), rel=1e-5)
    w = torch.where(t > 0, 50.0, 0.75)
    ref_w = F.binary_cross_entropy_with_logits(z, t, weight=w)
    assert WeightedBCELoss(sigmoid=True)(z, t).item() == pytest.approx(ref_w.item(), rel=1e-5)
    # Lin et al.'s alpha-balanced focal loss is the weighted focal loss with (alpha, 1 - alpha)
    assert BinaryFocalLoss(0.3, sigmoid=True)(z, t).item() == pytest.approx(
        WeightedFocalLoss(0.3, 0.7, 2.0, sigmoid=True)(z, t).item(), rel=1e-6)


def test_dice_and_jaccard_by_hand():
    p = torch.tensor([[1.0, 0.5, 0.0, 0.25]])
    t = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    inter, sp, st_ = 1.5, 1.75, 2.0
    assert SoftDiceLoss(smooth=0)(p, t).item() == pytest.approx(1 - 2 * inter / (sp + st_))
    assert SoftJaccardLoss(smooth=0)(p, t).item() == pytest.approx(1 - inter / (sp + st_ - inter))
    assert SoftDiceLoss()(t, t).item() == pytest.approx(0.0)
    # per-sample reduction: shape (B,)
    assert SoftDiceLoss(reduction="none")(torch.cat([p, t]), torch.cat([t, t])).shape == (2,)


def test_gradients_finite_for_saturated_logits():
    z = torch.tensor([-60.0, 60.0, -60.0, 60.0], requires_grad=True)
    t = torch.tensor([1.0, 0.0, 0.0, 1.0])
    for name in ("wfocal", "focal", "bce", "wbce", "dice", "jaccard"):
        loss = make_loss(name, sigmoid=True)(z, t)
        (g,) = torch.autograd.grad(loss, z)
        assert torch.isfinite(loss) and torch.isfinite(g).all(), name


def test_bad_input_raises():
    with pytest.raises(SkelkitError, match="shape"):
        WeightedFocalLoss()(torch.zeros(2, 3), torch.zeros(3, 2))
    with pytest.raises(SkelkitError, match="unknown loss"):
        make_loss("hinge")
    with pytest.raises(SkelkitError, match="reduction"):
        SoftDiceLoss(reduction="max")(torch.zeros(1, 2), torch.zeros(1, 2))


def _blocks_by_loop(p, t):
    """Extra soft blocks per target pixel, by explicit loops over every block's corners."""
    out = []
    for pb, tb in zip(p, t):
        pb, tb = pb[0], tb[0]
        total = 0.0
        for idx in itertools.product(*(range(n - 1) for n in pb.shape)):
            corners = list(itertools.product(*((i, i + 1) for i in idx)))
            soft = math.prod(float(pb[c]) for c in corners)
            full = all(tb[c] > 0 for c in corners)
            total += 0.0 if full else soft
        out.append(total / (float(tb.sum()) + 1.0))
    return out


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 3), st.integers(0, 2**31 - 1))
def test_block_loss_matches_explicit_blocks(ndim, seed):
    g = torch.Generator().manual_seed(seed)
    shape = (2, 1) + (4,) * ndim
    p = torch.rand(shape, generator=g)
    t = (torch.rand(shape, generator=g) > 0.4).float()
    got = SoftBlockLoss(reduction="none")(p, t)
    assert got.tolist() == pytest.approx(_blocks_by_loop(p, t), rel=1e-5, abs=1e-7)
    z = torch.logit(p.clamp(1e-4, 1 - 1e-4))
    assert SoftBlockLoss(sigmoid=True)(z, t).item() == pytest.approx(got.clamp(min=0).mean().item(), rel=1e-3)


def test_block_loss_is_zero_for_one_pixel_lines_and_counts_a_thick_one():
    line = torch.zeros(1, 1, 6, 6)
    line[0, 0, 2, :] = 1
    assert SoftBlockLoss()(line, line).item() == 0.0
    thick = line.clone()
    thick[0, 0, 3, :] = 1  # 5 full 2x2 blocks the target lacks, over 6 target pixels (+1)
    assert SoftBlockLoss()(thick, line).item() == pytest.approx(5 / 7)
    assert SoftBlockLoss()(thick, thick).item() == 0.0  # blocks the target has cost nothing
    with pytest.raises(SkelkitError, match="block loss"):
        SoftBlockLoss()(torch.zeros(2, 6), torch.zeros(2, 6))


def test_loss_terms_are_summed_with_weights():
    from skelkit.training.unet import make_loss_fn

    g = torch.Generator().manual_seed(1)
    z = torch.randn(2, 1, 8, 8, generator=g)
    t = (torch.rand(2, 1, 8, 8, generator=g) > 0.8).float()
    want = make_loss("wfocal", sigmoid=True)(z, t) + 2.5 * make_loss("block", sigmoid=True)(z, t)
    assert make_loss_fn("wfocal+2.5*block")(z, t).item() == pytest.approx(want.item(), rel=1e-6)
    for bad in ("wfocal+x*block", "wfocal+0*block", "wfocal+-1*dice", "wfocal+inf*dice"):
        with pytest.raises(SkelkitError, match="weight"):
            make_loss_fn(bad)
    with pytest.raises(SkelkitError, match="unknown loss"):
        make_loss_fn("wfocal+blocks")
