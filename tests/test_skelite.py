"""Skelite model, sparse evaluation, topology guard, API and training loop."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import skelkit
from skelkit.data.augment import thicken
from skelkit.data.bezier import synth_mask
from skelkit.errors import SkelkitError, WeightsNotFoundError
from skelkit.metrics.topology import betti_numbers
from skelkit.models.skelite import Skelite, SkeliteNet, iters_for, load_model, reach_per_iter
from skelkit.models.weights import weights_path

torch.set_num_threads(1)
HAVE = {d: weights_path(f"skelite{d}d").is_file() for d in (2, 3)}


def _model(dim, seed=0, bias=None):
    torch.manual_seed(seed)
    m = Skelite(dim).eval().requires_grad_(False)
    if bias is not None:  # push every decision one way: an adversarial, untrained deleter
        m.g.convs[-1].bias.fill_(bias)
    return m


def _synth(shape, seed, thick=1):
    return thicken(synth_mask(shape, np.random.default_rng(seed)), thick)


def _t(mask):
    return torch.from_numpy(np.asarray(mask, np.float32))[None, None]


def test_parameter_counts():
    assert sum(p.numel() for p in SkeliteNet(2).parameters()) == 38145
    assert sum(p.numel() for p in SkeliteNet(3).parameters()) == 114177


def test_reach_per_iter():
    assert reach_per_iter(2) == 6 and reach_per_iter(3) == 6
    assert reach_per_iter(2, guard=True) == 38 and reach_per_iter(3, guard=True) == 102
    # one soft iteration at the centre ignores pixels beyond the reach
    m = _model(2, seed=1)
    x = torch.rand(1, 1, 31, 31)
    r = reach_per_iter(2)
    y = x.clone()
    y[..., 15 + r + 1, :] = 1 - y[..., 15 + r + 1, :]
    y[..., :, 15 - r - 1] = 1 - y[..., :, 15 - r - 1]
    a, b = m(x, 1, hard=False), m(y, 1, hard=False)
    assert a[..., 15, 15] == b[..., 15, 15]
    x[..., 15 + r, 15], y[..., 15 + r, 15] = 1.0, 0.0  # within reach: a new erosion minimum reaches the centre
    assert m(y, 1, hard=False)[..., 15, 15] != m(x, 1, hard=False)[..., 15, 15]


@pytest.mark.parametrize("dim,shape", [(2, (70, 53)), (3, (22, 25, 19))])
def test_sparse_equals_dense_untrained(dim, shape):
    m = _model(dim, seed=2)
    x = torch.cat([_t(_synth(shape, s)) for s in range(2)])
    soft_d, soft_s = m(x, hard=False), m(x, hard=False, sparse=True)
    torch.testing.assert_close(soft_d, soft_s, atol=1e-5, rtol=1e-5)
    m.g.convs[-1].bias.add_(0.7)  # keep logits off the 0.5 threshold so rounding cannot flip a decision
    assert torch.equal(m(x), m(x, sparse=True))


@pytest.mark.parametrize("dim,shape", [(2, (96, 96)), (3, (32, 32, 32))])
def test_sparse_equals_dense_shipped(dim, shape):
    if not HAVE[dim]:
        pytest.skip("no shipped weights")
    m = load_model(dim)
    x = _t(_synth(shape, 5))
    assert torch.equal(m(x), m(x, sparse=True))
    assert torch.equal(m(x, guard=True), m(x, guard=True, sparse=True))


def _guard_models(dim):
    models = [_model(dim, seed=3), _model(dim, seed=4, bias=8.0)]
    if HAVE[dim]:
        models.append(load_model(dim))
    return models


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), thick=st.integers(0, 2))
def test_guard_preserves_topology_2d(seed, thick):
    mask = _synth((40, 40), seed, thick)
    ref = betti_numbers(mask)
    for m in _guard_models(2):
        out = m(_t(mask), guard=True)[0, 0].numpy() > 0.5
        assert betti_numbers(out) == ref
        assert not (out & ~mask).any()


@settings(max_examples=10, deadline=None)
@given(arr=st.lists(st.booleans(), min_size=144, max_size=144))
def test_guard_preserves_topology_noise(arr):
    mask = np.array(arr).reshape(12, 12)
    ref = betti_numbers(mask)
    for m in _guard_models(2):
        out = m(_t(mask), guard=True)[0, 0].numpy() > 0.5
        assert betti_numbers(out) == ref


@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_guard_preserves_topology_3d(seed):
    mask = _synth((20, 20, 20), seed, 1)
    ref = betti_numbers(mask)
    for m in _guard_models(3):
        out = m(_t(mask), guard=True, sparse=True)[0, 0].numpy() > 0.5
        assert betti_numbers(out) == ref


def test_unguarded_deleter_breaks_topology():
    """Sanity check of the guard test: the same adversarial model without guard does change topology."""
    mask = _synth((40, 40), 0, 1)
    out = _model(2, seed=4, bias=8.0)(_t(mask))[0, 0].numpy() > 0.5
    assert betti_numbers(out) != betti_numbers(mask)


def test_output_subset_binary_and_auto_iters():
    m = _model(2, seed=5)
    mask = _synth((64, 64), 1, 2)
    x = _t(mask)
    out = m(x)
    assert set(out.unique().tolist()) <= {0.0, 1.0}
    assert not ((out > 0.5) & (x < 0.5)).any()
    assert torch.equal(out, m(x, iters_for(mask)))
    soft = m(x, hard=False)
    assert soft.min() >= 0 and (soft <= x + 1e-6).all()
    assert iters_for(np.zeros((5, 5), bool)) == 0


@pytest.mark.parametrize("guard", [False, True])
def test_gradients_flow_through_the_loop(guard):
    torch.manual_seed(0)
    m = Skelite(2)
    x = (_t(_synth((48, 48), 2, 2)) * 0.8 + 0.1).requires_grad_(True)
    y = m(x, guard=guard)
    y.sum().backward()
    grads = [x.grad] + [p.grad for p in m.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert x.grad.abs().sum() > 0 and m.g.convs[0].weight.grad.abs().sum() > 0


def test_sparse_forward_differentiable():
    torch.manual_seed(0)
    m = Skelite(2)
    x = _t(_synth((40, 40), 3, 1))
    g = []
    for sparse in (False, True):
        m.zero_grad()
        tr = []
        m(x, trace=tr, sparse=sparse)
        sum((p * b).sum() for b, p in tr).backward()
        g.append(m.g.convs[1].weight.grad.clone())
    torch.testing.assert_close(g[0], g[1], atol=1e-4, rtol=1e-4)


def test_bad_input():
    with pytest.raises(SkelkitError, match="expects"):
        Skelite(2)(torch.zeros(1, 1, 4, 4, 4))
    with pytest.raises(SkelkitError, match="hard"):
        Skelite(2)(torch.zeros(1, 1, 8, 8), hard=False, guard=True)


def test_missing_weights(tmp_path):
    img = np.zeros((16, 16), bool)
    img[4:12, 3:13] = True
    with pytest.raises(WeightsNotFoundError, match="not found.*nope.pt"):
        skelkit.skeletonize(img, method="skelite", weights=tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    torch.save({"model": {"x": torch.zeros(1)}, "dim": 2}, bad)
    with pytest.raises(SkelkitError, match="do not fit"):
        skelkit.skeletonize(img, method="skelite", weights=bad)
    torch.save({"model": Skelite(3).state_dict(), "dim": 3}, bad)
    with pytest.raises(SkelkitError, match="3D"):
        skelkit.skeletonize(img, method="skelite", weights=tmp_path / "bad.pt")


def test_api_numpy_and_torch(tmp_path):
    w = tmp_path / "w2.pt"
    torch.manual_seed(0)
    torch.save({"model": Skelite(2).state_dict(), "dim": 2}, w)
    img = _synth((40, 36), 0, 1)
    out = skelkit.skeletonize(img, method="skelite", weights=w)
    assert out.shape == img.shape and out.dtype == bool and not (out & ~img).any()
    x = torch.stack([_t(img)[0], _t(img)[0]]).double().requires_grad_(True)
    y = skelkit.skeletonize(x, method="skelite", weights=w, guard=True)
    assert y.shape == x.shape and y.dtype == torch.float64 and y.device == x.device
    y.sum().backward()
    assert torch.isfinite(x.grad).all()
    assert np.array_equal(y[0, 0].detach().numpy() > 0.5, skelkit.skeletonize(img, method="skelite", weights=w, guard=True))


@pytest.mark.skipif(not HAVE[2], reason="no shipped weights")
def test_shipped_2d_quality():
    """Shipped weights: thin, close to the teacher on a held-out synthetic image."""
    from skelkit.data.synth import teacher_skeleton
    from skelkit.metrics import dice

    mask = _synth((128, 128), 123, 1)
    ref = teacher_skeleton(mask)  # the teacher it was distilled from
    out = skelkit.skeletonize(mask, method="skelite")
    assert dice(out, ref) > 0.9  # 0.98 on the evaluation set; the weights before the depth-ordered teacher got ~0.75
    assert out.sum() < 0.5 * mask.sum()


@pytest.mark.skipif(not HAVE[2], reason="no shipped weights")
def test_shipped_2d_unguarded_keeps_the_vessel_tree_connected():
    """Trained with the component term, the bare network adds at most one piece on the 512x512 vessel mask."""
    from skelkit.data.examples import retina_vessel_mask

    mask = retina_vessel_mask(512)
    out = skelkit.skeletonize(mask, method="skelite")
    assert abs(betti_numbers(out)[0] - betti_numbers(mask)[0]) <= 1  # 0 now; 5 for the weights trained without it


@pytest.mark.skipif(not HAVE[3], reason="no shipped weights")
@pytest.mark.parametrize("side", [2, 4])
def test_shipped_3d_even_rod_keeps_one_voxel_per_slice(side):
    # an even-width rod has no centre voxel; a student of a parity-dependent teacher kept two per slice
    img = np.zeros((side + 8, side + 8, 40), bool)
    img[4 : 4 + side, 4 : 4 + side, 4:36] = True
    out = skelkit.skeletonize(img, method="skelite")
    assert (out[..., 8:32].sum(axis=(0, 1)) == 1).all()


@pytest.mark.skipif(not HAVE[3], reason="no shipped weights")
def test_shipped_3d_quality():
    """Shipped 3D weights: close to the teacher, not much thicker, on a held-out volume."""
    from skelkit.data.synth import sample, teacher_skeleton
    from skelkit.metrics import dice

    mask = np.asarray(sample(3, 4343, 2, shape=(64, 64, 64)), bool)  # seed no training run uses
    ref = teacher_skeleton(mask)
    out = skelkit.skeletonize(mask, method="skelite")
    # stages 4-7 traded thinness for connectivity on vessel networks (docs/skelite.md): Dice 0.725 and 1.48x
    # the teacher's voxels here (stage 3: 0.78, 1.26x); randomly initialised weights score Dice 0.03
    assert dice(out, ref) > 0.72
    assert out.sum() < 1.55 * ref.sum()


def test_training_runs_and_resumes(tmp_path):
    from skelkit.training.skelite import make_config, train_skelite

    kw = dict(steps=2, n_images=2, image_shape=(48, 48), crop=32, crops_per_image=2, batch_size=2, n_val=1,
              val_shape=(48, 48), val_every=2, warmup=1)
    cfg = make_config("cpu", 2, **kw)
    path = train_skelite(tmp_path, cfg, progress=False, log=lambda s: None)
    state = torch.load(path, weights_only=False)
    assert state["dim"] == 2 and state["steps"] == 2 and "validation" in state
    assert (tmp_path / "checkpoint.pt").is_file() and (tmp_path / "data_train.npz").is_file()
    cfg3 = make_config("cpu", 2, **{**kw, "steps": 3})
    train_skelite(tmp_path, cfg3, resume=True, progress=False, log=lambda s: None)
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=False)["step"] == 3
    out = skelkit.skeletonize(_synth((32, 32), 1), method="skelite", weights=path)
    assert out.dtype == bool
    with pytest.raises(SkelkitError, match="different configuration"):
        train_skelite(tmp_path, make_config("cpu", 2, **{**kw, "lr": 1.0}), resume=True, progress=False)


def test_loss_ignores_pixels_outside_valid():
    """With a margin, the loss does not depend on anything the model does near the crop faces."""
    from skelkit.data.synth import build_dataset
    from skelkit.training.skelite import SkeliteLoss, interior

    peel = torch.from_numpy(build_dataset(2, 2, seed=3, shape=(48, 48), crop=32, crops_per_image=1))[:, None]
    x = (peel > 0).float()
    valid = interior((32, 32), 6)
    assert valid.sum() == 20 * 20 and valid[..., :6, :].sum() == 0
    loss_fn = SkeliteLoss()
    vals = []
    for seed in (0, 1):  # deletion probabilities that differ only outside the valid region
        torch.manual_seed(seed)
        trace = [(x, torch.rand_like(x) * (1 - valid) + 0.3 * valid)]
        vals.append(loss_fn(x, x, trace, peel, valid)[0].item())
    assert vals[0] == pytest.approx(vals[1])
    assert loss_fn(x, x, trace, peel)[0].item() != pytest.approx(vals[1])  # without it, the edges count
    with pytest.raises(SkelkitError, match="margin"):
        interior((8, 8), 4)


def test_component_term_pulls_only_gap_and_stray_pixels():
    """w_topo: keep the teacher pixel whose deletion split the output, delete the stray piece; nothing else."""
    from skelkit.data.synth import KEEP
    from skelkit.training.skelite import SkeliteLoss

    x = torch.zeros(1, 1, 24, 24)
    x[..., 8:15, 2:22] = 1.0  # a bar; the teacher keeps its middle row
    peel = (x * 3).to(torch.int16)
    peel[..., 11, 4:20] = KEEP
    prob = torch.where(peel == KEEP, 0.1, 0.9).float().requires_grad_(True)
    with torch.no_grad():
        prob[..., 11, 12] = 0.8  # deleted: splits the skeleton in two
        prob[..., 8, 3] = 0.2  # kept: a piece with no teacher pixel
    out = (x - prob.detach() * x > 0.5).float()
    loss, parts = SkeliteLoss(w_step=0, w_final=0, w_thin=0, w_topo=1.0)(x, out, [(x, prob)], peel)
    assert parts["n_gap"] == 1 and parts["n_stray"] == 1
    loss.backward()
    g = prob.grad[0, 0]
    assert g[11, 12] > 0 and g[8, 3] < 0  # gradient descent: less deletion at the gap, more at the stray
    g[11, 12] = g[8, 3] = 0
    assert not g.any()
    plain = SkeliteLoss(w_step=0, w_final=0, w_thin=0)(x, out, [(x, prob)], peel)[1]
    assert "n_gap" not in plain and plain["loss"] == 0


@pytest.mark.skipif(not (HAVE[2] and HAVE[3]), reason="no shipped weights")
def test_training_from_init_weights(tmp_path):
    from skelkit.training.skelite import make_config, train_skelite

    kw = dict(steps=1, n_images=2, image_shape=(48, 48), crop=32, crops_per_image=2, batch_size=2, n_val=1,
              val_shape=(48, 48), val_every=1, warmup=1, lr=1e-12, w_topo=0.5)
    src = skelkit.models.weights.weights_path("skelite2d")
    path = train_skelite(tmp_path / "a", make_config("cpu", 2, init=str(src), **kw), progress=False, log=lambda s: None)
    start = torch.load(src, weights_only=False)["model"]
    tuned = torch.load(path, weights_only=False)["model"]
    assert all(torch.allclose(start[k], tuned[k], atol=1e-6) for k in start)  # lr ~0: still the init weights
    with pytest.raises(SkelkitError, match="--init .*3D Skelite"):
        train_skelite(tmp_path / "b", make_config("cpu", 2, init=str(src).replace("2d", "3d"), **kw),
                      progress=False, log=lambda s: None)


@pytest.mark.skipif(not HAVE[3], reason="no shipped weights")
def test_shipped_3d_api():
    mask = _synth((24, 24, 24), 9, 1)
    out = skelkit.skeletonize(mask, method="skelite", guard=True)
    assert out.shape == mask.shape and out.dtype == bool and not (out & ~mask).any()
    assert betti_numbers(out) == betti_numbers(mask) and out.sum() < 0.6 * mask.sum()
