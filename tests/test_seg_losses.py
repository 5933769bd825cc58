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
