import json

import numpy as np
import pytest
from PIL import Image

import skelkit
from skelkit.cli.method_flags import method_options
from skelkit.core.thinning import thin
from skelkit.errors import SkelkitError
from skelkit.io import read_image, write_image
from skelkit.metrics import betti_numbers


@pytest.fixture
def inputs(tmp_path, ring2d):
    """A 2D PNG, a 3D TIFF stack and a 2D .npy in tmp/in."""
    d = tmp_path / "in"
    d.mkdir()
    vol = np.zeros((9, 20, 20), bool)
    vol[2:7, 4:16, 5:15] = True
    bar = np.zeros((16, 30), bool)
    bar[4:12, 3:27] = True
    return {
        "ring": (write_image(d / "ring.png", ring2d), ring2d),
        "box": (write_image(d / "box.tif", vol), vol),
        "bar": (write_image(d / "bar.npy", bar), bar),
    }


def _one_error_line(err):
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("skelkit: error:"), err
    return lines[0]


def test_multi_file_run_writes_skeletons_and_overlays(run_cli, inputs, tmp_path):
    out = tmp_path / "out"
    code, _, err = run_cli("skeletonize", *(p for p, _ in inputs.values()), "-o", out, "--method", "skimage",
                           "--overlay")
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == [
        "bar.npy", "bar_overlay.png", "box.tif", "box_overlay.png", "ring.png", "ring_overlay.png"]
    for name, (path, mask) in inputs.items():
        got, _ = read_image(out / path.name)
        np.testing.assert_array_equal(got, skelkit.skeletonize(mask, method="skimage"))
    # overlay: skeleton pixels red, the rest of the shape grey (2D: same size, 3D: max projection)
    ov = np.asarray(Image.open(out / "ring_overlay.png").convert("RGB"))
    skel = read_image(out / "ring.png")[0]
    f = ov.shape[0] // skel.shape[0]
    red = (ov[::f, ::f, 0] > 200) & (ov[::f, ::f, 1] < 80)
    np.testing.assert_array_equal(red, skel)
    ov3 = np.asarray(Image.open(out / "box_overlay.png").convert("RGB"))
    assert ov3.shape[0] % 20 == 0 and ov3.shape[1] % 20 == 0


def test_format_option_and_exact_default(run_cli, inputs, tmp_path):
    path, mask = inputs["ring"]
    code, _, err = run_cli("skeletonize", path, "-o", tmp_path / "o", "--format", "nii.gz", "--max-iter", "1")
    assert code == 0, err
    got, _ = read_image(tmp_path / "o" / "ring.nii.gz")
    np.testing.assert_array_equal(got, skelkit.skeletonize(mask, max_num_iter=1))


def test_equivariant_flag_reaches_exact_thinning(run_cli, inputs, tmp_path):
    path, vol = inputs["box"]
    code, _, err = run_cli("skeletonize", path, "-o", tmp_path / "o", "--equivariant")
    assert code == 0, err
    got, _ = read_image(tmp_path / "o" / "box.tif")
    np.testing.assert_array_equal(got, thin(vol, equivariant=True))


@pytest.mark.parametrize("bad", ["missing", "corrupt", "4d"])
def test_bad_input_stops_with_one_line_and_no_partial_output(run_cli, inputs, tmp_path, bad):
    d = tmp_path / "in"
    target = {"missing": d / "nope.png", "corrupt": d / "bad.tif", "4d": d / "four.npy"}[bad]
    if bad == "corrupt":
        target.write_bytes(b"II*\x00" + b"\x00" * 64)
    if bad == "4d":
        np.save(target, np.ones((2, 3, 4, 5), bool))
    good = inputs["ring"][0]
    out = tmp_path / "out"
    code, _, err = run_cli("skeletonize", good, target, "-o", out, "--method", "skimage", "--overlay")
    assert code == 1
    assert target.name in _one_error_line(err)
    names = sorted(p.name for p in out.iterdir()) if out.exists() else []
    assert not any(n.startswith(target.stem) for n in names)
    assert not any(n.startswith(".") for n in names)  # no temporary files left behind


def test_keep_going_skips_bad_files_and_exits_1(run_cli, inputs, tmp_path):
    bad = tmp_path / "in" / "bad.png"
    bad.write_bytes(b"not a png")
    out = tmp_path / "out"
    code, _, err = run_cli("skeletonize", bad, inputs["bar"][0], "-o", out, "-m", "skimage", "--keep-going")
    assert code == 1
    assert "1 input failed" in err and "bad.png" in err
    assert sorted(p.name for p in out.iterdir()) == ["bar.npy"]


def test_3d_input_to_png_leaves_nothing(run_cli, inputs, tmp_path):
    out = tmp_path / "out"
    code, _, err = run_cli("skeletonize", inputs["box"][0], "-o", out, "-m", "skimage", "--format", "png", "--overlay")
    assert code == 1 and "2D" in _one_error_line(err)
    assert not out.exists()  # not even the output folder it would have created


@pytest.mark.parametrize(
    "args, words",
    [
        (["--method", "nope"], "unknown method"),
        (["--method", "skimage", "--guard"], "--guard"),
        (["--method", "exact", "--prob"], "--prob"),
        (["--method", "skelite", "--by-depth"], "--by-depth"),
        (["--method", "soft", "--equivariant"], "--equivariant"),
        (["--method", "skimage", "--max-iter", "3"], "max-iter"),
        (["--method", "skimage", "--chunks", "8"], ".zarr"),
    ],
)
def test_flag_errors(run_cli, inputs, tmp_path, args, words):
    code, _, err = run_cli("skeletonize", inputs["ring"][0], "-o", tmp_path / "out", *args)
    assert code == 1 and words in _one_error_line(err)
    assert not (tmp_path / "out").exists()


def test_output_folder_problems(run_cli, inputs, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = run_cli("skeletonize", inputs["ring"][0], "-o", blocker / "sub", "-m", "skimage")
    assert code == 1 and "output folder" in _one_error_line(err)
    code, _, err = run_cli("skeletonize", inputs["ring"][0], "-o", tmp_path / "in", "-m", "skimage")
    assert code == 1 and "overwrite an input" in _one_error_line(err)


def test_method_options_only_for_given_flags():
    assert method_options("exact", {"guard": None, "by_depth": None}) == {}
    assert method_options("exact", {}, max_iter=3) == {"max_num_iter": 3}
    assert method_options("soft", {}, max_iter=2) == {"num_iter": 2}
    assert method_options("exact", {"by_depth": True}) == {"by_depth": True}
    assert method_options("exact", {"equivariant": True}) == {"equivariant": True}
    with pytest.raises(SkelkitError, match="--equivariant is only for method exact"):
        method_options("skelite", {"equivariant": True})
    with pytest.raises(SkelkitError, match="--ensemble"):
        method_options("skelite", {"ensemble": 2})
    with pytest.raises(SkelkitError, match="no iteration limit"):
        method_options("skimage", {}, max_iter=2)


def test_zarr_input_is_delegated_to_chunked(run_cli, tmp_path):
    zarr = pytest.importorskip("zarr")
    vol = np.zeros((12, 16, 16), bool)
    vol[3:9, 3:13, 4:12] = True
    z = zarr.open_array(str(tmp_path / "vol.zarr"), mode="w", shape=vol.shape, chunks=(6, 8, 8), dtype=bool)
    z[:] = vol
    code, _, err = run_cli("skeletonize", tmp_path / "vol.zarr", "-o", tmp_path / "out", "--chunks", "64")
    assert code == 0, err
    got = zarr.open_array(str(tmp_path / "out" / "vol.zarr"), mode="r")[:]
    np.testing.assert_array_equal(got, skelkit.skeletonize(vol))


# ------------------------------------------------------------------ eval ---
def _line(row, shape=(20, 20)):
    a = np.zeros(shape, bool)
    a[row, 2:18] = True
    return a


def test_eval_json_values_for_a_known_pair(run_cli, tmp_path):
    write_image(tmp_path / "pred.png", _line(6))
    write_image(tmp_path / "gt.png", _line(5))
    code, out, err = run_cli("eval", tmp_path / "pred.png", tmp_path / "gt.png", "--json", "--tolerance", "1")
    assert code == 0, err
    res = json.loads(out)
    row = res["files"][0]
    assert row["f1"] == 1.0 and row["f1_exact"] == 0.0
    assert row["hausdorff"] == 1.0 and row["betti_error_0"] == 0
    code, out, _ = run_cli("eval", tmp_path / "pred.png", tmp_path / "gt.png", "--json", "--tolerance", "0",
                           "--spacing", "9,3,1")
    row = json.loads(out)["files"][0]
    assert row["f1"] == 0.0 and row["hausdorff"] == 3.0  # 2D uses the last two spacings (Y X)


def test_eval_folders_match_by_name_and_report_unmatched(run_cli, tmp_path):
    pred, gt = tmp_path / "pred", tmp_path / "gt"
    pred.mkdir()
    gt.mkdir()
    write_image(pred / "a.png", _line(5))
    write_image(gt / "a.tif", _line(5))
    write_image(pred / "b.npy", _line(3))
    write_image(gt / "b.png", _line(9))
    write_image(pred / "only_pred.png", _line(1))
    write_image(gt / "only_gt.png", _line(1))
    code, out, err = run_cli("eval", pred, gt)
    assert code == 0, err
    assert "only_pred" in err and "only_gt" in err
    lines = out.splitlines()
    assert [ln.split()[0] for ln in lines[2:]] == ["a", "b", "mean"]
    code, out, _ = run_cli("eval", pred, gt, "--json", "--tolerance", "0")
    res = json.loads(out)
    assert [r["name"] for r in res["files"]] == ["a", "b"]
    assert res["mean"]["f1"] == 0.5 and res["mean"]["hausdorff"] == 3.0
    assert res["unmatched"] == {"pred": ["only_pred"], "gt": ["only_gt"]}


def test_eval_errors(run_cli, tmp_path):
    write_image(tmp_path / "a.png", _line(5))
    write_image(tmp_path / "b.png", np.zeros((10, 10), bool))
    code, _, err = run_cli("eval", tmp_path / "a.png", tmp_path / "b.png")
    assert code == 1 and "shape" in _one_error_line(err)
    code, _, err = run_cli("eval", tmp_path / "a.png", tmp_path / "none.png")
    assert code == 1 and "none.png" in _one_error_line(err)


# ------------------------------------------------------------------ demo ---
def test_demo_writes_gallery_metrics_and_outputs(run_cli, tmp_path):
    out = tmp_path / "demo"
    code, stdout, err = run_cli("demo", "-o", out, "-m", "skimage", "-m", "medial_axis")
    assert code == 0, err
    for f in ("gallery.png", "metrics.md", "metrics.json"):
        assert (out / f).stat().st_size > 0
    res = json.loads((out / "metrics.json").read_text())
    by = {(r["input"], r["method"]): r for r in res["results"]}
    assert by[("shape", "skimage")]["betti_input"] == [1, 2]
    assert by[("tubes3d", "skimage")]["betti_input"] == [1, 1, 0]
    assert ("tubes3d", "medial_axis") not in by  # 2D-only method: noted, not run
    assert any(n["method"] == "medial_axis" and n["input"] == "tubes3d" for n in res["not_run"])
    for (inp, meth), r in by.items():
        skel, _ = read_image(out / "skeletons" / f"{inp}_{meth}{'.tif' if inp == 'tubes3d' else '.png'}")
        assert int(skel.sum()) == r["pixels"]
        assert (out / "overlays" / f"{inp}_{meth}.png").exists()
    assert "| shape | 256x256 | skimage |" in (out / "metrics.md").read_text()
    gallery = Image.open(out / "gallery.png")
    assert gallery.size[0] > gallery.size[1] / 5 * 2 * 0.9  # 5 rows x 2 columns of tiles


def test_failure_after_first_write_removes_that_inputs_outputs(run_cli, inputs, tmp_path, monkeypatch):
    import skelkit.viz

    def broken(*a, **k):
        raise SkelkitError("disk full while writing the overlay")

    monkeypatch.setattr(skelkit.viz, "save_overlay", broken)
    out = tmp_path / "out"
    code, _, err = run_cli("skeletonize", inputs["ring"][0], "-o", out, "-m", "skimage", "--overlay")
    assert code == 1 and "disk full" in _one_error_line(err)
    assert not out.exists()  # the skeleton written just before was rolled back, and the folder it made


def test_eval_empty_prediction_gives_null_distances(run_cli, tmp_path):
    write_image(tmp_path / "pred.png", np.zeros((20, 20), bool))
    write_image(tmp_path / "gt.png", _line(5))
    code, out, _ = run_cli("eval", tmp_path / "pred.png", tmp_path / "gt.png", "--json")
    row = json.loads(out)["files"][0]
    assert code == 0 and row["hausdorff"] is None and row["f1"] == 0.0 and row["recall"] == 0.0


@pytest.mark.parametrize(
    "args, words",
    [
        (["--steps", "0"], "--steps"),
        (["--lr", "-1"], "--lr"),
        (["--keep-weight", "0"], "--keep-weight"),
        (["--w-topo", "-1"], "--w-topo"),
    ],
)
def test_train_skelite_flag_errors(run_cli, tmp_path, args, words):
    code, _, err = run_cli("train", "skelite", "--dim", "2", "--out", tmp_path / "run", *args)
    assert code == 1 and words in _one_error_line(err)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("guard", [False, True])
def test_skelite_2d_and_3d_with_shipped_weights(run_cli, inputs, tmp_path, guard):
    from skelkit.models.weights import weights_path

    if not (weights_path("skelite2d").is_file() and weights_path("skelite3d").is_file()):
        pytest.skip("no shipped Skelite weights")
    out = tmp_path / "out"
    paths = [inputs["ring"][0], inputs["box"][0]]  # a 2D PNG and a 3D TIFF stack
    code, _, err = run_cli("skeletonize", *paths, "-o", out, "--method", "skelite", *(["--guard"] if guard else []))
    assert code == 0, err
    for name in ("ring", "box"):
        path, mask = inputs[name]
        got, _ = read_image(out / path.name)
        assert got.shape == mask.shape and got.any() and not (got & ~mask).any()
        np.testing.assert_array_equal(got, skelkit.skeletonize(mask, method="skelite", guard=guard))
        if guard:
            assert betti_numbers(got) == betti_numbers(mask)
