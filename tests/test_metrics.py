import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage
from scipy.spatial.distance import cdist

import skelkit
from skelkit.errors import SkelkitError
from skelkit.metrics import (
    betti_numbers,
    cldice,
    dice,
    evaluate_pair,
    hausdorff,
    hd95,
    pooled_f1,
    precision_recall_f1,
    skeleton_graph_stats,
    skelneton_score,
    component_errors,
    split_gaps,
    stray_components,
    thinness,
)


def hline(row, c0=2, c1=18, shape=(20, 20)):
    a = np.zeros(shape, bool)
    a[row, c0:c1] = True
    return a


masks2d = arrays(bool, st.tuples(st.integers(2, 12), st.integers(2, 12)))


def pair_of(shape_strategy=st.tuples(st.integers(2, 10), st.integers(2, 10))):
    return shape_strategy.flatmap(lambda s: st.tuples(arrays(bool, s), arrays(bool, s)))


# ---------------------------------------------------------------- F1 ---
def test_f1_shifted_line_needs_tolerance():
    gt, pred = hline(5), hline(6)
    assert precision_recall_f1(pred, gt) == (0.0, 0.0, 0.0)
    assert precision_recall_f1(pred, gt, tolerance=1) == (1.0, 1.0, 1.0)
    far = hline(8)
    assert precision_recall_f1(far, gt, tolerance=2)[2] == 0.0
    assert precision_recall_f1(far, gt, tolerance=3)[2] == 1.0


def test_tolerance_is_euclidean_not_chebyshev():
    gt = np.eye(12, dtype=bool)
    pred = np.roll(gt, (1, -1), axis=(0, 1))  # every pixel at distance sqrt(2) from the diagonal
    pred[0], pred[:, -1] = False, False  # drop the wrapped-around pixels
    assert precision_recall_f1(pred, gt, tolerance=1)[0] == 0.0
    assert precision_recall_f1(pred, gt, tolerance=1.5)[0] == 1.0


def test_f1_partial_overlap_values():
    pred, gt = hline(5, 0, 10), hline(5, 0, 5)
    p, r, f = precision_recall_f1(pred, gt)
    assert (p, r) == (0.5, 1.0)
    assert f == pytest.approx(2 / 3)


def test_empty_conventions():
    e, x = np.zeros((5, 5), bool), hline(2, 0, 5, (5, 5))
    assert precision_recall_f1(e, e) == (1.0, 1.0, 1.0)
    assert precision_recall_f1(e, x) == (1.0, 0.0, 0.0)
    assert precision_recall_f1(x, e) == (0.0, 1.0, 0.0)
    assert dice(e, e) == 1.0 and dice(e, x) == 0.0


def test_skelneton_score_is_mean_of_per_image_f1_and_pooled_differs():
    same, other, empty = hline(5), hline(12), np.zeros((20, 20), bool)
    preds, gts = [same, same, empty], [same, other, empty]
    assert skelneton_score(preds, gts) == pytest.approx(2 / 3)
    # pooled: 16 matched of 32 predicted and 16 of 32 reference pixels
    assert pooled_f1(preds, gts) == pytest.approx(0.5)
    with pytest.raises(SkelkitError):
        skelneton_score([same], [])


def test_shape_mismatch_is_a_skelkit_error():
    with pytest.raises(SkelkitError, match="shape"):
        precision_recall_f1(np.zeros((4, 4), bool), np.zeros((4, 5), bool))
    with pytest.raises(SkelkitError, match="tolerance"):
        precision_recall_f1(np.zeros((4, 4), bool), np.zeros((4, 4), bool), tolerance=-1)


@settings(max_examples=40, deadline=None)
@given(pair_of(), st.floats(0, 3))
def test_f1_symmetry_under_swap(pair, tol):
    a, b = pair
    p1, r1, f1 = precision_recall_f1(a, b, tol)
    p2, r2, f2 = precision_recall_f1(b, a, tol)
    assert (p1, r1) == (r2, p2)
    assert f1 == pytest.approx(f2)


@settings(max_examples=40, deadline=None)
@given(pair_of(), st.floats(0, 2), st.floats(0, 2))
def test_tolerance_never_lowers_scores(pair, t, extra):
    a, b = pair
    lo, hi = precision_recall_f1(a, b, t), precision_recall_f1(a, b, t + extra)
    assert all(h >= l_ for h, l_ in zip(hi, lo))


@settings(max_examples=30, deadline=None)
@given(masks2d)
def test_dice_of_itself_is_one(a):
    assert dice(a, a) == 1.0


# ----------------------------------------------------------- clDice ---
def test_cldice_given_skeletons():
    gt_mask = np.zeros((10, 20), bool)
    gt_mask[3:7, 2:18] = True
    gt_skel = hline(5, 3, 17, (10, 20))
    pred_mask = np.zeros((10, 20), bool)
    pred_mask[3:7, 2:10] = True  # covers the left half of the reference
    pred_skel = hline(5, 3, 9, (10, 20))
    score, tprec, tsens = cldice(pred_mask, gt_mask, pred_skel, gt_skel)
    assert tprec == 1.0
    assert tsens == pytest.approx(7 / 14)
    assert score == pytest.approx(2 * 0.5 / 1.5)


def test_cldice_default_exact_skeletons():
    bar = np.zeros((16, 40), bool)
    bar[4:11, 3:15] = True
    gt = bar | np.roll(bar, 20, axis=1)  # two equal bars (even shift: same thinning result)
    score, tprec, tsens = cldice(bar, gt)
    assert tprec == 1.0 and tsens == pytest.approx(0.5)
    assert score == pytest.approx(2 / 3)


# --------------------------------------------------------- distances ---
def test_hausdorff_two_points_with_anisotropic_spacing():
    a, b = np.zeros((10, 10), bool), np.zeros((10, 10), bool)
    a[0, 0], b[3, 4] = True, True
    assert hausdorff(a, b) == pytest.approx(5.0)
    assert hausdorff(a, b, spacing=(2.0, 1.0)) == pytest.approx(math.hypot(6, 4))
    v, w = np.zeros((5, 6, 7), bool), np.zeros((5, 6, 7), bool)
    v[0, 0, 0], w[4, 2, 1] = True, True
    assert hausdorff(v, w, spacing=(2.5, 1.0, 0.5)) == pytest.approx(math.sqrt(10**2 + 2**2 + 0.5**2))
    assert hd95(v, w, spacing=(2.5, 1.0, 0.5)) == pytest.approx(math.sqrt(10**2 + 2**2 + 0.5**2))


def test_hd95_ignores_one_outlier():
    a = hline(2, 0, 60, (60, 60))
    b = a.copy()
    b[52, 0] = True  # 50 px away from the line
    assert hausdorff(a, b) == pytest.approx(50.0)
    assert hd95(a, b) == 0.0


def test_distance_empty_sets():
    e, x = np.zeros((4, 4), bool), np.eye(4, dtype=bool)
    assert hausdorff(e, e) == 0.0 and hd95(e, e) == 0.0
    assert hausdorff(e, x) == math.inf and hd95(x, e) == math.inf
    with pytest.raises(SkelkitError, match="spacing"):
        hausdorff(x, x, spacing=(1, 0))


@settings(max_examples=40, deadline=None)
@given(pair_of(), st.tuples(st.floats(0.25, 4), st.floats(0.25, 4)))
def test_hausdorff_matches_brute_force_and_bounds_hd95(pair, spacing):
    a, b = pair
    hd, h95 = hausdorff(a, b, spacing), hd95(a, b, spacing)
    pa, pb = np.argwhere(a) * spacing, np.argwhere(b) * spacing
    if len(pa) and len(pb):
        d = cdist(pa, pb)
        assert hd == pytest.approx(max(d.min(1).max(), d.min(0).max()))
    assert h95 <= hd


# ----------------------------------------------------- topology etc. ---
def test_betti_ring_torus_and_sphere(ring2d):
    assert betti_numbers(ring2d) == (1, 1)
    z, y, x = np.mgrid[:24, :24, :24] - 11.5
    torus = (np.hypot(np.hypot(y, x) - 7, z) <= 2.5)
    assert betti_numbers(torus) == (1, 1, 0)
    r = np.sqrt(x**2 + y**2 + z**2)
    assert betti_numbers((r <= 9) & (r >= 6)) == (1, 0, 1)


def test_thinness_counts():
    sq = np.zeros((5, 5), bool)
    sq[1:4, 1:4] = True
    # four 2x2 windows; the 8 border pixels are simple, the centre is not
    assert thinness(sq) == {"full_blocks": 4, "removable": 8}
    assert thinness(hline(5)) == {"full_blocks": 0, "removable": 0}
    cube = np.zeros((4, 4, 4), bool)
    cube[1:3, 1:3, 1:3] = True
    assert thinness(cube)["full_blocks"] == 1


def test_exact_skeleton_is_thin(ring2d):
    assert thinness(skelkit.skeletonize(ring2d)) == {"full_blocks": 0, "removable": 0}


def test_graph_stats_of_a_t():
    t = hline(5, 0, 11, (12, 12))
    t[5:11, 5] = True
    g = skeleton_graph_stats(t)
    assert g["components"] == 1 and g["endpoints"] == 3 and g["branch_points"] == 1
    assert g["junctions"] == 4  # (5,4), (5,5), (5,6), (6,5) all have >= 3 neighbours
    assert skeleton_graph_stats(np.eye(5, dtype=bool))["endpoints"] == 2


def test_evaluate_pair_known_values():
    gt, pred = hline(5), hline(6)
    m = evaluate_pair(pred, gt, tolerance=1)
    assert m["f1"] == 1.0 and m["f1_exact"] == 0.0
    assert m["hausdorff"] == 1.0 and m["hd95"] == 1.0
    assert m["betti_error_0"] == 0 and m["betti_error_1"] == 0
    assert m["full_blocks"] == 0 and m["endpoints"] == 2
    m3 = evaluate_pair(np.ones((3, 3, 3), bool), np.ones((3, 3, 3), bool), spacing=(2, 1, 1))
    assert m3["f1"] == 1.0 and m3["hausdorff"] == 0.0 and "betti_error_2" in m3


# --------------------------------------------------------- split gaps ---
def test_split_gaps_finds_the_missing_run_between_two_pieces():
    ref = hline(5)
    out = ref.copy()
    out[5, 8:11] = False  # a 3-pixel gap splits the line
    out[5, 17] = False  # a shortened end splits nothing
    gaps = split_gaps(out, ref)
    assert np.array_equal(np.argwhere(gaps), [[5, 8], [5, 9], [5, 10]])
    assert not split_gaps(ref, ref).any()


def test_split_gaps_ignores_a_cut_loop():
    ref = np.zeros((9, 9), bool)
    ref[2, 2:7] = ref[6, 2:7] = ref[2:7, 2] = ref[2:7, 6] = True
    out = ref.copy()
    out[2, 4] = False  # b1 error, still one component
    assert not split_gaps(out, ref).any()


def test_split_gaps_3d_uses_26_connectivity():
    ref = np.zeros((5, 5, 5), bool)
    ref[[0, 1, 2, 3, 4], [0, 1, 2, 3, 4], [0, 1, 2, 3, 4]] = True  # diagonal, 26-connected only
    out = ref.copy()
    out[2, 2, 2] = False
    assert np.array_equal(np.argwhere(split_gaps(out, ref)), [[2, 2, 2]])


@settings(max_examples=60, deadline=None)
@given(pair_of(st.tuples(st.integers(3, 14), st.integers(3, 14))))
def test_split_gaps_restore_the_references_grouping(pair):
    ref, keep = pair
    out = ref & keep
    gaps = split_gaps(out, ref)
    both = component_errors(out, ref)
    assert np.array_equal(both[0], gaps) and np.array_equal(both[1], stray_components(out, ref))
    assert not (gaps & ~ref).any() and not (gaps & out).any()
    # output pixels are grouped by output | gaps exactly as by the reference
    full = np.ones((3, 3), bool)
    by_ref = ndimage.label(ref, structure=full)[0][out]
    by_fill = ndimage.label(out | gaps, structure=full)[0][out]
    pairs = set(zip(by_ref.tolist(), by_fill.tolist()))
    assert len(pairs) == len(set(by_ref.tolist())) == len(set(by_fill.tolist()))


def test_stray_components_are_the_pieces_without_reference_pixels():
    ref = hline(5)
    out = ref.copy()
    out[5, 10] = False  # split, but both pieces hold reference pixels
    out[9, 3:6] = True  # a piece of its own
    out[6, 2] = True  # touches the line: not a piece of its own
    stray = stray_components(out, ref)
    assert np.array_equal(np.argwhere(stray), [[9, 3], [9, 4], [9, 5]])
    assert not stray_components(ref, ref).any()
    assert np.array_equal(stray_components(ref, np.zeros_like(ref)), ref)  # no reference: all of it is stray
