"""The classical methods through `skelkit.skeletonize`, numpy and torch, and bad-input errors."""

import numpy as np
import pytest
import torch

from skelkit.api import available_methods, skeletonize
from skelkit.api import get_method
from skelkit.core.thinning import thin
from skelkit.errors import SkelkitError

METHODS_2D = ["exact", "soft", "skimage", "medial_axis"]
METHODS_3D = ["exact", "soft", "skimage"]


def _rect(shape):
    img = np.zeros(shape, bool)
    img[tuple(slice(2, n - 2) for n in shape)] = True
    return img


@pytest.mark.parametrize("method, shape", [(m, (16, 21)) for m in METHODS_2D] + [(m, (9, 10, 14)) for m in METHODS_3D])
def test_numpy_in_bool_out(method, shape):
    img = _rect(shape)
    out = skeletonize(img, method=method)
    assert isinstance(out, np.ndarray) and out.dtype == bool and out.shape == shape
    assert 0 < out.sum() < img.sum()
    if method != "soft":
        assert not (out & ~img).any()
    out_u8 = skeletonize(img.astype(np.uint8) * 255, method=method)
    np.testing.assert_array_equal(out_u8, out)


def test_exact_is_thin_and_takes_max_iter():
    img = _rect((20, 25))
    np.testing.assert_array_equal(skeletonize(img), thin(img))
    np.testing.assert_array_equal(skeletonize(img, max_num_iter=1), thin(img, max_num_iter=1))
    grey = np.where(img, 0.8, 0.1)
    np.testing.assert_array_equal(skeletonize(grey, threshold=0.5), thin(img))


@pytest.mark.parametrize("method, shape", [(m, (2, 1, 16, 21)) for m in METHODS_2D] + [(m, (2, 1, 9, 10, 14)) for m in METHODS_3D])
def test_torch_in_tensor_out(method, shape):
    img = np.stack([_rect(shape[2:]), np.roll(_rect(shape[2:]), 1, axis=-1)])[:, None]
    x = torch.from_numpy(img.astype(np.float32)).requires_grad_(True)
    out = skeletonize(x, method=method, **({"num_iter": 8} if method == "soft" else {}))
    assert torch.is_tensor(out) and out.shape == x.shape and out.device == x.device
    assert out.dtype == x.dtype
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    if method in ("exact", "skimage", "medial_axis"):  # straight-through: d out / d x = 1 on kept pixels only
        kept = out.detach() > 0.5
        np.testing.assert_array_equal(kept[:, 0].numpy(), np.stack([get_method(method).function("numpy")(m) for m in img[:, 0]]))
        assert torch.all(x.grad[kept] == 1) and torch.all(x.grad[~kept] == 0)


def test_exact_torch_matches_numpy_and_bool_tensor():
    img = _rect((2, 1, 12, 15))
    img[1, 0, 5, :] = False
    out = skeletonize(torch.from_numpy(img), method="exact", max_num_iter=2)
    expected = np.stack([thin(m, max_num_iter=2) for m in img[:, 0]])
    np.testing.assert_array_equal(out[:, 0].numpy() > 0.5, expected)


@pytest.mark.parametrize("method", ["exact", "skimage"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.uint8, torch.bool])
def test_host_methods_on_every_tensor_dtype(method, dtype):
    """Tensors go to the host and back (skelkit.core.host): same skeleton, exact 0/1 values, the input's float dtype."""
    img = _rect((3, 1, 11, 14))
    img[1, 0, 4, :] = False
    img[2] = False
    want = np.stack([get_method(method).function("numpy")(m) for m in img[:, 0]])
    x = torch.from_numpy(img).to(dtype)
    out = skeletonize(x, method=method)
    assert out.dtype == (dtype if dtype.is_floating_point else torch.float32) and out.shape == x.shape
    np.testing.assert_array_equal(out.float().numpy(), want[:, None].astype(np.float32))


def test_soft_torch_is_soft_map():
    x = torch.rand(1, 1, 20, 20)
    out = skeletonize(x, method="soft", num_iter=3)
    assert out.dtype == torch.float32 and float(out.min()) >= 0 and float(out.max()) <= 1 + 1e-6


@pytest.mark.parametrize(
    "image, kwargs, match",
    [
        (np.zeros(10, bool), {}, "1 dimensions"),
        (np.zeros((2, 3, 4, 5), bool), {}, "4 dimensions"),
        (np.array([[0.0, np.nan], [1.0, 0.0]]), {}, "NaN"),
        (np.arange(12.0).reshape(3, 4), {}, "not binary"),
        (np.zeros((5, 5), bool), {"method": "nope"}, "unknown method"),
        (np.zeros((5, 5, 5), bool), {"method": "medial_axis"}, "supports"),
    ],
)
def test_bad_numpy_input(image, kwargs, match):
    with pytest.raises(SkelkitError, match=match):
        skeletonize(image, **kwargs)


@pytest.mark.parametrize(
    "x, kwargs, match",
    [
        (torch.zeros(4, 4), {}, "expected"),
        (torch.zeros(1, 2, 4, 4), {}, "expected"),
        (torch.full((1, 1, 4, 4), float("nan")), {}, "NaN"),
        (torch.zeros(1, 1, 4, 4, 4), {"method": "medial_axis"}, "supports"),
    ],
)
def test_bad_tensor_input(x, kwargs, match):
    with pytest.raises(SkelkitError, match=match):
        skeletonize(x, **kwargs)


def test_all_registered():
    for name in METHODS_2D:
        assert name in available_methods()
        assert get_method(name).name == name


@pytest.mark.parametrize("method", sorted(available_methods()))
def test_numpy_input_is_neither_copied_into_nor_returned(method):
    """A canonical bool input goes to the method without a copy, read-only; the result is a new array."""
    img = _rect((20, 23))
    img.flags.writeable = True
    before = img.copy()
    out = skeletonize(img, method=method)
    np.testing.assert_array_equal(img, before)
    assert img.flags.writeable and not np.may_share_memory(out, img)


def test_a_method_returning_its_input_gives_a_copy():
    import skelkit
    from skelkit._methods import register_method, unregister_method

    toy = skelkit.Method("toy_identity", "returns its input", numpy=lambda m: m, not_chunkable="toy")
    register_method(toy)
    try:
        img = _rect((6, 7))
        out = skeletonize(img, method="toy_identity")
        np.testing.assert_array_equal(out, img)
        assert not np.may_share_memory(out, img)
    finally:
        unregister_method("toy_identity")
