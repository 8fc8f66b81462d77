"""Every entry point a user reaches with tensors either returns a correct result or raises an
AadError that names what was wrong: hypothesis draws images of many kinds (good, wrong rank,
wrong channels, integer or bool dtypes, outside [0, 1], NaN, inf, empty) and labels (good, wrong
length, float, out of range) and feeds them to the attacks, Grad-CAM and the defenses.

Valid inputs are not left to chance: every entry point gets them in an explicit case on every run,
and the batteries draw them about a quarter (attacks) or half (defenses) of the time. Each bad kind
maps to the message its error must carry, so an error about something else does not pass."""
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aad_lib import attacks, attention, models
from aad_lib.defenses import transforms
from aad_lib.validation import AadError

# Fixed weights whatever ran before this module was collected. Seeds 1-5 all give every attack a
# gradient to follow and every Grad-CAM map a positive cell on the valid inputs below; seed 0's
# untrained LeNet has an all-negative map on one image (the ReLU makes it 0), a legitimate result.
with torch.random.fork_rng():
    torch.manual_seed(1)
    MODEL = models.create("lenet_small", size=12).eval()
IMAGE_KINDS = ["good", "rank3", "rank5", "channels", "uint8", "int64", "bool", "above", "below", "nan", "inf", "empty"]
LABEL_KINDS = ["good", "length", "float", "range"]

# What the AadError must say for each bad kind ({n}: the number of images, {m}: of labels drawn).
IMAGE_ERRORS = {
    "rank3": r"x must have shape \(N, C, H, W\), got \({n}, 12, 12\)",
    "rank5": r"x must have shape \(N, C, H, W\), got \({n}, 1, 12, 12, 1\)",
    "channels": r"the model takes floating images of shape \(N, 1, H, W\) .*got torch.float32 \({n}, 2, 12, 12\)",
    "uint8": r"x must be a floating tensor in \[0, 1\], got dtype torch.uint8",
    "int64": r"x must be a floating tensor in \[0, 1\], got dtype torch.int64",
    "bool": r"x must be a floating tensor in \[0, 1\], got dtype torch.bool",
    "above": r"x must lie in \[0, 1\] .*got values in \[1[.,]",
    "below": r"x must lie in \[0, 1\] .*got values in \[-0",
    "nan": r"x contains NaN",
    "inf": r"x must lie in \[0, 1\] .*got values in \[.*, inf\]",
    "empty": r"x is empty \(shape \(0, 1, 12, 12\)\)",
}
LABEL_ERRORS = {
    "length": r"y must have shape \({n},\) to match the images, got \({m},\)",
    "float": r"y must be an integer torch.Tensor of class indices, got torch.float32",
    "range": r"y must lie in \[0, 10\), got \[10, 1[0-2]\]",
}
BAD_IMAGES, BAD_LABELS = sorted(IMAGE_ERRORS), sorted(LABEL_ERRORS)
assert set(IMAGE_KINDS) == {"good", *BAD_IMAGES} and set(LABEL_KINDS) == {"good", *BAD_LABELS}


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


def expected_error(image_kind: str, label_kind: str, n: int) -> str:
    """The pattern the error must match; with both inputs bad, naming either problem is right."""
    wanted = [IMAGE_ERRORS[image_kind]] if image_kind != "good" else []
    wanted += [LABEL_ERRORS[label_kind]] if label_kind != "good" else []
    return "|".join(f"(?:{p.format(n=n, m=n + 1)})" for p in wanted)


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
# the ball each attack's result must stay in around x (deepfool is unbounded; Grad-CAM returns maps)
BALLS = {"fgsm": ("linf", 0.1), "pgd": ("linf", 0.1), "pgd-l2-cw": ("l2", 1.0), "bim": ("linf", 0.1),
         "step_ll": ("linf", 0.1), "r_step_ll": ("linf", 0.1), "iterated_step_ll": ("linf", 0.1),
         "attention_attack": ("linf", 0.1)}
TRANSFORMS = {
    "jpeg": transforms.make("jpeg", quality=75), "webp": transforms.make("webp", quality=60),
    "flip+webp": transforms.make("flip+webp", quality=60), "bitdepth": transforms.make("bitdepth", bits=3),
    "median": transforms.make("median", size=3), "flip": transforms.make("flip"),
}
CODECS = {"jpeg": "jpeg", "webp": "webp", "flip+webp": "webp"}  # these take grey or colour only


def model_state():
    return {k: v.clone() for k, v in MODEL.state_dict().items()}


def assert_model_untouched(before):
    """Weights and buffers as before, still in eval mode, no parameter gradient written, none frozen."""
    after = MODEL.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not MODEL.training
    assert all(p.grad is None and p.requires_grad for p in MODEL.parameters())


def assert_valid_result(entry, x, y, out):
    """A map of the right shape for Grad-CAM; for an attack an image batch like x (shape, dtype,
    finite, [0, 1]) inside the attack's eps ball around x."""
    n = x.shape[0]
    assert torch.isfinite(out).all()
    if entry == "gradcam":
        assert out.shape == (n, 3, 3) and out.dtype == x.dtype and (out >= 0).all()
        return
    assert out.shape == x.shape and out.dtype == x.dtype and 0 <= out.min() and out.max() <= 1
    if entry in BALLS:
        norm, eps = BALLS[entry]
        delta = (out - x).flatten(1)
        size = delta.abs().amax(1) if norm == "linf" else delta.norm(dim=1)
        assert (size <= eps + 1e-5).all(), (norm, size.tolist())


@pytest.mark.parametrize("n", [1, 3])
@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_every_entry_point_returns_a_valid_result_on_valid_input(entry, n):
    """Catches an entry point that rejects valid input, returns a wrong shape, dtype or range, leaves
    its eps ball, returns the input unchanged (labels are the model's predictions, so every attack
    has something to do and every Grad-CAM map something to show), or writes into the input or the
    model (weights, train mode, parameter gradients, requires_grad)."""
    x = make_images("good", n)
    with torch.no_grad():
        y = MODEL(x).argmax(1)
    x_before, before = x.clone(), model_state()
    out = ENTRY_POINTS[entry](x, y)
    assert_valid_result(entry, x, y, out)
    assert torch.equal(x, x_before)
    assert_model_untouched(before)
    if entry == "gradcam":
        assert (out.flatten(1).amax(1) > 0).all()
    else:
        assert ((out - x).flatten(1).abs().amax(1) > 0).all(), "the attack returned its input"


# a quarter of the draws are valid; the rest has the images, the labels or both bad
CASES = st.one_of(st.just(("good", "good")),
                  st.tuples(st.sampled_from(BAD_IMAGES), st.just("good")),
                  st.tuples(st.just("good"), st.sampled_from(BAD_LABELS)),
                  st.tuples(st.sampled_from(BAD_IMAGES), st.sampled_from(BAD_LABELS)))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entry=st.sampled_from(sorted(ENTRY_POINTS)), case=CASES, n=st.integers(1, 3))
def test_attacks_and_gradcam_return_a_valid_result_or_a_clear_error(entry, case, n):
    """Catches an entry point that accepts a bad input (silently computing on it), fails with
    something other than an AadError, or raises an AadError about another problem than the one in
    its input; and, on the valid draws, returns an invalid result. Neither path may change the
    input or the model (an attack that raises half-way must not leave it in train mode)."""
    image_kind, label_kind = case
    x, y = make_images(image_kind, n), make_labels(label_kind, n)
    before = model_state()
    if case != ("good", "good"):
        with pytest.raises(AadError, match=expected_error(image_kind, label_kind, n)):
            ENTRY_POINTS[entry](x, y)
    else:
        x_before = x.clone()
        assert_valid_result(entry, x, y, ENTRY_POINTS[entry](x, y))
        assert torch.equal(x, x_before)
    assert_model_untouched(before)


def transform_is_valid_for(name: str, image_kind: str) -> bool:
    return image_kind == "good" or (image_kind == "channels" and name not in CODECS)


def transform_error(name: str, image_kind: str, n: int) -> str:
    if image_kind == "channels":  # only the codecs refuse two channels; no model is involved
        return rf"{CODECS[name]} needs images with 1 \(grey\) or 3 \(colour\) channels, got 2 \(shape \({n}, 2, 12, 12\)\)"
    return IMAGE_ERRORS[image_kind].format(n=n)


@pytest.mark.parametrize("image_kind", ["good", "channels"])
@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_every_defense_returns_a_valid_result_on_valid_input(name, image_kind):
    """Catches a defense that rejects valid input (grey or colour for the codecs, any channel count
    for the others) or returns the wrong shape, dtype or range, or writes into its input; for the
    codecs, also one that accepts a channel count it cannot encode, with a message naming it."""
    x = make_images(image_kind, 3)
    x_before = x.clone()
    if not transform_is_valid_for(name, image_kind):
        with pytest.raises(AadError, match=transform_error(name, image_kind, 3)):
            TRANSFORMS[name](x)
        return
    out = TRANSFORMS[name](x)
    assert out.shape == x.shape and out.dtype == x.dtype and 0 <= out.min() and out.max() <= 1
    assert torch.equal(x, x_before)


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(TRANSFORMS)), image_kind=st.one_of(st.just("good"), st.sampled_from(BAD_IMAGES)),
       n=st.integers(1, 3))
def test_defenses_return_a_valid_result_or_a_clear_error(name, image_kind, n):
    """Catches a defense that accepts a bad input, fails with something other than an AadError, or
    names another problem than the one in its input; on valid draws, returns an invalid result."""
    x = make_images(image_kind, n)
    if not transform_is_valid_for(name, image_kind):
        with pytest.raises(AadError, match=transform_error(name, image_kind, n)):
            TRANSFORMS[name](x)
        return
    out = TRANSFORMS[name](x)
    assert out.shape == x.shape and out.dtype == x.dtype and 0 <= out.min() and out.max() <= 1


def test_errors_name_what_was_wrong():
    """Catches error messages that lose the detail a user needs (the range, the dtype, the shape,
    the expected label shape or range, the bad value, the valid choices)."""
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
