"""Chunked skeletonization equals the whole-volume run, voxel for voxel; I/O, schedulers, errors."""

import gc
import os
import pickle
import re

import dask.array as da
import numpy as np
import pytest
import tifffile
import torch
import zarr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import ndimage

from skelkit.api import skeletonize as whole
from skelkit.chunked import rounds, skeletonize, skeletonize_path
from skelkit.core.thinning import REACH_PER_ITER, thin
from skelkit.errors import SkelkitError

R2, R3 = REACH_PER_ITER[2] + rounds.MARGIN, REACH_PER_ITER[3] + rounds.MARGIN  # thinnest chunks


def _blobs(rng, shape, density, sigma):
    """Smooth random blobs with holes, tunnels and thick parts (needs several thinning iterations)."""
    field = ndimage.gaussian_filter(rng.random(shape), sigma)
    return field > np.quantile(field, 1 - density)


@st.composite
def cases(draw, nd, sides, min_chunk):
    shape = tuple(draw(st.integers(*s)) for s in sides)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    img = _blobs(rng, shape, draw(st.floats(0.2, 0.7)), draw(st.floats(1.0, 3.0)))
    # split an axis into >= 2 full chunks (so blocks really exchange halos), or leave it whole
    chunks = tuple(
        draw(st.integers(min_chunk, s // 2)) if s >= 2 * min_chunk and draw(st.booleans()) else s for s in shape
    )
    if all(c == s for c, s in zip(chunks, shape)):
        chunks = tuple(s // 2 if s >= 2 * min_chunk else s for s in shape)
    return img, chunks


# --------------------------------------------------------------- exactness ---
@settings(max_examples=25, deadline=None)
@given(cases(2, [(34, 80), (20, 80)], R2), st.one_of(st.none(), st.integers(0, 5)), st.sampled_from([None, 1, 2]))
def test_exact_2d_equals_whole(case, max_iter, per_round):
    img, chunks = case
    out = skeletonize(img, chunks=chunks, max_num_iter=max_iter, iters_per_round=per_round)
    assert isinstance(out, np.ndarray) and out.dtype == bool
    np.testing.assert_array_equal(out, thin(img, max_iter))


@settings(max_examples=4, deadline=None)
@given(cases(3, [(3, 8), (98, 112), (40, 104)], R3), st.sampled_from([None, 2]))
def test_exact_3d_equals_whole(case, max_iter):
    img, chunks = case
    out = skeletonize(img, chunks=chunks, max_num_iter=max_iter)
    np.testing.assert_array_equal(out, thin(img, max_iter))


def test_exact_converged_equals_skeletonize_and_skips_quiet_blocks(capsys):
    # one thick blob in a corner: after the first round only blocks near it are recomputed
    img = np.zeros((120, 120), bool)
    img[4:18, 6:24] = True
    img[60:62, 10:110] = True
    out = skeletonize(img, chunks=R2 + 3, iters_per_round=1, progress=True)
    np.testing.assert_array_equal(out, whole(img, "exact"))
    log = capsys.readouterr().err
    counts = [(int(a), int(b)) for a, b in re.findall(r"round \d+: (\d+) of (\d+) blocks", log)]
    assert len(counts) > 3 and counts[0] == (36, 36) and counts[-1][0] < 36 / 2


def test_neighbours_of_changed_blocks_are_recomputed():
    """A block whose own pixels did not change can still change once its neighbours have.

    Found by searching random images (rare): skipping every unchanged block
    instead of every block with an unchanged neighbourhood gives 1 wrong pixel.
    """
    rng = np.random.default_rng(137)
    shape = (int(rng.integers(34, 70)), int(rng.integers(34, 70)))
    field = ndimage.gaussian_filter(rng.random(shape), rng.uniform(1, 3))
    img = field > np.quantile(field, 1 - rng.uniform(0.2, 0.7))
    np.testing.assert_array_equal(skeletonize(img, chunks=R2, iters_per_round=1), thin(img))


def test_margin_is_not_needed(monkeypatch):
    """The halo argument needs exactly iterations x reach: with no safety margin it still matches."""
    monkeypatch.setattr(rounds, "MARGIN", 0)
    img = _blobs(np.random.default_rng(3), (64, 70), 0.5, 2.0)
    np.testing.assert_array_equal(skeletonize(img, chunks=REACH_PER_ITER[2], iters_per_round=1), thin(img))


def test_chunk_borders_would_matter_without_halo():
    """Sanity check of the test data: thinning chunks independently (no halo) gives a different answer."""
    img = _blobs(np.random.default_rng(4), (64, 64), 0.5, 2.0)
    naive = da.from_array(img, chunks=20).map_blocks(thin, dtype=bool).compute()
    assert (naive != thin(img)).any()
    np.testing.assert_array_equal(skeletonize(img, chunks=20), thin(img))


@settings(max_examples=12, deadline=None)
@given(
    cases(2, [(16, 60), (10, 60)], 8),
    st.integers(0, 4),
)
def test_soft_2d_equals_whole(case, iters):
    img, chunks = case
    chunks = tuple(max(c, iters + 3) for c in chunks)
    out = skeletonize(img, "soft", chunks=chunks, num_iter=iters)
    np.testing.assert_array_equal(out, whole(img, "soft", num_iter=iters))


def test_soft_3d_default_iters_equals_whole():
    img = _blobs(np.random.default_rng(5), (20, 30, 40), 0.4, 2.0)
    np.testing.assert_array_equal(skeletonize(img, "soft", chunks=13), whole(img, "soft"))


@pytest.fixture(scope="module")
def skelite_weights(tmp_path_factory):
    """Randomly initialised Skelite checkpoints: exactness does not depend on training."""
    from skelkit.models.skelite import Skelite

    paths = {}
    for dim in (2, 3):
        torch.manual_seed(dim)
        path = tmp_path_factory.mktemp("w") / f"skelite{dim}d.pt"
        torch.save({"model": Skelite(dim).state_dict(), "dim": dim}, path)
        paths[dim] = path
    return paths


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 2**32 - 1), st.integers(1, 3), st.booleans(), st.sampled_from(["background", "continue"]))
def test_skelite_fixed_iters_equals_whole(skelite_weights, seed, iters, guard, border):
    # a block edge inside the image is treated as the image border would be, but
    # the halo keeps its effect out of the core, so either convention gives the whole result
    from skelkit.models.skelite import reach_per_iter

    img = _blobs(np.random.default_rng(seed), (70, 66), 0.5, 2.0)
    halo = iters * reach_per_iter(2, guard) + rounds.MARGIN
    chunk = halo + halo % 2 + 2  # even: guard's subfields are block-relative
    kw = dict(num_iter=iters, guard=guard, weights=skelite_weights[2], border=border)
    out = skeletonize(img, "skelite", chunks=chunk, **kw)
    np.testing.assert_array_equal(out, whole(img, "skelite", **kw))


def test_skelite_3d_fixed_iters_equals_whole(skelite_weights):
    img = _blobs(np.random.default_rng(6), (14, 40, 36), 0.5, 1.5)
    kw = dict(num_iter=2, weights=skelite_weights[3])
    out = skeletonize(img, "skelite", chunks=(14, 14, 16), **kw)
    np.testing.assert_array_equal(out, whole(img, "skelite", **kw))


def test_skelite_shipped_weights():
    from skelkit.models.weights import weights_path

    if not weights_path("skelite2d").is_file():
        pytest.skip("no shipped skelite2d weights yet")
    img = _blobs(np.random.default_rng(7), (60, 60), 0.4, 2.0)
    out = skeletonize(img, "skelite", chunks=32, num_iter=2)
    np.testing.assert_array_equal(out, whole(img, "skelite", num_iter=2))


# ------------------------------------------------------------ inputs/outputs ---
def _leftovers(folder):
    return [p for p in os.listdir(folder) if p.startswith(".")]


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cases(2, [(34, 70), (30, 70)], R2), st.one_of(st.none(), st.integers(0, 6)), st.sampled_from([None, 1]))
def test_zarr_in_zarr_out(tmp_path, case, max_iter, per_round):
    img, chunks = case
    src = zarr.open_array(str(tmp_path / "in.zarr"), mode="w", shape=img.shape, chunks=(16, 16), dtype="u1")
    src[:] = img.astype("u1") * 255
    out = skeletonize(
        str(tmp_path / "in.zarr"), chunks=chunks, out=tmp_path / "out.zarr", max_num_iter=max_iter, iters_per_round=per_round
    )
    assert isinstance(out, zarr.Array) and tuple(out.chunks) == tuple(min(c, s) for c, s in zip(chunks, img.shape))
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "out.zarr"), mode="r")[:], thin(img, max_iter))
    assert _leftovers(tmp_path) == []


def test_out_replaces_existing_and_keeps_it_on_error(tmp_path):
    img = _blobs(np.random.default_rng(8), (40, 50), 0.5, 2.0)
    out = tmp_path / "s.zarr"
    skeletonize(img, chunks=R2, out=out, max_num_iter=1)
    skeletonize(img, chunks=R2, out=out)
    np.testing.assert_array_equal(zarr.open_array(str(out), mode="r")[:], thin(img))
    with pytest.raises(SkelkitError):
        skeletonize(img, "soft", chunks=4, num_iter=9, out=out)
    np.testing.assert_array_equal(zarr.open_array(str(out), mode="r")[:], thin(img))
    assert _leftovers(tmp_path) == []


def test_already_thin_input_even_round_plan(tmp_path):
    """Round 1 changes nothing while 4 rounds were planned: the output store must still be filled."""
    img = np.zeros((50, 60), bool)
    img[25, 5:55] = True
    out = skeletonize(img, chunks=R2, out=tmp_path / "o.zarr", max_num_iter=4, iters_per_round=1)
    np.testing.assert_array_equal(out[:], img)


def test_dask_input_lazy_and_converged(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    img = _blobs(np.random.default_rng(9), (60, 50), 0.5, 2.0)
    x = da.from_array(img, chunks=7)
    lazy = skeletonize(x, chunks=R2 + 1, max_num_iter=1)
    assert isinstance(lazy, da.Array)
    np.testing.assert_array_equal(lazy.compute(), thin(img, 1))
    full = skeletonize(x, chunks=R2 + 1, iters_per_round=1)  # several rounds: temporary Zarr store
    np.testing.assert_array_equal(full.compute(), thin(img))
    assert [p for p in os.listdir(tmp_path) if p.startswith("skelkit-") and ".chunked." in p]
    del full
    gc.collect()
    assert not [p for p in os.listdir(tmp_path) if p.startswith("skelkit-") and ".chunked." in p]


def test_tiff_stack_in(tmp_path):
    img = _blobs(np.random.default_rng(10), (6, 100, 60), 0.4, 1.5)
    tifffile.imwrite(tmp_path / "stack.tif", img.astype(np.uint8) * 255)
    out = skeletonize(tmp_path / "stack.tif", chunks=(6, R3, 60), out=tmp_path / "s.zarr", max_num_iter=1)
    assert tuple(out.chunks) == (6, R3, 60)
    np.testing.assert_array_equal(out[:], thin(img, 1))
    grey = np.where(img, 200, 30).astype(np.uint8)
    tifffile.imwrite(tmp_path / "grey.tiff", grey)
    out = skeletonize(str(tmp_path / "grey.tiff"), chunks=(6, 50, 60), threshold=100, scheduler="synchronous")
    np.testing.assert_array_equal(out.compute(), thin(img))


def test_npy_path_and_skeletonize_path(tmp_path, capsys):
    img = _blobs(np.random.default_rng(11), (50, 45), 0.5, 2.0)
    np.save(tmp_path / "v.npy", img)
    res = skeletonize_path(tmp_path / "v.npy", tmp_path / "v.zarr", chunks=R2, max_num_iter=3)
    assert res == tmp_path / "v.zarr"
    np.testing.assert_array_equal(zarr.open_array(str(res), mode="r")[:], thin(img, 3))
    out, err = capsys.readouterr()
    assert out == "" and "Completed" in err  # asked for progress: dask's bar, on stderr


def test_file_readers_pickle_without_their_handles(tmp_path):
    """Tasks on other processes get a reader that reopens the file (a memmap would pickle its data)."""
    from skelkit.chunked.inputs import open_source

    img = np.arange(4 * 30 * 20, dtype=np.uint16).reshape(4, 30, 20)
    tifffile.imwrite(tmp_path / "s.tif", img, photometric="minisblack")
    np.save(tmp_path / "s.npy", img)
    for name in ("s.tif", "s.npy"):
        reader = open_source(tmp_path / name)
        reader[0:1, 0:1, 0:1]  # opens the file
        blob = pickle.dumps(reader)
        assert len(blob) < 1000
        np.testing.assert_array_equal(pickle.loads(blob)[1:3, 5:9, 2:], img[1:3, 5:9, 2:])


@pytest.mark.slow
def test_local_cluster_two_workers(tmp_path):
    """A real distributed LocalCluster (2 worker processes) from a Zarr path to a Zarr path."""
    img = _blobs(np.random.default_rng(12), (70, 64), 0.5, 2.0)
    src = zarr.open_array(str(tmp_path / "in.zarr"), mode="w", shape=img.shape, chunks=(32, 32), dtype=bool)
    src[:] = img
    out = skeletonize_path(tmp_path / "in.zarr", tmp_path / "out.zarr", chunks=32, workers=2, progress=False)
    np.testing.assert_array_equal(zarr.open_array(str(out), mode="r")[:], thin(img))


def test_threads_local_cluster():
    img = _blobs(np.random.default_rng(13), (40, 40), 0.5, 2.0)
    out = skeletonize(img, chunks=R2, workers=1, scheduler="threads")
    np.testing.assert_array_equal(out, thin(img))


# --------------------------------------------------------------------- errors ---
@pytest.mark.parametrize("chunks", [0, -3, "big", (20,), (20, 0), 2.5, True, None])
def test_bad_chunks(chunks):
    with pytest.raises(SkelkitError, match="chunks"):
        skeletonize(np.ones((30, 30), bool), chunks=chunks)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(chunks=R2 - 2), "too thin"),
        (dict(method="soft", num_iter=10, chunks=8), "halo"),
        (dict(method="skimage"), "cannot run chunk-wise"),
        (dict(method="nope"), "unknown method"),
        (dict(method="soft", max_num_iter=3), "max_num_iter"),
        (dict(method="skelite"), "num_iter"),
        (dict(max_num_iter=-1), "max_num_iter"),
        (dict(by_depth=True), "by_depth"),
        (dict(equivariant=True), "equivariant"),
        (dict(iters_per_round=0), "iters_per_round"),
        (dict(scheduler="warp-drive"), "scheduler"),
        (dict(workers=0), "workers"),
        (dict(out="skel.tif"), "Zarr"),
    ],
)
def test_bad_settings(kwargs, match):
    with pytest.raises(SkelkitError, match=match):
        skeletonize(np.ones((40, 40), bool), **{"chunks": 20, **kwargs})


def test_bad_inputs(tmp_path):
    with pytest.raises(SkelkitError, match="not found"):
        skeletonize(tmp_path / "missing.zarr")
    with pytest.raises(SkelkitError, match="not found"):
        skeletonize_path(tmp_path / "missing.tif", tmp_path / "o.zarr")
    with pytest.raises(SkelkitError, match="dimensions"):
        skeletonize(np.ones((3, 4, 5, 6), bool))
    zarr.open_group(str(tmp_path / "g.zarr"), mode="w").create_array("a", shape=(4, 4), dtype=bool)
    with pytest.raises(SkelkitError, match="group"):
        skeletonize(tmp_path / "g.zarr")
    (tmp_path / "junk.zarr").mkdir()
    with pytest.raises(SkelkitError, match="Zarr"):
        skeletonize(tmp_path / "junk.zarr")
    with pytest.raises(SkelkitError, match="output folder"):
        skeletonize(np.ones((8, 8), bool), out=tmp_path / "nope" / "o.zarr")
