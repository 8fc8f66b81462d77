"""Input-transformation defenses: codecs against Pillow itself, flip, bit depth and median by hand
(median also against scipy, the feature-squeezing authors' implementation), the registry, the
defended model, and PSNR/SSIM."""
import io
import math
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from scipy import ndimage
from torch import nn

from aad_lib import defenses
from aad_lib.defenses import Defended, bit_depth, encoded_bytes, hflip, jpeg, make, median, psnr, ssim, webp, webp_flip
from aad_lib.validation import AadError


def natural(n: int = 1, c: int = 3, h: int = 48, w: int = 40, seed: int = 0) -> torch.Tensor:
    """Natural-ish images: smooth colour waves, a disc edge and a little noise, in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    images = []
    for i in range(n):
        base = torch.stack([0.5 + 0.4 * torch.sin(6 * xx + k + i) * torch.cos(4 * yy - k) for k in range(c)])
        disc = (((xx - 0.3) ** 2 + (yy - 0.6) ** 2) < 0.05).float()
        images.append(0.7 * base + 0.25 * disc + 0.04 * torch.randn(c, h, w, generator=g))
    return torch.stack(images).clamp(0, 1)


def quantised(x: torch.Tensor) -> torch.Tensor:
    return torch.round(x * 255) / 255


def pillow_roundtrip(x: torch.Tensor, fmt: str, **kwargs) -> torch.Tensor:
    """Pillow's own encode/decode of the uint8 image, defaults except ``kwargs``."""
    out = []
    for image in torch.round(x * 255).to(torch.uint8):
        array = image.permute(1, 2, 0).numpy()
        grey = array.shape[2] == 1
        buffer = io.BytesIO()
        Image.fromarray(array[:, :, 0] if grey else array).save(buffer, fmt, **kwargs)
        decoded = Image.open(io.BytesIO(buffer.getvalue())).convert("L" if grey else "RGB")
        out.append(torch.from_numpy(np.asarray(decoded).reshape(array.shape).copy()).permute(2, 0, 1))
    return torch.stack(out).float() / 255


# --- codecs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("c", [1, 3])
def test_lossless_webp_is_the_quantised_image(c):
    x = torch.rand(3, c, 13, 17, generator=torch.Generator().manual_seed(c))
    assert torch.equal(webp(x, 100, lossless=True), quantised(x))


@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("quality", [10, 75, 95])
def test_jpeg_equals_pillow(c, quality):
    x = natural(2, c, 24, 35)
    assert torch.equal(jpeg(x, quality), pillow_roundtrip(x, "JPEG", quality=quality))


@pytest.mark.parametrize("c", [1, 3])
def test_lossy_webp_equals_pillow_and_changes_the_image(c):
    x = natural(2, c, 24, 35)
    out = webp(x, 60)
    assert torch.equal(out, pillow_roundtrip(x, "WEBP", quality=60))
    assert not torch.equal(out, quantised(x))
    assert psnr(x, out).min() > 20  # lossy, but still the same picture


def test_codec_output_has_no_gradient():
    x = natural().requires_grad_(True)
    for out in (webp(x, 60), jpeg(x, 60)):
        assert not out.requires_grad and out.grad_fn is None


def test_encoded_bytes_grow_with_quality():
    x = natural(2, 3, 64, 64)
    for codec in defenses.CODECS:
        sizes = torch.stack([encoded_bytes(x, codec, q) for q in (10, 30, 50, 70, 90)])
        assert sizes.dtype == torch.int64 and sizes.shape == (5, 2)
        assert (sizes.diff(dim=0) > 0).all(), (codec, sizes)
    # the counted bytes are the bytes Pillow writes
    buffer = io.BytesIO()
    Image.fromarray(torch.round(x[0] * 255).to(torch.uint8).permute(1, 2, 0).numpy()).save(buffer, "JPEG", quality=50)
    assert encoded_bytes(x[:1], "jpeg", 50).item() == len(buffer.getvalue())


# --- flip, webp + flip ----------------------------------------------------------------------


def test_flip_is_left_right_and_its_own_inverse():
    x = torch.arange(6.0).view(1, 1, 2, 3) / 5
    assert torch.equal(hflip(x), torch.tensor([[[[2.0, 1.0, 0.0], [5.0, 4.0, 3.0]]]]) / 5)
    y = natural(3, 3, 9, 10)
    assert torch.equal(hflip(hflip(y)), y)


def test_webp_flip_orders():
    x = natural(2, 3, 24, 35)
    flip_first, webp_first = webp_flip(x, 60, "flip_first"), webp_flip(x, 60, "webp_first")
    assert torch.equal(flip_first, webp(hflip(x), 60))
    assert torch.equal(webp_first, hflip(webp(x, 60)))
    assert torch.equal(webp_flip(x, 60), flip_first)  # default: the authors' order
    assert flip_first.shape == webp_first.shape == x.shape
    assert not torch.equal(flip_first, webp_first)  # lossy WebP is not flip-equivariant
    # lossless WebP commutes with the flip
    lossless = [webp_flip(x, 100, order, lossless=True) for order in defenses.ORDERS]
    assert torch.equal(lossless[0], lossless[1]) and torch.equal(lossless[0], hflip(quantised(x)))


# --- bit depth, median ----------------------------------------------------------------------


def test_bit_depth_by_hand():
    x = torch.tensor([0.0, 0.49, 0.51, 1.0]).view(1, 1, 1, 4)
    assert torch.equal(bit_depth(x, 1), torch.tensor([0.0, 0.0, 1.0, 1.0]).view(1, 1, 1, 4))
    # 3 bits: 7 levels apart; 0.2*7 = 1.4 -> 1, 0.3*7 = 2.1 -> 2, 0.5*7 = 3.5 -> 4 (half to even), 0.95*7 = 6.65 -> 7
    x = torch.tensor([0.2, 0.3, 0.5, 0.95]).view(1, 1, 2, 2)
    assert torch.allclose(bit_depth(x, 3), torch.tensor([1.0, 2.0, 4.0, 7.0]).view(1, 1, 2, 2) / 7)
    y = torch.rand(2, 3, 5, 5)
    assert torch.equal(bit_depth(y, 8), quantised(y))


def test_median_removes_an_isolated_salt_pixel():
    x = torch.full((1, 1, 5, 5), 0.25)
    x[0, 0, 2, 2] = 1.0
    for size in (2, 3, 5):
        assert torch.equal(median(x, size), torch.full_like(x, 0.25)), size
    # 3x3 by hand, borders reflected with the edge repeated: the corner window is
    # [a a b; a a b; d d e] for the image [a b c; d e f; g h i]
    y = torch.tensor([[0.1, 0.9, 0.2], [0.8, 0.3, 0.7], [0.4, 0.6, 0.5]]).view(1, 1, 3, 3)
    corner = sorted([0.1, 0.1, 0.9, 0.1, 0.1, 0.9, 0.8, 0.8, 0.3])[4]
    centre = sorted(y.flatten().tolist())[4]
    out = median(y, 3)
    assert out[0, 0, 0, 0].item() == pytest.approx(corner) and out[0, 0, 1, 1].item() == pytest.approx(centre)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 3), c=st.sampled_from([1, 3]), h=st.integers(1, 9), w=st.integers(1, 9),
       size=st.integers(1, 6), seed=st.integers(0, 2 ** 16))
def test_median_matches_scipy_feature_squeezing(n, c, h, w, size, seed):
    """Xu et al.'s code: scipy.ndimage.median_filter(size=(1, size, size, 1), mode="reflect")."""
    x = torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed))
    expected = ndimage.median_filter(x.numpy(), size=(1, 1, size, size), mode="reflect")
    assert np.array_equal(median(x, size).numpy(), expected)


def test_median_and_flip_are_differentiable():
    x = natural(1, 1, 8, 8).requires_grad_(True)
    (grad,) = torch.autograd.grad(median(hflip(x), 3).sum(), x)
    assert grad.abs().sum() > 0


# --- every transform: shapes, dtypes, registry ----------------------------------------------

EXAMPLES = [("none", {}), ("webp", {"quality": 60}), ("webp", {"quality": 100, "lossless": True}),
            ("jpeg", {"quality": 75}), ("flip", {}), ("webp+flip", {"quality": 60}),
            ("flip+webp", {"quality": 60}), ("bitdepth", {"bits": 4}), ("median", {"size": 2})]


@settings(max_examples=20, deadline=None)
@given(example=st.sampled_from(EXAMPLES), n=st.integers(1, 4), c=st.sampled_from([1, 3]),
       h=st.integers(1, 20), w=st.integers(1, 20), dtype=st.sampled_from([torch.float32, torch.float64]))
def test_every_transform_keeps_shape_dtype_device_and_range(example, n, c, h, w, dtype):
    x = torch.rand(n, c, h, w, dtype=dtype, generator=torch.Generator().manual_seed(n * h * w))
    out = make(example[0], **example[1])(x)
    assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device
    assert 0 <= out.min() and out.max() <= 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_every_transform_stays_on_the_gpu():
    x = natural(2, 3, 16, 16).cuda()
    for name, params in EXAMPLES:
        assert make(name, **params)(x).device == x.device


def test_make_builds_the_functions():
    x = natural(2, 3, 20, 21)
    assert torch.equal(make("webp", quality=60)(x), webp(x, 60))
    assert torch.equal(make("jpeg", quality=30)(x), jpeg(x, 30))
    assert torch.equal(make("flip")(x), hflip(x))
    assert torch.equal(make("webp+flip", quality=60)(x), webp_flip(x, 60, "webp_first"))
    assert torch.equal(make("flip+webp", quality=60)(x), webp_flip(x, 60, "flip_first"))
    assert torch.equal(make("bitdepth", bits=3)(x), bit_depth(x, 3))
    assert torch.equal(make("median", size=3)(x), median(x, 3))
    assert make("none")(x) is x
    assert make("webp", quality=60) == make("webp", quality=60, lossless=False) != make("webp", quality=61)
    assert {make(name, **params).label for name, params in EXAMPLES} == {
        "no defense", "WebP q60", "WebP lossless", "JPEG q75", "flip", "WebP q60 + flip", "flip + WebP q60",
        "4-bit", "median 2x2"}
    assert repr(make("median", size=2)) == "make('median', size=2)"
    assert [make(name, **params).differentiable for name, params in EXAMPLES] == [
        True, False, False, False, True, False, False, False, True]


@pytest.mark.parametrize("call, message", [
    (lambda x: webp(x, 101), "got 101"), (lambda x: webp(x, -1), "got -1"), (lambda x: jpeg(x, 60.5), "got 60.5"),
    (lambda x: jpeg(x, True), "got True"), (lambda x: webp(x, 60, lossless="yes"), "got 'yes'"),
    (lambda x: bit_depth(x, 0), "got 0"), (lambda x: bit_depth(x, 9), "got 9"), (lambda x: median(x, 0), "got 0"),
    (lambda x: median(x, 2.0), "got 2.0"), (lambda x: webp_flip(x, 60, "sideways"), "sideways"),
    (lambda x: encoded_bytes(x, "png", 50), "png"), (lambda x: encoded_bytes(x, "jpeg", 200), "got 200"),
    (lambda x: webp(torch.rand(1, 2, 8, 8), 60), "webp needs images with 1 (grey) or 3 (colour) channels, got 2"),
    (lambda x: jpeg(x * 2, 60), "[0, 1]"),
    (lambda x: hflip(x[0]), "(N, C, H, W)"), (lambda x: median((x * 255).to(torch.uint8), 3), "uint8"),
    (lambda x: make("wepb", quality=60), "Did you mean 'webp'"),
    (lambda x: make("webp", qualty=60), "Did you mean 'quality'"),
    (lambda x: make("flip", quality=60), "takes no parameters"),
    (lambda x: make("median"), "needs size"), (lambda x: make("jpeg", quality=150), "got 150"),
    (lambda x: psnr(x, x[:, :1]), "same shape"), (lambda x: ssim(x[:, :, :8, :8], x[:, :, :8, :8]), "8x8"),
    (lambda x: psnr(x, x, data_range=0), "data_range"), (lambda x: Defended(hflip, hflip), "nn.Module"),
])
def test_bad_input_names_the_bad_value(call, message):
    with pytest.raises(AadError, match=re.escape(message)):
        call(natural(1, 3, 16, 16))


# --- defended model -------------------------------------------------------------------------


class TinyNet(nn.Module):
    num_classes = 4

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten(), nn.LazyLinear(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def test_defended_model_is_model_after_transform():
    model, x = TinyNet().eval(), natural(3, 3, 12, 12)
    defended = Defended(model, make("flip"))
    assert torch.equal(defended(x), model(hflip(x)))
    assert defended.num_classes == 4 and "flip" in repr(defended)
    defended.train()
    assert model.training
    assert not hasattr(Defended(nn.Identity(), hflip), "num_classes")
    # flip is differentiable; through a codec the input gets no gradient at all (BPDA's job)
    x.requires_grad_(True)
    (grad,) = torch.autograd.grad(defended(x).sum(), x)
    assert grad.abs().sum() > 0
    codec = Defended(model, make("flip+webp", quality=60))
    assert torch.autograd.grad(codec(x).sum(), x, allow_unused=True) == (None,)


# --- quality metrics ------------------------------------------------------------------------


def test_psnr_by_hand():
    x = torch.full((2, 3, 4, 5), 0.3)
    y = x + 0.1  # MSE 0.01 -> 10 log10(1 / 0.01) = 20 dB
    y[1] = x[1]
    out = psnr(x, y)
    assert out[0].item() == pytest.approx(20.0, abs=1e-5) and math.isinf(out[1].item()) and out[1] > 0
    assert psnr(x[:1], y[:1], data_range=2.0).item() == pytest.approx(20 + 20 * math.log10(2), abs=1e-5)


def test_ssim_by_hand_and_under_noise():
    x = natural(2, 3, 32, 32)
    assert torch.allclose(ssim(x, x), torch.ones(2, dtype=torch.float64))
    # constant images: no structure, only the luminance term (2ab + C1) / (a^2 + b^2 + C1)
    a, b, c1 = 0.2, 0.6, 0.01 ** 2
    value = ssim(torch.full((1, 1, 11, 11), a), torch.full((1, 1, 11, 11), b)).item()
    assert value == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1), rel=1e-5)
    g = torch.Generator().manual_seed(0)
    small = (x + 0.02 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    large = (x + 0.2 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    s_small, s_large = ssim(x, small), ssim(x, large)
    assert (s_small < 1).all() and (s_large < s_small).all() and (s_large > -1).all()
    assert (psnr(x, large) < psnr(x, small)).all()
