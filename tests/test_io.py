import dataclasses
import os
import stat

import nibabel as nib
import numpy as np
import pytest
import tifffile
from PIL import Image

from skelkit.errors import SkelkitError
from skelkit.io import formats, read_array, read_image, write_image


@pytest.fixture
def mask2d():
    rng = np.random.default_rng(0)
    return rng.random((13, 17)) > 0.6


@pytest.fixture
def mask3d():
    rng = np.random.default_rng(1)
    return rng.random((5, 9, 11)) > 0.6


@pytest.mark.parametrize("ext", ["png", "tif", "tiff", "npy", "nii", "nii.gz"])
def test_round_trip_2d(tmp_path, mask2d, ext):
    path = write_image(tmp_path / f"m.{ext}", mask2d)
    back, meta = read_image(path)
    assert back.dtype == bool and back.shape == mask2d.shape
    np.testing.assert_array_equal(back, mask2d)
    assert meta["path"] == str(path)


@pytest.mark.parametrize("ext", ["tif", "npy", "nii", "nii.gz"])
def test_round_trip_3d(tmp_path, mask3d, ext):
    path = write_image(tmp_path / f"v.{ext}", mask3d)
    np.testing.assert_array_equal(read_image(path)[0], mask3d)


def test_png_is_0_255_uint8(tmp_path, mask2d):
    write_image(tmp_path / "m.png", mask2d)
    arr = np.asarray(Image.open(tmp_path / "m.png"))
    assert arr.dtype == np.uint8 and set(np.unique(arr)) == {0, 255}


def test_png_refuses_3d(tmp_path, mask3d):
    with pytest.raises(SkelkitError, match="2D"):
        write_image(tmp_path / "v.png", mask3d)
    assert not list(tmp_path.iterdir())


def test_nifti_keeps_affine_and_header(tmp_path, mask3d):
    affine = np.array([[0, 0, 2.5, 10], [0, 1.5, 0, -4], [0.5, 0, 0, 7], [0, 0, 0, 1]], float)
    img = nib.Nifti1Image(mask3d.astype(np.float32) * 7.0, affine)  # non-binary stored values
    img.header["descrip"] = b"skelkit test"
    nib.save(img, tmp_path / "in.nii.gz")
    mask, meta = read_image(tmp_path / "in.nii.gz")
    np.testing.assert_array_equal(mask, mask3d)
    assert meta["spacing"] == pytest.approx(nib.load(tmp_path / "in.nii.gz").header.get_zooms())
    write_image(tmp_path / "out.nii.gz", mask, meta)
    out = nib.load(tmp_path / "out.nii.gz")
    np.testing.assert_allclose(out.affine, affine)
    assert out.header["descrip"].tobytes().rstrip(b"\0") == b"skelkit test"
    assert out.get_data_dtype() == np.uint8
    np.testing.assert_array_equal(np.asanyarray(out.dataobj), mask3d.astype(np.uint8))


def test_rgb_png_uses_luminance_and_alpha_cutouts(tmp_path, mask2d):
    rgb = np.zeros(mask2d.shape + (3,), np.uint8)
    rgb[mask2d] = (255, 0, 0)  # red on black: two luminance levels
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    np.testing.assert_array_equal(read_image(tmp_path / "rgb.png")[0], mask2d)
    rgba = np.zeros(mask2d.shape + (4,), np.uint8)
    rgba[..., 3] = mask2d * 255  # uniform colour, the alpha is the shape
    Image.fromarray(rgba).save(tmp_path / "cut.png")
    np.testing.assert_array_equal(read_image(tmp_path / "cut.png")[0], mask2d)
    rgba[..., 0] = np.arange(mask2d.shape[1], dtype=np.uint8) * 9  # colour varies too: ambiguous
    Image.fromarray(rgba).save(tmp_path / "amb.png")
    with pytest.raises(SkelkitError, match="ambiguous"):
        read_image(tmp_path / "amb.png")


def test_rgb_tiff_is_not_mistaken_for_a_stack(tmp_path, mask2d):
    rgb = np.repeat(mask2d[..., None].astype(np.uint8) * 200, 3, axis=2)
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    np.testing.assert_array_equal(read_image(tmp_path / "rgb.tif")[0], mask2d)


def test_grey_levels_need_a_threshold(tmp_path):
    grey = np.arange(30, dtype=np.uint16).reshape(5, 6) * 1000
    Image.fromarray(grey).save(tmp_path / "g16.png")
    with pytest.raises(SkelkitError, match="g16.png.*threshold"):
        read_image(tmp_path / "g16.png")
    mask, _ = read_image(tmp_path / "g16.png", threshold=14500)
    np.testing.assert_array_equal(mask, grey > 14500)
    Image.fromarray((grey // 200).astype(np.uint8)).save(tmp_path / "g.jpg", quality=60)
    with pytest.raises(SkelkitError, match="threshold"):
        read_image(tmp_path / "g.jpg")
    assert read_image(tmp_path / "g.jpg", threshold=70)[0].any()


def test_nan_is_refused(tmp_path):
    a = np.zeros((4, 4), np.float32)
    a[1, 1] = np.nan
    np.save(tmp_path / "nan.npy", a)
    with pytest.raises(SkelkitError, match="NaN"):
        read_image(tmp_path / "nan.npy", threshold=0.5)


def _write_bytes(path, data):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "name, make",
    [
        ("missing.png", None),
        ("empty.tif", lambda p: _write_bytes(p, b"")),
        ("garbage.png", lambda p: _write_bytes(p, b"\x89PNG\r\n\x1a\n" + b"x" * 50)),
        ("garbage.tif", lambda p: _write_bytes(p, b"II*\x00" + b"\xff" * 40)),
        ("garbage.nii.gz", lambda p: _write_bytes(p, b"\x1f\x8b" + b"\x00" * 30)),
        ("garbage.npy", lambda p: _write_bytes(p, b"\x93NUMPY" + b"\x00" * 20)),
        ("image.xyz", lambda p: _write_bytes(p, b"hello")),
        ("line.npy", lambda p: np.save(p, np.ones(5, bool))),
        ("4d.npy", lambda p: np.save(p, np.ones((2, 2, 2, 2), bool))),
        ("text.npy", lambda p: np.save(p, np.array([["a", "b"], ["c", "d"]]))),
    ],
)
def test_bad_files_give_one_line_errors_naming_the_file(tmp_path, name, make):
    path = tmp_path / name
    if make is not None:
        make(path)
    with pytest.raises(SkelkitError) as err:
        read_image(path)
    msg = str(err.value)
    assert name in msg and "\n" not in msg


@pytest.mark.parametrize("ext", ["png", "tif", "nii.gz"])
def test_truncated_files_are_refused(tmp_path, mask3d, ext):
    data = mask3d[0] if ext == "png" else mask3d
    full = write_image(tmp_path / f"full.{ext}", np.pad(data, 40)).read_bytes()
    cut = _write_bytes(tmp_path / f"cut.{ext}", full[: len(full) // 2])
    with pytest.raises(SkelkitError, match="cut"):
        read_image(cut)


def test_folder_is_not_an_image(tmp_path):
    (tmp_path / "d.png").mkdir()
    with pytest.raises(SkelkitError, match="folder"):
        read_image(tmp_path / "d.png")


def test_failing_write_leaves_no_file(tmp_path, mask2d, monkeypatch):
    def half_then_fail(tmp, arr, meta):
        tmp.write_bytes(b"II*\x00partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setitem(formats.FORMATS, "tif", dataclasses.replace(formats.FORMATS["tif"], write=half_then_fail))
    with pytest.raises(SkelkitError, match="No space left"):
        write_image(tmp_path / "out.tif", mask2d)
    assert not list(tmp_path.iterdir())  # neither the target nor a temporary file
    (tmp_path / "old.tif").write_bytes(b"previous")
    with pytest.raises(SkelkitError):
        write_image(tmp_path / "old.tif", mask2d)
    assert [p.name for p in tmp_path.iterdir()] == ["old.tif"]
    assert (tmp_path / "old.tif").read_bytes() == b"previous"


def test_written_files_follow_the_umask(tmp_path, mask2d):
    old = os.umask(0o022)
    try:
        write_image(tmp_path / "m.png", mask2d)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "m.png").stat().st_mode) == 0o644  # not mkstemp's 0600


def test_write_errors(tmp_path, mask2d):
    with pytest.raises(SkelkitError, match="does not exist"):
        write_image(tmp_path / "no" / "m.png", mask2d)
    with pytest.raises(SkelkitError, match="unsupported"):
        write_image(tmp_path / "m.jpg", mask2d)
    with pytest.raises(SkelkitError, match="dimensions"):
        write_image(tmp_path / "m.npy", np.ones((2, 2, 2, 2), bool))


def test_float_maps_are_written_as_float32(tmp_path):
    p = np.linspace(0, 1, 20, dtype=np.float64).reshape(4, 5)
    write_image(tmp_path / "p.tif", p)
    arr, meta = read_array(tmp_path / "p.tif")
    assert arr.dtype == np.float32
    np.testing.assert_allclose(arr, p, rtol=1e-6)
    with pytest.raises(SkelkitError, match="binary"):
        write_image(tmp_path / "p.png", p)


def test_split_suffix():
    assert formats.split_suffix("case.001.nii.gz") == ("case.001", ".nii.gz")
    assert formats.split_suffix("A.TIF") == ("A", ".TIF")
    assert formats.split_suffix("vol.zarr") == ("vol", ".zarr")


def test_atomic_dir_swaps_whole_folders(tmp_path):
    from skelkit.io.atomic import atomic_dir

    target = tmp_path / "out.zarr"
    target.mkdir()
    (target / "old").write_text("previous")
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "new").write_text("half")
            raise RuntimeError("crash mid-write")
    assert [p.name for p in tmp_path.iterdir()] == ["out.zarr"]
    assert [p.name for p in target.iterdir()] == ["old"]
    old = os.umask(0o022)
    try:
        with atomic_dir(target) as tmp:
            (tmp / "new").write_text("done")
    finally:
        os.umask(old)
    assert [p.name for p in tmp_path.iterdir()] == ["out.zarr"]
    assert [p.name for p in target.iterdir()] == ["new"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o755  # not mkdtemp's 0700
