"""The method table is the one definition of a method: a new row shows up everywhere."""

import inspect
import json
import warnings

import numpy as np
import pytest
import torch
from scipy import ndimage

import skelkit
from skelkit import Method, Option, SkelkitError
from skelkit._methods import METHODS
from skelkit.chunked import skeletonize as chunked_skeletonize
from skelkit.io import write_image
from skelkit.losses import ClDiceLoss, skeletonizers


def toy_erode(mask, num_iter=1, keep_empty=False):
    """Toy method: ``num_iter`` cross erosions (reach ``num_iter``); ``keep_empty`` keeps the mask when it would vanish."""
    out = ndimage.binary_erosion(mask, iterations=num_iter) if num_iter else mask.copy()
    return mask.copy() if keep_empty and not out.any() else out


def toy_reach(ndim, num_iter=1, keep_empty=False):
    if keep_empty:
        raise SkelkitError("keep_empty=True looks at the whole image")
    return {"reach": num_iter}


@pytest.fixture
def toy():
    row = skelkit.register_method(Method(
        "toy", "erodes the mask (a test row)", numpy=toy_erode, chunk=toy_reach, iter_option="num_iter",
        options=(Option("num_iter", "int", 1, "erosions", min=0, cli=False),
                 Option("keep_empty", "bool", False, "keep a mask that would vanish")),
    ))
    yield row
    skelkit.unregister_method("toy")


def _blob():
    img = np.zeros((40, 50), bool)
    img[5:35, 8:45] = True
    img[15:25, 20:30] = False
    return img


def test_toy_method_everywhere(toy, run_cli, tmp_path):
    img = _blob()
    # the dispatcher, numpy and tensors
    np.testing.assert_array_equal(skelkit.skeletonize(img, "toy", num_iter=2), toy_erode(img, 2))
    x = torch.from_numpy(img.astype(np.float32))[None, None].requires_grad_(True)
    out = skelkit.skeletonize(x, "toy")
    out.sum().backward()  # straight-through to the kept pixels
    assert torch.equal(x.grad[0, 0] > 0, torch.from_numpy(toy_erode(img)))
    # the CLI: choices, flags, a run
    code, out_text, _ = run_cli("skeletonize", "--help")
    assert code == 0 and "toy: erodes the mask" in out_text and "--keep-empty" in out_text
    write_image(tmp_path / "blob.png", img)
    code, _, err = run_cli("skeletonize", tmp_path / "blob.png", "-o", tmp_path / "out", "-m", "toy", "--max-iter", "3")
    assert code == 0, err
    got, _ = skelkit.io.read_image(tmp_path / "out" / "blob.png")
    np.testing.assert_array_equal(got, toy_erode(img, 3))
    code, _, err = run_cli("skeletonize", tmp_path / "blob.png", "-o", tmp_path / "o2", "-m", "exact", "--keep-empty")
    assert code == 1 and "--keep-empty is only for method toy" in err
    # chunked runs take its reach from the table
    np.testing.assert_array_equal(chunked_skeletonize(img, "toy", chunks=16, num_iter=3), toy_erode(img, 3))
    with pytest.raises(SkelkitError, match="whole image"):
        chunked_skeletonize(img, "toy", chunks=16, keep_empty=True)
    # the clDice loss lists it and runs it
    assert "toy" in skeletonizers()
    t = torch.from_numpy(img.astype(np.float32))[None, None]
    assert float(ClDiceLoss("toy", num_iter=1)(t, t)) == pytest.approx(0.0, abs=1e-6)
    # the demo
    code, _, err = run_cli("demo", "-o", tmp_path / "demo", "-m", "toy")
    assert code == 0, err
    metrics = json.loads((tmp_path / "demo" / "metrics.json").read_text())
    assert metrics["methods"] == ["toy"] and {r["method"] for r in metrics["results"]} == {"toy"}
    assert (tmp_path / "demo" / "skeletons" / "horse_toy.png").is_file()


def test_toy_gone_after_unregister(toy):
    skelkit.unregister_method("toy")
    with pytest.raises(SkelkitError, match="unknown method 'toy'"):
        skelkit.skeletonize(_blob(), "toy")


def test_unknown_or_bad_options_are_one_line_errors():
    img = _blob()
    with pytest.raises(SkelkitError, match=r"method 'exact' has no option 'bogus'; its options: max_num_iter, by_depth"):
        skelkit.skeletonize(img, bogus=1)
    with pytest.raises(SkelkitError, match="no option 'guard'"):
        skelkit.skeletonize(img, guard=True)
    with pytest.raises(SkelkitError, match="'max_num_iter' must be an integer"):
        skelkit.skeletonize(img, max_num_iter="3")
    with pytest.raises(SkelkitError, match="'max_num_iter' must be >= 0"):
        skelkit.skeletonize(img, max_num_iter=-1)
    with pytest.raises(SkelkitError, match="'num_iter' must be >= 0"):
        skelkit.skeletonize(img, "soft", num_iter=-1)
    with pytest.raises(SkelkitError, match="'by_depth' must be True or False"):
        skelkit.skeletonize(img, by_depth="yes")
    with pytest.raises(SkelkitError, match="'border' must be one of"):
        skelkit.skeletonize(img, "skelite", border="mirror")
    with pytest.raises(SkelkitError, match="applies to numpy input only"):
        skelkit.skeletonize(torch.zeros(1, 1, 8, 8), "unet", device="cpu")


def test_deprecated_names_warn_and_still_work():
    img = _blob()
    with pytest.warns(FutureWarning, match="'max_iter' is deprecated, use 'max_num_iter'"):
        old = skelkit.skeletonize(img, max_iter=2)
    np.testing.assert_array_equal(old, skelkit.skeletonize(img, max_num_iter=2))
    with pytest.warns(FutureWarning, match="'iters' is deprecated"):
        skelkit.skeletonize(img, "soft", iters=3)
    with pytest.raises(SkelkitError, match="given twice"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            skelkit.skeletonize(img, max_iter=2, max_num_iter=2)


def test_unet_probability_threshold_is_reachable():
    if skelkit.unavailable_reason("unet", 2):
        pytest.skip("no shipped U-Net weights")
    img = np.zeros((64, 64), bool)
    img[10:54, 20:44] = True
    low = skelkit.skeletonize(img, "unet", prob_threshold=0.05)
    high = skelkit.skeletonize(img, "unet", prob_threshold=0.95)
    assert low.sum() > high.sum()
    img_grey = np.where(img, 200, 10)  # the dispatcher's threshold binarises the input, a different thing
    np.testing.assert_array_equal(skelkit.skeletonize(img_grey, "unet", threshold=100, prob_threshold=0.05), low)


@pytest.mark.parametrize("name", list(METHODS))
def test_functions_take_the_table_options_with_the_table_defaults(name):
    """The row is the one definition: the functions behind it accept its options, with its defaults."""
    m = skelkit.get_method(name)
    for role, backend in (("numpy", "numpy"), ("torch", "torch"), ("proba", "numpy")):
        if getattr(m, role) is None:
            continue
        params = inspect.signature(m.function(role)).parameters
        for o in m.options:
            if backend not in o.backends:
                continue
            assert o.name in params, f"{name}.{role} lacks option {o.name}"
            assert params[o.name].default == o.default, f"{name}.{role}: default of {o.name} differs from the table"
    if m.chunk is not None:
        params = inspect.signature(m.function("chunk")).parameters
        assert all(o.name in params or any(p.kind is p.VAR_KEYWORD for p in params.values()) for o in m.options)


def test_registering_a_reserved_or_duplicate_name_fails(toy):
    with pytest.raises(SkelkitError, match="already registered"):
        skelkit.register_method(toy)
    with pytest.raises(SkelkitError, match="reserved"):
        Method("x", "x", numpy=toy_erode, not_chunkable="-", options=(Option("threshold", "float", 0.5),))
    with pytest.raises(SkelkitError, match="not chunkable"):
        Method("x", "x", numpy=toy_erode)


ALL = [(name, nd) for name, m in METHODS.items() for nd in m.dims]


@pytest.mark.parametrize("name, nd", ALL)
def test_no_method_modifies_its_input(name, nd):
    if skelkit.unavailable_reason(name, nd):
        pytest.skip(skelkit.unavailable_reason(name, nd))
    rng = np.random.default_rng(nd)
    shape = (48, 48) if nd == 2 else (16, 20, 20)
    img = ndimage.binary_opening(rng.random(shape) < 0.6)
    for arr in (img, img.astype(np.uint8) * 255):
        before = arr.copy()
        skelkit.skeletonize(arr, name)
        np.testing.assert_array_equal(arr, before)
    x = torch.from_numpy(img.astype(np.float32))[None, None]
    before = x.clone()
    skelkit.skeletonize(x, name)
    assert torch.equal(x, before)


def test_one_weights_loader_and_cache():
    from skelkit.models.skelite import load_model
    from skelkit.models.unet import load_unet
    from skelkit.models.weights import canonical_device

    for name, load in (("skelite", lambda dev: load_model(2, None, dev)), ("unet", lambda dev: load_unet(None, dev))):
        if skelkit.unavailable_reason(name, 2):
            continue
        assert load("cpu") is load(torch.device("cpu"))  # one copy per device, however it is named
    assert canonical_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(SkelkitError, match="no CUDA GPU"):
            canonical_device("cuda")
    else:
        assert canonical_device("cuda") == canonical_device("cuda:0")
