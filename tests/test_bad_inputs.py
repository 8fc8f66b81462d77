"""Every entry point a user reaches with tensors either returns a correct result or raises an
AadError that names what was wrong: hypothesis draws images of many kinds (good, wrong rank,
wrong channels, integer or bool dtypes, outside [0, 1], NaN, inf, empty) and labels (good, wrong
length, float, out of range) and feeds them to the attacks, Grad-CAM and the defenses."""
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aad_lib import attacks, attention, models
from aad_lib.defenses import transforms
from aad_lib.validation import AadError

torch.set_num_threads(1)
MODEL = models.create("lenet_small", size=12).eval()
IMAGE_KINDS = ["good", "rank3", "rank5", "channels", "uint8", "int64", "bool", "above", "below", "nan", "inf", "empty"]
LABEL_KINDS = ["good", "length", "float", "range"]


def make_images(kind: str, n: int) -> object:
    g = torch.Generator().manual_seed(n)
    x = torch.rand(n, 1, 12, 12, generator=g)
    return {"good": x, "rank3": x[:, 0], "rank5": x[..., None], "channels": x.expand(n, 2, 12, 12).contiguous(),
            "uint8": (x * 255).to(torch.uint8), "int64": (x * 255).long(), "bool": x > 0.5, "above": x + 1.0,
            "below": x - 1.0, "nan": x.clone().index_put_((torch.tensor([0]),), torch.tensor(float("nan"))),
            "inf": x.clone().index_put_((torch.tensor([0]),), torch.tensor(float("inf"))),
            "empty": x[:0]}[kind]


def make_labels(kind: str, n: int) -> torch.Tensor:
    y = torch.arange(n) % 10
    return {"good": y, "length": torch.arange(n + 1) % 10, "float": y.float(), "range": y + 10}[kind]


ENTRY_POINTS = {
    "fgsm": lambda x, y: attacks.fgsm(MODEL, x, y, 0.1),
    "pgd": lambda x, y: attacks.pgd(MODEL, x, y, 0.1, 0.05, 2),
    "pgd-l2-cw": lambda x, y: attacks.pgd(MODEL, x, y, 1.0, 0.5, 2, norm="l2", loss="cw"),
    "bim": lambda x, y: attacks.bim(MODEL, x, y, 0.1, steps=2),
    "step_ll": lambda x, y: attacks.step_ll(MODEL, x, y, 0.1),
    "r_step_ll": lambda x, y: attacks.r_step_ll(MODEL, x, y, 0.1),
    "iterated_step_ll": lambda x, y: attacks.iterated_step_ll(MODEL, x, y, 0.1, 0.05, 2, stop_when_fooled=True),
    "deepfool": lambda x, y: attacks.deepfool(MODEL, x, y, max_iter=2),
    "attention_attack": lambda x, y: attention.attention_deviation_attack(MODEL, x, y, 0.1, 0.05, 1),
    "gradcam": lambda x, y: attention.gradcam(MODEL, x, y),
}
TRANSFORMS = {
    "jpeg": transforms.make("jpeg", quality=75), "webp": transforms.make("webp", quality=60),
    "flip+webp": transforms.make("flip+webp", quality=60), "bitdepth": transforms.make("bitdepth", bits=3),
    "median": transforms.make("median", size=3), "flip": transforms.make("flip"),
}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entry=st.sampled_from(sorted(ENTRY_POINTS)), image_kind=st.sampled_from(IMAGE_KINDS),
       label_kind=st.sampled_from(LABEL_KINDS), n=st.integers(1, 3))
def test_attacks_and_gradcam_return_a_valid_result_or_a_clear_error(entry, image_kind, label_kind, n):
    x, y = make_images(image_kind, n), make_labels(label_kind, n)
    valid = image_kind == "good" and label_kind == "good"
    if not valid:
        with pytest.raises(AadError):
            ENTRY_POINTS[entry](x, y)
        return
    out = ENTRY_POINTS[entry](x, y)
    if entry == "gradcam":
        assert out.shape == (n, 3, 3) and (out >= 0).all()
        return
    assert out.shape == x.shape and out.dtype == x.dtype and 0 <= out.min() and out.max() <= 1
    if entry not in ("deepfool", "pgd-l2-cw"):
        assert (out - x).abs().max() <= 0.1 + 1e-6


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(TRANSFORMS)), image_kind=st.sampled_from(IMAGE_KINDS), n=st.integers(1, 3))
def test_defenses_return_a_valid_result_or_a_clear_error(name, image_kind, n):
    x = make_images(image_kind, n)
    codec = name in ("jpeg", "webp", "flip+webp")  # codecs take grey or colour; the others any channel count
    if image_kind not in ("good", "channels") or (image_kind == "channels" and codec):
        with pytest.raises(AadError):
            TRANSFORMS[name](x)
        return
    out = TRANSFORMS[name](x)
    assert out.shape == x.shape and out.dtype == x.dtype and 0 <= out.min() and out.max() <= 1


def test_errors_name_what_was_wrong():
    x, y = make_images("good", 2), make_labels("good", 2)
    for bad, pattern in ((make_images("above", 2), r"\[0, 1\]"), (make_images("nan", 2), "NaN"),
                         (make_images("uint8", 2), "float"), (make_images("rank3", 2), "shape")):
        with pytest.raises(AadError, match=pattern):
            attacks.pgd(MODEL, bad, y, 0.1, 0.05, 1)
    with pytest.raises(AadError, match=r"y must have shape \(2,\)"):
        attacks.pgd(MODEL, x, make_labels("length", 2), 0.1, 0.05, 1)
    with pytest.raises(AadError, match=r"y must lie in \[0, 10\)"):
        attacks.pgd(MODEL, x, make_labels("range", 2), 0.1, 0.05, 1)
    with pytest.raises(AadError, match="eps must be a finite number >= 0, got -0.1"):
        attacks.pgd(MODEL, x, y, -0.1, 0.05, 1)
    with pytest.raises(AadError, match="unknown norm 'l3'. Valid choices: l2, linf"):
        attacks.pgd(MODEL, x, y, 0.1, 0.05, 1, norm="l3")
