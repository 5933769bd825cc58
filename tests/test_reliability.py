"""Regression tests for the defects of the hostile test run (reliability issue): wrong results from 1-bit
images and label images, outputs lost or left behind, tracebacks.

The CLI cases run the real ``skelkit`` command in a subprocess; the interrupted runs send real signals.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from scipy import ndimage
from skimage import data

import skelkit
from skelkit import SkelkitError
from skelkit._methods import METHODS
from skelkit.chunked import skeletonize as chunked
from skelkit.metrics import betti_numbers

SKELKIT = [sys.executable, "-m", "skelkit.cli.main"]


def run(*args, timeout=120, **kw):
    return subprocess.run([*SKELKIT, *map(str, args)], capture_output=True, text=True, timeout=timeout, **kw)


def one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("skelkit: error:"), err
    return lines[0]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in Path(folder).iterdir() if p.name.startswith("."))


def ff_bytes(mask: np.ndarray, rng) -> np.ndarray:
    """``mask`` as a bool array whose True bytes are arbitrary nonzero values (Pillow's 1-bit images use 0xFF)."""
    raw = mask.view(np.uint8) * rng.integers(1, 256, mask.shape, dtype=np.uint8)
    return raw.view(bool)


@pytest.fixture(scope="module")
def horse1(tmp_path_factory):
    """The horse saved as a 1-bit PNG (Pillow mode "1")."""
    p = tmp_path_factory.mktemp("h") / "horse1.png"
    Image.fromarray(~data.horse()).convert("1").save(p)
    assert Image.open(p).mode == "1" and np.asarray(Image.open(p)).view(np.uint8).max() == 255
    return p


# ---------------------------------------------------------------- 1. bytes --
AVAILABLE = [(n, d) for n, m in METHODS.items() for d in m.dims if skelkit.unavailable_reason(n, d) is None]


@pytest.mark.parametrize("name, nd", AVAILABLE)
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**16), density=st.floats(0.3, 0.8))
def test_nonzero_bytes_in_bool_arrays_give_the_canonical_result(name, nd, seed, density):
    rng = np.random.default_rng(seed)
    shape = (28, 28) if nd == 2 else (12, 14, 14)
    mask = ndimage.binary_opening(rng.random(shape) < density)
    odd = ff_bytes(mask, rng)
    np.testing.assert_array_equal(skelkit.skeletonize(odd, name), skelkit.skeletonize(mask, name))
    t_odd = torch.from_numpy(odd)[None, None]
    t_ok = torch.from_numpy(mask)[None, None]
    assert torch.equal(skelkit.skeletonize(t_odd, name), skelkit.skeletonize(t_ok, name))


def test_nonzero_bytes_in_chunked_runs(tmp_path):
    rng = np.random.default_rng(3)
    for shape, chunks in (((80, 80), 40), ((20, 110, 110), (20, 55, 55))):
        vol = ndimage.binary_opening(rng.random(shape) < 0.6)
        odd = ff_bytes(vol, rng)
        whole = skelkit.skeletonize(vol)
        np.testing.assert_array_equal(chunked(odd, chunks=chunks), whole)
        np.save(tmp_path / "odd.npy", odd)
        assert np.load(tmp_path / "odd.npy").view(np.uint8).max() > 1
        np.testing.assert_array_equal(np.asarray(chunked(tmp_path / "odd.npy", chunks=chunks).compute()), whole)


def test_one_bit_png_through_the_cli_keeps_topology(horse1, tmp_path):
    for method in ("exact", "skimage"):  # skimage used to crash the process (SIGSEGV) on such bytes
        r = run("skeletonize", horse1, "-o", tmp_path / method, "--method", method)
        assert r.returncode == 0, r.stderr
        skel = np.asarray(Image.open(tmp_path / method / "horse1.png")) > 0
        assert betti_numbers(skel) == betti_numbers(~data.horse())


# --------------------------------------------------------------- 2. labels --
def test_one_binarisation_rule_whole_and_chunked(tmp_path):
    rng = np.random.default_rng(5)
    vol = ndimage.binary_opening(rng.random((20, 110, 110)) < 0.6)
    for lo, hi in ((-1, 0), (0, 7)):  # two values, one of them 0: foreground is nonzero
        lab = np.where(vol, lo if lo else hi, 0).astype(np.int16)
        want = skelkit.skeletonize(lab != 0)
        np.testing.assert_array_equal(skelkit.skeletonize(lab), want)
        np.testing.assert_array_equal(chunked(lab, chunks=(20, 55, 55)), want)
    labels = np.where(vol, 2, 1).astype(np.uint8)  # {1, 2}: which is foreground is not clear
    for fn in (skelkit.skeletonize, lambda a: chunked(a, chunks=(20, 55, 55))):
        with pytest.raises(SkelkitError, match="neither is 0"):
            fn(labels)
    three = vol.astype(np.uint8) + (rng.random(vol.shape) < 0.01)  # {0, 1, 2}: grey levels or labels
    for fn in (skelkit.skeletonize, lambda a: chunked(a, chunks=(20, 55, 55))):
        with pytest.raises(SkelkitError, match="not binary"):
            fn(three)


def test_label_volume_through_the_cli_whole_and_chunked(tmp_path):
    zarr = pytest.importorskip("zarr")
    vol = np.zeros((16, 24, 24), np.uint8)
    vol[4:12, 4:20, 4:20] = 2
    vol[vol == 0] = 1
    np.save(tmp_path / "lab.npy", vol)
    z = zarr.open_array(str(tmp_path / "lab.zarr"), mode="w", shape=vol.shape, chunks=(8, 12, 12), dtype="u1")
    z[:] = vol
    errs = []
    for name in ("lab.npy", "lab.zarr"):
        chunks = ("--chunks", "64") if name.endswith("zarr") else ()
        r = run("skeletonize", tmp_path / name, "-o", tmp_path / f"out_{name}", *chunks)
        assert r.returncode == 1
        errs.append(one_line(r.stderr))
        assert not (tmp_path / f"out_{name}").exists()
    assert all("neither is 0" in e for e in errs)
    r = run("skeletonize", tmp_path / "lab.zarr", "-o", tmp_path / "ok", "--chunks", "64", "--threshold", "1")
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "ok" / "lab.zarr"), mode="r")[:],
                                  skelkit.skeletonize(vol > 1))


# ------------------------------------------------------------------ 3. NaN --
def test_nan_refused_in_chunked_runs_too(tmp_path):
    a = np.random.default_rng(0).random((64, 64)).astype("f4")
    a[0, 0] = np.nan
    with pytest.raises(SkelkitError, match="NaN"):
        skelkit.skeletonize(a, threshold=0.5)
    for kw in ({}, {"threshold": 0.5}):
        with pytest.raises(SkelkitError, match="NaN"):
            chunked(a, chunks=32, **kw)
    zarr = pytest.importorskip("zarr")
    z = zarr.open_array(str(tmp_path / "n.zarr"), mode="w", shape=a.shape, chunks=(32, 32), dtype="f4")
    z[:] = a
    r = run("skeletonize", tmp_path / "n.zarr", "-o", tmp_path / "nz", "--chunks", "64")
    assert r.returncode == 1 and "NaN" in one_line(r.stderr)
    assert not (tmp_path / "nz").exists()


# ------------------------------------------------- 4-6. outputs: lost, left --
@pytest.fixture
def horse8(tmp_path):
    p = tmp_path / "horse8.png"
    Image.fromarray((~data.horse()).astype(np.uint8) * 255).save(p)
    return p


def test_failed_overlay_keeps_the_earlier_skeleton(horse8, tmp_path):
    out = tmp_path / "ov"
    (out / "horse8_overlay.png").mkdir(parents=True)  # the overlay's path is blocked
    (out / "horse8.png").write_bytes(b"precious")
    r = run("skeletonize", horse8, "-o", out, "--overlay")
    assert r.returncode == 1 and "folder is in the way" in one_line(r.stderr)
    assert (out / "horse8.png").read_bytes() == b"precious"
    assert leftovers(out) == []


SLOW = """
import dataclasses, os, signal, sys, time
# Ctrl-C as in a terminal: a run started in the background by a non-interactive shell inherits SIGINT
# ignored, and Python keeps it so (the test then timed out when `make test` itself ran in the background)
signal.signal(signal.SIGINT, signal.default_int_handler)
from skelkit.io import formats
import skelkit.viz as viz
which, go = sys.argv[1], sys.argv[2]
def slow_after(write):
    def inner(*args):
        write(*args)
        print("WRITING", flush=True)
        for _ in range(1200):  # until the test says go (or a signal arrives)
            if os.path.exists(go):
                break
            time.sleep(0.05)
    return inner
if which == "overlay":
    viz.save_png = slow_after(viz.save_png)
else:
    fmt = formats.FORMATS["png"]
    formats.FORMATS["png"] = dataclasses.replace(fmt, write=slow_after(fmt.write))
from skelkit.cli.main import main
main(sys.argv[3:])
"""


def _slow_run(tmp_path, which, *args):
    """Run skelkit with a writer that stops after writing its temporary file until ``tmp_path / "go"`` exists."""
    script = tmp_path / "slow.py"
    script.write_text(textwrap.dedent(SLOW))
    proc = subprocess.Popen([sys.executable, str(script), which, str(tmp_path / "go"), *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()  # the write has started: its temporary file exists
    assert line.strip() == "WRITING", proc.stderr.read()
    return proc


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_during_overlay_write_cleans_up_and_keeps_old_output(horse8, tmp_path, sig, code):
    out = tmp_path / "o"
    out.mkdir()
    (out / "horse8.png").write_bytes(b"precious")
    proc = _slow_run(tmp_path, "overlay", "skeletonize", horse8, "-o", out, "--overlay")
    assert leftovers(out)  # the staged skeleton and the overlay's temporary file
    proc.send_signal(sig)
    assert proc.wait(30) == code
    assert (out / "horse8.png").read_bytes() == b"precious"
    assert leftovers(out) == [] and sorted(p.name for p in out.iterdir()) == ["horse8.png"]


def test_sigkill_leftovers_are_removed_by_the_next_run(horse8, tmp_path):
    out = tmp_path / "k"
    proc = _slow_run(tmp_path, "skeleton", "skeletonize", horse8, "-o", out)
    proc.kill()  # SIGKILL: nothing can clean up
    proc.wait(30)
    stale = leftovers(out)
    assert stale and all(f"-{proc.pid}." in name for name in stale)
    r = run("skeletonize", horse8, "-o", out)
    assert r.returncode == 0, r.stderr
    assert leftovers(out) == [] and (out / "horse8.png").is_file()


def test_a_live_runs_temporary_files_are_left_alone(horse8, tmp_path):
    out = tmp_path / "live"
    proc = _slow_run(tmp_path, "skeleton", "skeletonize", horse8, "-o", out)
    try:
        live = leftovers(out)
        r = run("skeletonize", horse8, "-o", out, "--format", "tif")  # another run over the same folder
        assert r.returncode == 0, r.stderr
        assert set(live) <= set(leftovers(out))
    finally:
        proc.terminate()
        proc.wait(30)
    assert leftovers(out) == []


def test_concurrent_writer_is_detected_not_silently_overwritten(horse8, tmp_path):
    out = tmp_path / "cc"
    proc = _slow_run(tmp_path, "skeleton", "skeletonize", horse8, "-o", out)
    (out / "horse8.png").write_bytes(b"the other run's result")  # another run finishes first
    (tmp_path / "go").touch()
    err = proc.communicate(timeout=90)[1]
    assert proc.returncode == 1 and "changed while this run was working" in one_line(err)
    assert (out / "horse8.png").read_bytes() == b"the other run's result"
    assert leftovers(out) == []


CHUNKED_SLOW = """
import sys, time
import numpy as np
import skelkit
def slow(mask, num_iter=1):
    print("RUNNING", flush=True)
    time.sleep(60)
    return mask
skelkit.register_method(skelkit.Method("slow", "sleeps", numpy=slow, iter_option="num_iter",
    chunk=lambda ndim, num_iter=1: {"reach": 1},
    options=(skelkit.Option("num_iter", "int", 1, "", min=0, cli=False),)))
from skelkit.cli.main import main
main(sys.argv[1:])
"""


def _box_zarr(path, box):
    """A 32^3 Zarr volume (16^3 chunks) holding one box of foreground."""
    zarr = pytest.importorskip("zarr")
    vol = np.zeros((32, 32, 32), bool)
    vol[box] = True
    z = zarr.open_array(str(path), mode="w", shape=vol.shape, chunks=(16, 16, 16), dtype=bool)
    z[:] = vol


def test_sigterm_during_chunked_run_removes_scratch_and_partial_output(tmp_path):
    _box_zarr(tmp_path / "v.zarr", np.s_[4:28, 4:28, 4:28])
    script = tmp_path / "slow_chunked.py"
    script.write_text(CHUNKED_SLOW)
    out = tmp_path / "kz"
    proc = subprocess.Popen([sys.executable, str(script), "skeletonize", str(tmp_path / "v.zarr"), "-o", str(out),
                             "-m", "slow", "--chunks", "16"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().startswith("RUNNING"), proc.stderr.read()  # (threads may print it twice)
    assert leftovers(out)  # the output being built and the scratch store
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 143
    assert not out.exists() or leftovers(out) == []


def test_output_inside_the_input_zarr_is_refused(tmp_path):
    zarr = pytest.importorskip("zarr")
    z = zarr.open_array(str(tmp_path / "v.zarr"), mode="w", shape=(16, 16), chunks=(8, 8), dtype=bool)
    z[4:12, 4:12] = True
    r = run("skeletonize", tmp_path / "v.zarr", "-o", tmp_path / "v.zarr" / "out", "--chunks", "16")
    assert r.returncode == 1 and "inside the input" in one_line(r.stderr)
    assert not (tmp_path / "v.zarr" / "out").exists()


def test_failed_run_leaves_no_new_folders(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"x")
    r = run("skeletonize", tmp_path / "bad.png", "-o", tmp_path / "deep" / "a" / "b")
    assert r.returncode == 1
    assert not (tmp_path / "deep").exists()
    for args in (("synth", "-o", tmp_path / "s", "-n", "1", "--shape", "200000,200000", "--no-teacher"),
                 ("train", "skelite", "--dim", "2", "--lr", "inf", "--steps", "2", "--out", tmp_path / "t")):
        r = run(*args)
        assert r.returncode == 1, r.stderr
        one_line(r.stderr)
        assert not Path(args[args.index("-o") + 1 if "-o" in args else args.index("--out") + 1]).exists()


# ------------------------------------------------------------- 8-11. errors --
def test_damaged_zarr_chunk_is_one_line(tmp_path):
    zarr = pytest.importorskip("zarr")
    z = zarr.open_array(str(tmp_path / "c.zarr"), mode="w", shape=(64, 64), chunks=(32, 32), dtype=bool)
    z[:] = np.eye(64, dtype=bool)
    chunk = next(p for p in (tmp_path / "c.zarr").rglob("*") if p.is_file() and p.name not in ("zarr.json", ".zarray"))
    chunk.write_bytes(b"junk")
    r = run("skeletonize", tmp_path / "c.zarr", "-o", tmp_path / "cz", "--chunks", "64")
    assert r.returncode == 1 and "c.zarr" in one_line(r.stderr)
    assert not (tmp_path / "cz").exists()


@pytest.mark.parametrize("args, words", [
    (("skeletonize", "{png}", "-o", "{out}", "--threshold", "nan"), "threshold must be a finite number"),
    (("eval", "{png}", "{png}", "--tolerance", "nan"), "tolerance"),
])
def test_nan_arguments_are_refused(horse8, tmp_path, args, words):
    r = run(*(a.format(png=horse8, out=tmp_path / "o") for a in args))
    assert r.returncode == 1 and words in one_line(r.stderr)


def test_api_errors_are_skelkit_errors():
    img = np.zeros((20, 20), bool)
    img[5:15, 5:15] = True
    cases = [
        (lambda: skelkit.skeletonize(np.zeros((0, 5), bool), "soft"), None),  # empty input: an empty result
        (lambda: skelkit.skeletonize(torch.zeros(0, 1, 8, 8), "exact"), None),
        (lambda: skelkit.skeletonize(torch.zeros(0, 1, 8, 8), "skelite", guard=True), None),
        (lambda: skelkit.skeletonize(img, "unet", device="cuda:7"), "CUDA|device"),
        (lambda: skelkit.skeletonize(img, bogus=1), "no option 'bogus'"),
        (lambda: skelkit.skeletonize(img, max_num_iter="3"), "integer"),
        (lambda: skelkit.skeletonize(img, threshold="0.5"), "finite number"),
        (lambda: skelkit.skeletonize(torch.zeros(1, 1, 8, 8, dtype=torch.complex64)), "complex"),
        (lambda: skelkit.skeletonize(img, "skelite", num_iter=-1), ">= 0"),
    ]
    for fn, match in cases:
        if match is None:
            out = fn()
            assert out.shape[0] == 0 or out.size == 0
        else:
            if "CUDA" in match and torch.cuda.is_available():
                continue
            with pytest.raises(SkelkitError, match=match):
                fn()


def test_chunked_progress_stays_off_stdout_when_not_a_terminal(tmp_path):
    _box_zarr(tmp_path / "v.zarr", np.s_[4:28, 6:26, 8:24])
    r = run("skeletonize", tmp_path / "v.zarr", "-o", tmp_path / "o", "--chunks", "16", "-m", "soft", "--max-iter", "3")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "" and "\r" not in r.stderr and "round" not in r.stderr


def _ome_zarr(path: Path, vol: np.ndarray) -> None:
    zarr = pytest.importorskip("zarr")
    root = zarr.open_group(str(path), mode="w")
    root.attrs["multiscales"] = [{"version": "0.4", "axes": [{"name": a, "type": "space"} for a in "zyx"],
                                  "datasets": [{"path": "0", "coordinateTransformations": [
                                      {"type": "scale", "scale": [1.0, 1.0, 1.0]}]}]}]
    arr = root.create_array("0", shape=vol.shape, chunks=(16, 16, 16), dtype=bool)
    arr[:] = vol


def test_ome_zarr_from_the_cli_with_overlay(tmp_path):
    vol = np.zeros((24, 32, 32), bool)
    vol[4:20, 6:26, 8:24] = True
    _ome_zarr(tmp_path / "img.ome.zarr", vol)
    zarr = pytest.importorskip("zarr")
    for src, name, level in ((tmp_path / "img.ome.zarr", "img.ome.zarr", "0"),  # OME-Zarr in, OME-Zarr out
                             (tmp_path / "img.ome.zarr" / "0", "img.ome_0.zarr", "")):  # one of its arrays
        r = run("skeletonize", src, "-o", tmp_path / "out", "--chunks", "64", "--overlay")
        assert r.returncode == 0, r.stderr
        np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "out" / name / level), mode="r")[:],
                                      skelkit.skeletonize(vol))
        assert (tmp_path / "out" / f"{name[:-5]}_overlay.png").is_file()
    r = run("skeletonize", tmp_path / "img.ome.zarr", "-o", tmp_path / "f", "--format", "png")
    assert r.returncode == 1 and "--format applies to image files" in one_line(r.stderr)


def test_nifti_overlay_is_axial():
    from skelkit.viz import view_2d

    vol = np.zeros((10, 12, 14), bool)  # NIfTI voxel axes (i, j, k): k is foot to head
    vol[2, 3, :] = True  # a line along k projects to a single pixel in an axial view
    assert view_2d(vol, "nifti").sum() == 1 and view_2d(vol, "tif").sum() == 14
