"""Synthetic Bezier data, augmentation and teacher targets."""

import numpy as np
import pytest

from skelkit.core.thinning import depth_stages, thin
from skelkit.data.augment import augment, crop_origin, jagged, random_crop, thicken
from skelkit.data.bezier import bezier, synth_mask
from skelkit.data.synth import EQUIVARIANT, KEEP, build_dataset, teacher, teacher_state
from skelkit.errors import SkelkitError
from skelkit.metrics.topology import betti_numbers


def test_bezier_endpoints():
    ctrl = np.array([[0.0, 0.0], [1, 3], [4, 3], [5, 0]])
    pts = bezier(ctrl, np.array([0.0, 0.5, 1.0]))
    np.testing.assert_allclose(pts[0], ctrl[0])
    np.testing.assert_allclose(pts[-1], ctrl[-1])
    np.testing.assert_allclose(pts[1], [2.5, 2.25])


@pytest.mark.parametrize("shape", [(96, 80), (24, 28, 20)])
def test_determinism_per_seed(shape):
    a = synth_mask(shape, np.random.default_rng(3))
    b = synth_mask(shape, np.random.default_rng(3))
    c = synth_mask(shape, np.random.default_rng(4))
    assert a.dtype == bool and a.shape == shape
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert 0 < a.sum() < a.size


def test_loops_and_branching_occur():
    masks = [synth_mask((128, 128), np.random.default_rng(s)) for s in range(12)]
    bettis = [betti_numbers(m) for m in masks]
    assert sum(b1 > 0 for _, b1 in bettis) >= 6  # holes are common, not accidental
    # forced loop, no open curves: exactly one hole per loop
    only_loop = synth_mask((128, 128), np.random.default_rng(0), n_curves=(0, 0), n_loops=(1, 1))
    assert betti_numbers(only_loop)[1] >= 1


def test_structures_leave_the_image():
    masks = [synth_mask((96, 96), np.random.default_rng(s)) for s in range(6)]
    touching = [m[0].any() or m[-1].any() or m[:, 0].any() or m[:, -1].any() for m in masks]
    assert sum(touching) >= 4


def test_bad_options():
    with pytest.raises(SkelkitError, match="unknown"):
        synth_mask((32, 32), np.random.default_rng(0), wiggle=3)
    with pytest.raises(SkelkitError, match="2D or 3D"):
        synth_mask((32,), np.random.default_rng(0))


def test_thicken_and_jagged():
    m = synth_mask((64, 64), np.random.default_rng(1))
    t = thicken(m, 2)
    assert (t >= m).all() and t.sum() > m.sum()
    j = jagged(t, 2.0)
    assert j.shape == m.shape and j.dtype == bool
    assert 0.5 < j.sum() / t.sum() < 1.5
    with pytest.raises(SkelkitError):
        jagged(m, 1.0)


def test_crop_contains_target():
    rng = np.random.default_rng(0)
    target = np.zeros((50, 60), bool)
    target[40, 7] = True
    img = np.arange(3000).reshape(50, 60)
    for _ in range(5):
        t, i = random_crop(target, (16, 16), rng, img)
        assert t.shape == (16, 16) and t.any()
        o = crop_origin(target, (16, 16), rng)
        assert img[o] == o[0] * 60 + o[1]
    with pytest.raises(SkelkitError):
        crop_origin(target, (64, 16), rng)


def test_augment_is_seeded():
    m = synth_mask((64, 64), np.random.default_rng(2))
    a = augment(m, np.random.default_rng(5))
    b = augment(m, np.random.default_rng(5))
    assert np.array_equal(a, b)


@pytest.mark.parametrize("shape", [(48, 48), (24, 24, 24)])
def test_teacher_peel_map_matches_history(shape):
    m = thicken(synth_mask(shape, np.random.default_rng(0)), 1)
    peel = teacher(m)
    skel, hist = thin(m, by_depth=True, equivariant=EQUIVARIANT[len(shape)], return_history=True)
    assert np.array_equal(peel > 0, m)
    assert np.array_equal(peel == KEEP, skel)
    for n, state in enumerate(hist, start=1):
        assert np.array_equal(teacher_state(peel, n), state)
    assert np.array_equal(teacher_state(peel, 0), m)


def test_build_dataset_crops():
    peel = build_dataset(2, 2, seed=1, shape=(64, 64), crop=32, crops_per_image=3)
    assert peel.shape == (6, 32, 32) and peel.dtype == np.int16
    assert all((p == KEEP).any() for p in peel)
    again = build_dataset(2, 2, seed=1, shape=(64, 64), crop=32, crops_per_image=3)
    assert np.array_equal(peel, again)


def test_synth_cli(tmp_path, run_cli):
    code, out, err = run_cli("synth", "-o", tmp_path, "--dim", 2, "-n", 2, "--seed", 0, "--shape", "48,40", "--preview")
    assert code == 0, err
    with np.load(tmp_path / "synth2d.npz") as z:
        assert z["mask"].shape == (2, 48, 40) and z["skeleton"].dtype == bool
        assert np.array_equal(z["skeleton"], z["peel"] == KEEP)
        assert not (z["skeleton"] & ~z["mask"]).any()
    assert (tmp_path / "preview.png").stat().st_size > 1000
    code, out, err = run_cli("synth", "-o", tmp_path, "--shape", "3,4")
    assert code == 1 and "--shape" in err


@pytest.mark.parametrize("dim, shape, seed", [(2, (96, 96), 0), (2, (96, 96), 1), (3, (40, 40, 40), 2)])
def test_teacher_deletes_each_pixel_in_its_skelite_band(dim, shape, seed):
    # Skelite's iteration k can only delete its band (stage k + 1); the teacher's
    # deletions must happen there too, or per-step targets would be unreachable.
    m = thicken(synth_mask(shape, np.random.default_rng(seed)), 2)
    peel = teacher(m)
    stage = depth_stages(m)
    gone = (peel > 0) & (peel != KEEP)
    assert gone.sum() > 100
    late = gone & (peel != stage)
    assert (peel[late] == stage.max()).all()  # only the last stage, which frees every pixel, may differ
    assert late.sum() <= 0.01 * gone.sum()
