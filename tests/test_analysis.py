"""Skeleton analysis: graph, lengths of analytic shapes in physical units, pruning keeps topology, exports."""

import io
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

import skelkit
from skelkit.analysis import analyze, prune, skeleton_graph
from skelkit.analysis.export import swc_text
from skelkit.core.thinning import thin
from skelkit.metrics import betti_numbers


def raster(shape, curves, spacing):
    """Rasterise curves given in physical coordinates (points (n, ndim)) into a one-pixel-thin skeleton."""
    m = np.zeros(shape, bool)
    for pts in curves:
        idx = np.round(pts / spacing).astype(int)
        ok = np.all((idx >= 0) & (idx < shape), 1)
        m[tuple(idx[ok].T)] = True
    return thin(m)


def seg(a, b, step=0.02):
    a, b = np.asarray(a, float), np.asarray(b, float)
    n = int(np.linalg.norm(b - a) / step) + 1
    return a + (b - a) * np.linspace(0, 1, n)[:, None]


def circle(c, r, u, v, n=40000):
    t = np.linspace(0, 2 * np.pi, n)
    return np.asarray(c) + r * (np.cos(t)[:, None] * np.asarray(u) + np.sin(t)[:, None] * np.asarray(v))


def _shapes(nd):
    """Analytic skeletons: name -> (curves in physical units, true branch lengths), for a 300-unit box."""
    if nd == 2:
        c = np.array([150.0, 150.0])
        arms = [c + 130 * np.array([np.cos(a), np.sin(a)]) for a in (0.3, 2.4, 4.3)]
        return {
            "rod": ([seg((60, 20), (60, 270))], [250]),
            "oblique rod": ([seg((20, 20), (20 + 230 * np.sin(0.5), 20 + 230 * np.cos(0.5)))], [230]),
            "circle": ([circle((150, 150), 110, (1, 0), (0, 1))], [2 * np.pi * 110]),
            "L": ([np.concatenate([seg((40, 40), (40, 260)), seg((40, 260), (260, 260))])], [440]),
            "3-way junction": ([seg(c, a) for a in arms], [130, 130, 130]),
        }
    c = np.array([150.0, 150.0, 150.0])
    dirs = [np.array(d) / np.linalg.norm(d) for d in ((1, 0.3, 0.2), (-0.4, 1, 0.1), (-0.3, -0.6, 1))]
    return {
        "rod": ([seg((150, 150, 20), (150, 150, 270))], [250]),
        "oblique rod": ([seg((30, 40, 20), (230, 200, 250))], [float(np.linalg.norm([200, 160, 230]))]),
        "circle": ([circle(c, 110, np.array([1, 1, 0]) / np.sqrt(2), np.array([0, 0, 1]))], [2 * np.pi * 110]),
        "L": ([np.concatenate([seg((40, 40, 150), (40, 260, 150)), seg((40, 260, 150), (260, 260, 150))])], [440]),
        # arms of 145: the digital junction sits up to a voxel (2.5 units) from the analytic one
        "3-way junction": ([seg(c, c + 145 * d) for d in dirs], [145, 145, 145]),
    }


@pytest.mark.parametrize("nd, spacing", [(2, (1.0, 1.0)), (2, (2.0, 1.0)), (2, (0.6, 1.5)), (3, (1.0, 1.0, 1.0)),
                                         (3, (2.5, 1.0, 1.2))])
def test_branch_lengths_of_analytic_shapes_within_2_percent(nd, spacing):
    sp = np.array(spacing)
    shape = tuple((300 / sp).astype(int) + 1)
    for name, (curves, truth) in _shapes(nd).items():
        r = analyze(raster(shape, curves, sp), spacing=sp)
        got = sorted(b["length"] for b in r.branches)
        assert len(got) == len(truth), (name, got)
        for g, t in zip(got, sorted(truth)):
            assert abs(g - t) <= 0.02 * t, f"{name} at spacing {spacing}: {g:.2f} vs {t:.2f}"
        assert r.summary["total_length"] == pytest.approx(sum(got))


def test_branch_types_radius_and_totals():
    mask = np.zeros((60, 90), bool)
    mask[25:36, 5:85] = True  # a bar 11 pixels thick...
    mask[5:56, 40:47] = True  # ...crossed by one 7 thick
    skel = skelkit.skeletonize(mask)
    r = analyze(skel, mask, spacing=(0.5, 0.5))
    s = r.summary
    assert s["n_components"] == 1 and s["n_junctions"] >= 1 and s["n_endpoints"] == 4 and s["n_cycles"] == 0
    types = {b["type"] for b in r.branches}
    assert types <= {"end-junction", "junction-junction"} and "end-junction" in types
    for b in r.branches:
        if b["type"] == "end-junction":
            assert 0 < b["radius_min"] <= b["radius_mean"] <= b["radius_max"] <= 10 * 0.5
            assert b["tortuosity"] >= 1 - 1e-9
    loop = raster((60, 60), [circle((30, 30), 20, (1, 0), (0, 1))], np.ones(2))
    r = analyze(loop)
    assert [b["type"] for b in r.branches] == ["cycle"] and r.summary["n_cycles"] == 1
    assert np.isnan(r.branches[0]["tortuosity"]) and r.branches[0]["length"] == pytest.approx(40 * np.pi, rel=0.02)


def test_staircase_corners_are_not_junctions():
    s = np.zeros((12, 12), bool)
    for i in range(10):  # an 8-connected staircase with redundant corner pixels
        s[i + 1, i + 1] = s[i + 1, i + 2] = True
    g = skeleton_graph(s)
    assert sorted(g.node_kind) == ["end", "end"] and len(g.branches) == 1


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**20), nd=st.sampled_from([2, 3]), length=st.floats(1, 25))
def test_pruning_keeps_topology(seed, nd, length):
    rng = np.random.default_rng(seed)
    shape = (48, 48) if nd == 2 else (20, 24, 24)
    mask = ndimage.binary_opening(rng.random(shape) < 0.55)
    skel = skelkit.skeletonize(mask)
    pruned = prune(skel, length, spacing=rng.uniform(0.5, 2, nd))
    assert betti_numbers(pruned) == betti_numbers(skel)
    assert not (pruned & ~skel).any()
    np.testing.assert_array_equal(prune(pruned, length, spacing=1.0) & pruned, prune(pruned, length, spacing=1.0))


def test_pruning_removes_short_spurs_only():
    s = np.zeros((40, 80), bool)
    s[20, 5:75] = True
    s[12:20, 30] = True  # spur of 8
    s[2:20, 55] = True  # branch of 18
    out = prune(s, 10)
    assert not out[12:20, 30].any() and out[2:20, 55].all() and out[20, 5:75].all()
    assert prune(s, 0).sum() == s.sum()
    with pytest.raises(skelkit.SkelkitError, match="min_length"):
        prune(s, float("nan"))


def test_small_cycles_opened_on_request():
    s = np.zeros((30, 60), bool)
    s[15, 2:58] = True
    s[10, 20:26] = s[10:16, 20] = s[10:16, 25] = True  # a small loop on the line
    assert betti_numbers(prune(s, 3))[1] == 1
    assert betti_numbers(prune(s, 3, max_cycle_length=30))[1] == 0


def test_against_skan_branch_count_and_pixel_length():
    """The same skeletons through skan: branch counts agree, and our pixel_length is skan's branch distance."""
    skan = pytest.importorskip("skan")
    from skelkit.data.examples import blobs, horse_mask, tube_volume

    for mask, sp in ((horse_mask(), (1.0, 1.0)), (blobs(), (1.0, 1.0)), (tube_volume(), (2.0, 1.0, 1.0))):
        skel = skelkit.skeletonize(mask)
        ours = analyze(skel, spacing=sp)
        theirs = skan.summarize(skan.Skeleton(skel, spacing=sp), separator="_")
        # skan links touching junction pixels by one-step branches; skelkit merges them into one junction
        links = (theirs["branch_type"] == 2) & (theirs["branch_distance"] <= np.linalg.norm(sp) + 1e-9)
        assert len(theirs) - int(links.sum()) == len(ours.branches)
        assert theirs["branch_distance"].sum() == pytest.approx(sum(b["pixel_length"] for b in ours.branches),
                                                                rel=0.02)


def test_exports(tmp_path):
    nx = pytest.importorskip("networkx")
    from skelkit.analysis.export import write_branches_csv, write_graphml

    vol = np.zeros((20, 30, 30), bool)
    vol[10, 5:25, 15] = vol[10, 15, 5:25] = True
    r = analyze(vol, ndimage.binary_dilation(vol, iterations=2), spacing=(2, 1, 1))
    write_branches_csv(r, tmp_path / "b.csv")
    lines = (tmp_path / "b.csv").read_text().splitlines()
    assert lines[0].startswith("branch,component,type") and len(lines) == 1 + len(r.branches) == 5
    write_graphml(r, tmp_path / "g.graphml")
    g = nx.read_graphml(tmp_path / "g.graphml")
    assert g.number_of_edges() == 4 and g.number_of_nodes() == 5
    rows = [ln.split() for ln in swc_text(r).splitlines() if not ln.startswith("#")]
    assert len(rows) == vol.sum() and sum(1 for x in rows if x[6] == "-1") == 1  # one tree, one root
    ids = {int(x[0]) for x in rows}
    assert all(int(x[6]) in ids for x in rows if x[6] != "-1")
    assert min(float(x[5]) for x in rows) > 0  # radii from the mask


def test_label_images_one_skeleton_per_label():
    lab = np.zeros((40, 60), np.uint16)
    lab[5:35, 5:25] = 7
    lab[5:35, 25:55] = 300  # touching labels stay apart
    out = skelkit.skeletonize_labels(lab)
    assert out.dtype == lab.dtype and set(np.unique(out)) == {0, 7, 300}
    for v in (7, 300):
        np.testing.assert_array_equal(out == v, skelkit.skeletonize(lab == v))
    with pytest.raises(skelkit.SkelkitError, match="integer"):
        skelkit.skeletonize_labels(lab.astype(float))


# ------------------------------------------------------------------ spacing --
def _volume():
    v = np.zeros((12, 40, 40), bool)
    v[3:9, 8:32, 18:24] = True
    v[3:9, 18:24, 8:32] = True
    return v


def _ome(path, vol, scale):
    zarr = pytest.importorskip("zarr")
    root = zarr.open_group(str(path), mode="w")
    root.attrs["multiscales"] = [{"version": "0.4", "axes": [{"name": a, "type": "space", "unit": "micrometer"}
                                                             for a in "zyx"],
                                  "datasets": [{"path": "0", "coordinateTransformations": [
                                      {"type": "scale", "scale": list(scale)}]}]}]
    root.create_array("0", shape=vol.shape, chunks=vol.shape, dtype=bool)[:] = vol


def test_spacing_round_trips_through_every_format(tmp_path, run_cli):
    """Each format's pixel size is read, used, and written back with the skeleton."""
    import tifffile
    import zarr

    from skelkit.chunked.inputs import source_spacing
    from skelkit.io import read_image, write_image

    vol, sp = _volume(), (2.5, 0.5, 0.75)
    write_image(tmp_path / "v.nii.gz", vol, {"spacing": sp, "unit": "mm"})
    write_image(tmp_path / "v.tif", vol, {"spacing": sp, "unit": "µm"})  # ImageJ
    tifffile.imwrite(tmp_path / "o.ome.tif", vol.astype(np.uint8), metadata={
        "axes": "ZYX", "PhysicalSizeZ": sp[0], "PhysicalSizeY": sp[1], "PhysicalSizeX": sp[2]})
    _ome(tmp_path / "img.ome.zarr", vol, sp)
    z = zarr.open_array(str(tmp_path / "plain.zarr"), mode="w", shape=vol.shape, chunks=vol.shape, dtype=bool)
    z[:] = vol
    z.attrs.update({"spacing": list(sp), "unit": "µm"})
    for name in ("v.nii.gz", "v.tif", "o.ome.tif"):
        assert read_image(tmp_path / name)[1]["spacing"] == pytest.approx(sp)
    for name in ("img.ome.zarr", "plain.zarr"):
        assert source_spacing(tmp_path / name)[0] == pytest.approx(sp)
    names = ["v.nii.gz", "v.tif", "o.ome.tif", "img.ome.zarr", "plain.zarr"]
    code, _, err = run_cli("skeletonize", *(tmp_path / n for n in names), "-o", tmp_path / "out", "--chunks", "64")
    assert code == 0, err
    for name in ("v.nii.gz", "v.tif", "o.ome.tif"):
        assert read_image(tmp_path / "out" / name)[1]["spacing"] == pytest.approx(sp), name
    assert source_spacing(tmp_path / "out" / "img.ome.zarr") == (pytest.approx(sp), "µm", True)
    assert source_spacing(tmp_path / "out" / "plain.zarr")[0] == pytest.approx(sp)
    # --spacing overrides and is written too; 2 numbers for a 2D file
    write_image(tmp_path / "flat.tif", vol[5])
    code, _, err = run_cli("skeletonize", tmp_path / "flat.tif", "-o", tmp_path / "o2", "--spacing", "0.3,0.7")
    assert code == 0, err
    assert read_image(tmp_path / "o2" / "flat.tif")[1]["spacing"] == pytest.approx((0.3, 0.7))


def test_analyze_cli_in_physical_units(tmp_path, run_cli):
    from skelkit.io import write_image

    vol = _volume()
    write_image(tmp_path / "v.nii.gz", vol, {"spacing": (2.0, 0.5, 0.5), "unit": "mm"})
    code, _, err = run_cli("analyze", tmp_path / "v.nii.gz", "-o", tmp_path / "a")
    assert code == 0, err
    code, _, err = run_cli("analyze", tmp_path / "v.nii.gz", "-o", tmp_path / "b", "--spacing", "1")
    assert code == 0, err
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert files == ["summary.csv", "v.graphml", "v.swc", "v_branches.csv", "v_qc.png"]
    import csv

    a = next(csv.DictReader(open(tmp_path / "a" / "summary.csv")))
    b = next(csv.DictReader(open(tmp_path / "b" / "summary.csv")))
    assert a["unit"] == "mm" and a["spacing"] == "2 0.5 0.5" and b["spacing"] == "1 1 1"
    # the structure lies in the y-x plane, where spacing 0.5 halves every length
    assert float(a["total_length"]) == pytest.approx(float(b["total_length"]) / 2, rel=0.05)
    skel = skelkit.skeletonize(vol)
    assert int(a["n_branches"]) == len(analyze(skel).branches)
