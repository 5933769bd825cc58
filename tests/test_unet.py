import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from skimage.morphology import skeletonize as sk_skeletonize

import skelkit
from skelkit.core.geometry import dihedral
from skelkit.data.skelneton import class_of, default_root, load_pairs, split_names
from skelkit.errors import SkelkitError, WeightsNotFoundError
from skelkit.losses import WeightedFocalLoss
from skelkit.models.unet import UNet, UNetPredictor, load_unet, predict_proba
from skelkit.models.weights import save_checkpoint, weights_path
from skelkit.training.unet import _augment, make_config, train_step, train_unet


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    """An untrained width-2 U-Net saved in the shipped format (threshold 0.5)."""
    torch.manual_seed(0)
    pred = UNetPredictor([UNet(width=2, depth=5)], [0.5])
    path = tmp_path_factory.mktemp("w") / "tiny.pt"
    save_checkpoint(path, pred.export())
    return path


def _blob(h, w, seed=0):
    rng = np.random.default_rng(seed)
    m = np.zeros((h, w), bool)
    m[h // 5: h - h // 5, w // 6: w - w // 6] = True
    m[rng.integers(0, h), :] = True
    return m


@pytest.mark.parametrize("resize", ["pad", "bbox"])
@pytest.mark.parametrize("hw", [(37, 53), (64, 31), (5, 200)])
def test_odd_sizes_keep_shape(tiny_weights, resize, hw):
    m = _blob(*hw)
    p = predict_proba(m, weights=tiny_weights, resize=resize)
    assert p.shape == hw and p.dtype == np.float32
    assert np.isfinite(p).all() and p.min() >= 0 and p.max() <= 1
    s = skelkit.skeletonize(m, method="unet", weights=tiny_weights, resize=resize, prob_threshold=0.0)
    assert s.shape == hw and s.dtype == bool
    assert not (s & ~m).any()  # skeleton inside the shape


def test_bbox_mode_handles_empty_input(tiny_weights):
    p = predict_proba(np.zeros((40, 40), bool), weights=tiny_weights, resize="bbox")
    assert p.shape == (40, 40) and not p.any()


def test_tta_and_pad_are_symmetric(tiny_weights):
    # TTA averages over the whole dihedral group, so its output commutes with a quarter turn.
    m = _blob(64, 64, seed=3)
    a = predict_proba(m, tta=True, weights=tiny_weights)
    b = predict_proba(np.rot90(m), tta=True, weights=tiny_weights)
    assert np.allclose(np.rot90(a), b, atol=1e-5)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_augmentation_keeps_skeletons_one_pixel(seed):
    rng = np.random.default_rng(seed)
    shape = np.zeros((2, 24, 24), bool)
    for i in range(2):
        for _ in range(3):
            y, x, r = rng.integers(4, 20, 3)
            yy, xx = np.ogrid[:24, :24]
            shape[i] |= (yy - y) ** 2 + (xx - x) ** 2 <= (r % 6 + 1) ** 2
    # Zhang's thinning can leave a 2x2 block on tiny shapes; augmentation must keep whatever it has.
    skel = np.stack([sk_skeletonize(s) for s in shape])
    xs, ys = _augment(shape, skel, rng)
    for x, y, s0, k0 in zip(xs, ys, shape, skel):
        # each augmented pair is one symmetry applied to both images
        ks = [k for k in range(8) if np.array_equal(dihedral(s0, k), x) and np.array_equal(dihedral(k0, k), y)]
        assert ks
        # same pixels, same 8-neighbour counts, same number of 2x2 blocks: no new thickness
        assert y.sum() == k0.sum() and _blocks(y) == _blocks(k0)
        assert np.array_equal(np.sort(_neighbours(y)[y]), np.sort(_neighbours(k0)[k0]))
        assert np.array_equal(dihedral(y, ks[0], inverse=True), k0)


def _neighbours(s):
    from scipy.ndimage import convolve

    return convolve(s.astype(int), np.ones((3, 3), int), mode="constant") - s


def _blocks(s):
    return int((s[:-1, :-1] & s[1:, :-1] & s[:-1, 1:] & s[1:, 1:]).sum())


def test_one_training_step_lowers_loss():
    torch.manual_seed(0)
    model = UNet(width=4, depth=2)
    x = torch.zeros(2, 1, 16, 16)
    x[:, :, 4:12, 2:14] = 1
    y = torch.zeros_like(x)
    y[:, :, 8, 4:12] = 1
    loss_fn = WeightedFocalLoss(sigmoid=True)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    before = train_step(model, opt, loss_fn, x, y)
    with torch.no_grad():
        after = loss_fn(model(x), y).item()  # model stays in train mode: same BN statistics
    assert after < before


def _write_toy_data(root: Path, n=8, size=64):
    (root / "shapes").mkdir(parents=True)
    (root / "skeletons").mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        m = np.zeros((size, size), bool)
        y0, x0 = rng.integers(4, 16, 2)
        m[y0: y0 + 24 + i, x0: x0 + 30] = True
        cls = "box" if i % 2 else "bar"
        Image.fromarray(m.astype(np.uint8) * 255).save(root / "shapes" / f"{cls}-{i}.png")
        Image.fromarray(sk_skeletonize(m).astype(np.uint8) * 255).save(root / "skeletons" / f"{cls}-{i}.png")


def test_train_save_resume_round_trip(tmp_path):
    data = tmp_path / "data"
    _write_toy_data(data)
    cfg2 = make_config("cpu", width=2, epochs=2, batch_size=4, channels_last=False, half_weights=False)
    cfg1 = make_config("cpu", width=2, epochs=1, batch_size=4, channels_last=False, half_weights=False)
    quiet = dict(progress=False, log=lambda s: None)
    straight = train_unet(data, tmp_path / "a", cfg2, **quiet)
    train_unet(data, tmp_path / "b", cfg1, **quiet)
    resumed = train_unet(data, tmp_path / "b", cfg2, resume=True, **quiet)
    ha = json.loads((tmp_path / "a" / "history.json").read_text())["history"]
    hb = json.loads((tmp_path / "b" / "history.json").read_text())["history"]
    assert [r["epoch"] for r in hb] == [1, 2]
    assert [r["loss"] for r in ha] == pytest.approx([r["loss"] for r in hb], rel=1e-5)
    a, b = load_unet(straight), load_unet(resumed)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.allclose(va.float(), vb.float(), atol=1e-6)
    split = json.loads((tmp_path / "b" / "split.json").read_text())
    assert len(split["cv"]) == 2 and not set(split["cv"]) & set(split["train"])
    with pytest.raises(SkelkitError, match="resume with the same settings"):
        train_unet(data, tmp_path / "b", make_config("cpu", width=3, epochs=3), resume=True, **quiet)


def test_ensemble_members_average(tmp_path):
    data = tmp_path / "data"
    _write_toy_data(data)
    cfg = make_config("cpu", width=2, epochs=1, batch_size=4, ensemble=2, channels_last=False)
    pred = load_unet(train_unet(data, tmp_path / "e", cfg, progress=False, log=lambda s: None))
    assert len(pred.members) == 2 and pred.threshold == pytest.approx(np.mean(pred.thresholds))
    assert pred.member_threshold(None, tta=True) == pred.meta["threshold_tta"]  # picked on CV with TTA
    assert pred.member_threshold(1, tta=True) == pred.thresholds[0]
    m = _blob(64, 64)
    p1, p2 = (predict_proba(m, weights=pred, ensemble=k) for k in (1, 2))
    single = UNetPredictor([pred.members[1]], [0.5])
    p_second = predict_proba(m, weights=single)
    assert np.allclose(p2, (p1 + p_second) / 2, atol=1e-5)


def test_missing_weights_raise_clear_error(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="nope.pt"):
        skelkit.skeletonize(_blob(32, 32), method="unet", weights=tmp_path / "nope.pt")
    with pytest.raises(SkelkitError, match="not a skelkit U-Net"):
        bad = tmp_path / "bad.pt"
        save_checkpoint(bad, {"hello": 1})
        load_unet(bad)


def test_registered_numpy_and_torch(tiny_weights):
    m = _blob(40, 48)
    out = skelkit.skeletonize(m.astype(np.uint8) * 255, method="unet", weights=tiny_weights)
    assert out.dtype == bool and out.shape == m.shape
    x = torch.from_numpy(np.stack([m, np.flipud(m).copy()]))[:, None].float().requires_grad_(True)
    y = skelkit.skeletonize(x, method="unet", weights=tiny_weights, threshold=0.3)
    assert y.shape == x.shape and y.device == x.device
    assert set(torch.unique(y.detach()).tolist()) <= {0.0, 1.0}
    assert torch.equal(y[0, 0].detach().bool(), torch.from_numpy(
        skelkit.skeletonize(m, method="unet", weights=tiny_weights, threshold=0.3)))
    y.sum().backward()  # straight-through: gradient reaches the input through the network
    assert x.grad is not None and torch.isfinite(x.grad).all()
    with pytest.raises(SkelkitError, match="3D"):
        skelkit.skeletonize(np.ones((4, 8, 8), bool), method="unet", weights=tiny_weights)
    with pytest.raises(SkelkitError, match="ensemble"):
        skelkit.skeletonize(m, method="unet", weights=tiny_weights, ensemble=3)


def test_split_is_deterministic_stratified_and_holds_out_classes():
    names = [f"{c}-{i}" for c in ("cat", "dog", "fish") for i in range(10)] + ["calf-1"]
    a, b = split_names(names, seed=1), split_names(list(reversed(names)), seed=1)
    assert a == b
    assert len(a["cv"]) == 6 and "calf-1" in a["train"]
    assert {class_of(n) for n in a["cv"]} == {"cat", "dog", "fish"}
    h = split_names(names, holdout_classes=["dog"])
    assert len(h["holdout"]) == 10 and all(class_of(n) != "dog" for n in h["train"] + h["cv"])
    assert split_names(names, seed=2)["cv"] != a["cv"]
    with pytest.raises(SkelkitError, match="unknown hold-out"):
        split_names(names, holdout_classes=["zebra"])


def test_cli_errors_are_one_line(tmp_path):
    from skelkit.cli.main import main

    with pytest.raises(SystemExit) as exc:
        main(["train", "unet", "--data", str(tmp_path), "--out", str(tmp_path / "o")])
    assert exc.value.code == 1
    with pytest.raises(SystemExit) as exc:
        main(["train", "unet", "--data", str(tmp_path), "--out", str(tmp_path / "o"), "--config", "gpu"]
             if not torch.cuda.is_available() else ["train", "unet", "--out", str(tmp_path), "--width", "0"])
    assert exc.value.code == 1


SKELNETON = default_root()


@pytest.mark.skipif(SKELNETON is None or not weights_path("unet").is_file(),
                    reason="needs the SkelNetOn data (../shared) and the shipped unet.pt")
def test_shipped_weights_on_real_cv_images():
    pred = load_unet()
    split = json.loads((weights_path("unet").parent / "unet_split.json").read_text())
    names, shapes, skels = load_pairs(SKELNETON, split["cv"][::40])
    f1 = []
    for m, g in zip(shapes, skels):
        s = skelkit.skeletonize(m, method="unet", ensemble=1)
        f1.append(2 * (s & g).sum() / max(1, s.sum() + g.sum()))
    assert np.mean(f1) > 0.5, (names, f1)
    assert pred.resize == "pad"


def test_input_channels_commute_with_flips_and_ignore_padding():
    from skelkit.models.unet import input_features

    m = _blob(40, 60)
    f = input_features(m[None], ("shape", "edt", "ridge"))[0]
    assert f.shape == (3, 40, 60) and f[1].max() == pytest.approx(1.0) and set(np.unique(f[2])) <= {0.0, 1.0}
    for k in range(8):
        np.testing.assert_allclose(input_features(dihedral(m, k)[None], ("shape", "edt", "ridge"))[0],
                                   dihedral(f, k), atol=1e-6)
    padded = input_features(np.pad(m, 16)[None], ("shape", "edt", "ridge"))[0][:, 16:-16, 16:-16]
    np.testing.assert_allclose(padded, f, atol=1e-6)  # outside the image counts as background


def test_distance_transform_inputs_round_trip_through_training(tmp_path):
    root = default_root()
    if root is None:
        pytest.skip("no SkelNetOn data")
    from skelkit.training.unet import make_config, train_unet

    cfg = make_config("cpu", width=2, epochs=1, max_train=8, inputs=("shape", "edt"), block="light", crop=64,
                      loss="wfocal+dice")
    path = train_unet(root, tmp_path, cfg, progress=False, log=lambda s: None)
    pred = load_unet(path)
    assert pred.inputs == ("shape", "edt") and pred.members[0].in_channels == 2 and pred.members[0].block == "light"
    out = skelkit.skeletonize(_blob(64, 96), "unet", weights=path)
    assert out.shape == (64, 96) and out.dtype == bool


def test_init_starts_from_given_weights_and_refuses_other_shapes(tmp_path):
    data = tmp_path / "data"
    _write_toy_data(data)
    quiet = dict(progress=False, log=lambda s: None)
    first = train_unet(data, tmp_path / "a", make_config("cpu", width=2, epochs=1, batch_size=4,
                                                         channels_last=False, half_weights=False), **quiet)
    # a learning rate of ~0 keeps the convolutions where --init put them (BN statistics still move)
    tuned = train_unet(data, tmp_path / "b", make_config("cpu", width=2, epochs=1, batch_size=4, lr=1e-12,
                                                         channels_last=False, half_weights=False,
                                                         init=str(first)), **quiet)
    fresh = train_unet(data, tmp_path / "c", make_config("cpu", width=2, epochs=1, batch_size=4, lr=1e-12,
                                                         channels_last=False, half_weights=False, seed=5), **quiet)
    a, b, c = (load_unet(p).members[0].state_dict() for p in (first, tuned, fresh))
    convs = [k for k in a if k.endswith("weight") and a[k].ndim == 4]
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in convs)
    assert not all(torch.allclose(a[k], c[k], atol=1e-3) for k in convs)
    with pytest.raises(SkelkitError, match="--init weights are width 2"):
        train_unet(data, tmp_path / "d", make_config("cpu", width=3, epochs=1, init=str(first)), **quiet)
    with pytest.raises(SkelkitError, match="inputs"):
        train_unet(data, tmp_path / "e", make_config("cpu", width=2, epochs=1, inputs=("shape", "edt"),
                                                     init=str(first)), **quiet)


def test_default_output_has_its_blocks_broken_with_the_same_topology():
    from skelkit.metrics import betti_numbers
    from skelkit.metrics.thinness import full_blocks

    m = _blob(256, 256)
    raw = skelkit.skeletonize(m, "unet", break_blocks=False)
    out = skelkit.skeletonize(m, "unet")
    assert full_blocks(raw) > 0  # the network's map is thick in places
    assert full_blocks(out) == 0 and not (out & ~raw).any()
    assert betti_numbers(out) == betti_numbers(raw)
    t = skelkit.skeletonize(torch.from_numpy(m)[None, None].float(), "unet")
    assert np.array_equal(t[0, 0].numpy() > 0, out)
