"""DeepFool (closed form on linear models, fooling rate, batching), BIM (= PGD without random
start) and BPDA (gradients through non-differentiable transforms, white-box PGD on a defence).
The contract they share with every attack (range, eps ball, model untouched, mode restored,
no_grad) is tested in tests/test_attack_contract.py."""
import pytest
import torch
from torch import nn

from aad_lib.attacks import pgd
from aad_lib.attacks.bim import bim, kurakin_schedule
from aad_lib.attacks.bpda import BPDADefended, bpda
from aad_lib.attacks.deepfool import PERT_FLOOR, deepfool, deepfool_with_info
from aad_lib.models import Normalize
from aad_lib.validation import AadError

OVERSHOOT = 0.02


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """The models here are tiny: one intra-op thread is fastest, and on a busy 2-core machine two
    threads spin against each other (measured: a 16-image pass 2 ms on one thread, 130 ms on two)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class Linear(nn.Module):
    """logits = W flatten(x) + b, fixed weights, float64."""

    def __init__(self, num_classes: int, dim: int, seed: int):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.fc = nn.Linear(dim, num_classes).double()
        with torch.no_grad():
            self.fc.weight.copy_(torch.randn(num_classes, dim, generator=g, dtype=torch.float64))
            self.fc.bias.copy_(torch.randn(num_classes, generator=g, dtype=torch.float64))
        self.num_classes = num_classes

    def forward(self, x):
        return self.fc(x.flatten(1))


def conv_net(seed: int = 0, dtype=torch.float32) -> nn.Module:
    """A small random conv net for 1x12x12 images (no num_classes attribute on purpose)."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(8 * 6 * 6, 10)).to(dtype).eval()


def images(n: int, seed: int = 1, dtype=torch.float32) -> torch.Tensor:
    return torch.rand(n, 1, 12, 12, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def mid_images(n: int, seed: int = 2) -> torch.Tensor:
    """float64 images in [0.4, 0.6]: a small step never reaches the [0, 1] clip."""
    return 0.4 + 0.2 * images(n, seed, torch.float64)


class Composed(nn.Module):
    """model(transform(x)) with autograd's own (here: zero) gradients."""

    def __init__(self, model, transform):
        super().__init__()
        self.model, self.transform = model, transform

    def forward(self, x):
        return self.model(self.transform(x))


def predict(model, x):
    with torch.no_grad():
        return model(x).argmax(1)


# DeepFool ------------------------------------------------------------------------------------

def test_deepfool_first_step_is_the_binary_closed_form():
    model = Linear(2, 144, seed=0)
    x = mid_images(6)
    label = predict(model, x)
    with torch.no_grad():
        logits = model(x)
    other = 1 - label
    w = model.fc.weight[other] - model.fc.weight[label]  # (N, D): gradient of f = z_other - z_label
    f = logits.gather(1, other[:, None]).squeeze(1) - logits.gather(1, label[:, None]).squeeze(1)
    norm = w.norm(dim=1, keepdim=True)
    r = -f[:, None] * w / norm ** 2  # the minimal perturbation onto the hyperplane f = 0
    with torch.no_grad():  # x + r lies on the boundary
        at = model(x + r.view_as(x))
    assert torch.allclose(at[:, 0], at[:, 1], atol=1e-9)

    x_adv, iters = deepfool_with_info(model, x, num_candidates=2, overshoot=OVERSHOOT, max_iter=1)
    expected = (1 + OVERSHOOT) * (r + PERT_FLOOR * w / norm)  # the reference's ``pert + 1e-4``
    assert torch.allclose((x_adv - x).flatten(1), expected, atol=1e-9)
    assert torch.allclose((x_adv - x).flatten(1).norm(dim=1), (1 + OVERSHOOT) * (r.norm(dim=1) + PERT_FLOOR))
    assert (predict(model, x_adv) != label).all() and (iters == 1).all()


@pytest.mark.parametrize("num_candidates", [3, 5])
def test_deepfool_first_step_is_the_multiclass_closed_form(num_candidates):
    model = Linear(5, 144, seed=3)
    x = mid_images(8, seed=4)
    with torch.no_grad():
        logits = model(x)
    x_adv, iters = deepfool_with_info(model, x, num_candidates=num_candidates, overshoot=OVERSHOOT, max_iter=1)
    W = model.fc.weight.detach()
    for i in range(len(x)):
        ranked = logits[i].argsort(descending=True).tolist()
        label, others = ranked[0], ranked[1:num_candidates]
        dist = {k: (logits[i, k] - logits[i, label]).abs() / (W[k] - W[label]).norm() for k in others}
        k = min(others, key=lambda c: dist[c])  # Alg. 2, line 6: the closest linearised boundary
        w = W[k] - W[label]
        r = (dist[k] + PERT_FLOOR) * w / w.norm()
        assert torch.allclose((x_adv[i] - x[i]).flatten(), (1 + OVERSHOOT) * r, atol=1e-9)
    assert (iters == 1).all()
    assert (predict(model, x_adv) != logits.argmax(1)).all()  # a linear model is fooled in one step


def reference_deepfool(net, image, num_classes=10, overshoot=0.02, max_iter=50):
    """A transcription of the LTS4 reference (``Python/deepfool.py``), one image, no clipping:
    one backward per class, the gradient difference, ``(pert + 1e-4) * w / ||w||``."""
    f_image = net(image[None]).detach().flatten()
    order = f_image.argsort(descending=True)[:num_classes]
    label = order[0]
    r_tot = torch.zeros_like(image)
    x = image[None].clone().requires_grad_(True)
    fs = net(x)
    k_i, loop_i = label, 0
    while k_i == label and loop_i < max_iter:
        pert, w = float("inf"), None
        (grad_orig,) = torch.autograd.grad(fs[0, order[0]], x, retain_graph=True)
        for k in range(1, num_classes):
            (cur_grad,) = torch.autograd.grad(fs[0, order[k]], x, retain_graph=True)
            w_k = cur_grad - grad_orig
            f_k = (fs[0, order[k]] - fs[0, order[0]]).detach()
            pert_k = f_k.abs() / w_k.norm()
            if pert_k < pert:
                pert, w = pert_k, w_k
        r_tot = r_tot + ((pert + 1e-4) * w / w.norm())[0]
        x = (image + (1 + overshoot) * r_tot)[None].requires_grad_(True)
        fs = net(x)
        k_i = fs.detach().argmax()
        loop_i += 1
    return x.detach()[0], loop_i


def test_deepfool_matches_the_reference_code():
    # (x - 0.5) / 0.05 in front: steps of a few hundredths, so no iterate leaves [0, 1]
    model = nn.Sequential(Normalize((0.5,), (0.05,)), conv_net(seed=7)).double().eval()
    x = mid_images(18, seed=8)
    x_adv, iters = deepfool_with_info(model, x, overshoot=OVERSHOOT, max_iter=50)
    for i in range(len(x)):
        ref, loop_i = reference_deepfool(model, x[i], overshoot=OVERSHOOT)
        assert ref.min() > 0 and ref.max() < 1  # the [0, 1] clip never acted: the two must agree
        assert iters[i].item() == loop_i
        assert torch.allclose(x_adv[i], ref, atol=1e-9)


def test_deepfool_fools_a_conv_net_with_small_perturbations():
    model = conv_net()
    x = images(24)
    x_adv = deepfool(model, x)
    assert (predict(model, x_adv) != predict(model, x)).float().mean() >= 0.9
    # minimal perturbations: far smaller than the image itself
    assert (x_adv - x).flatten(1).norm(dim=1).median() < 0.25 * x.flatten(1).norm(dim=1).median()


def test_deepfool_batch_equals_one_image_at_a_time():
    """The batched bookkeeping (settled rows stop, the batch shrinks) changes nothing per image."""
    model = conv_net(seed=5, dtype=torch.float64)
    x = images(20, seed=6, dtype=torch.float64)
    x_adv, iters = deepfool_with_info(model, x, max_iter=30)
    assert iters.min() < iters.max()  # images settle at different steps
    for i in range(len(x)):
        one, it = deepfool_with_info(model, x[i:i + 1], max_iter=30)
        assert it.item() == iters[i].item()
        assert torch.allclose(one[0], x_adv[i], atol=1e-10)


def test_deepfool_with_labels_moves_away_from_y():
    model = conv_net(dtype=torch.float64)
    x = images(8, dtype=torch.float64)
    pred = predict(model, x)
    y = pred.clone()
    y[:3] = (pred[:3] + 1) % 10  # these three are misclassified already: returned unchanged
    x_adv, iters = deepfool_with_info(model, x, y)
    assert torch.equal(x_adv[:3], x[:3]) and (iters[:3] == 0).all()
    assert torch.allclose(x_adv[3:], deepfool(model, x[3:]), atol=1e-10)  # y = prediction: as without y


def test_deepfool_max_iter_bounds_the_steps():
    model = conv_net()
    x = images(8)
    _, iters = deepfool_with_info(model, x, max_iter=2)
    assert iters.min() >= 1 and iters.max() <= 2


# BIM -------------------------------------------------------------------------------------------

def test_bim_is_pgd_without_random_start():
    model = conv_net()
    x = images(16)
    y = predict(model, x)
    for eps, alpha, steps, stop in [(0.1, 0.02, 7, False), (0.1, None, 10, False), (0.05, None, 5, True)]:
        x_bim = bim(model, x, y, eps, alpha, steps, stop_when_fooled=stop)
        x_pgd = pgd(model, x, y, eps, alpha if alpha is not None else eps / steps, steps, random_start=False,
                    stop_when_fooled=stop)
        assert torch.equal(x_bim, x_pgd)
        assert x_bim.min() >= 0 and x_bim.max() <= 1
        assert (x_bim - x).abs().max() <= eps + 1e-6
    assert torch.equal(bim(model, x, y, 0.0), x) and torch.equal(bim(model, x, y, 0.1, steps=0), x)


def test_kurakin_schedule():
    assert kurakin_schedule(8 / 255) == (1 / 255, 10)  # min(8 + 4, 1.25 * 8)
    assert kurakin_schedule(16 / 255) == (1 / 255, 20)
    assert kurakin_schedule(0.3) == (1 / 255, 80)  # min(76.5 + 4, 95.6), floored
    assert kurakin_schedule(0.0) == (1 / 255, 0)


# BPDA ------------------------------------------------------------------------------------------

def quantise(x):
    return torch.round(x * 7) / 7


def test_bpda_identity_passes_the_gradient_through_round():
    model = conv_net(dtype=torch.float64)
    x = images(4, dtype=torch.float64)
    y = predict(model, x)
    loss = nn.functional.cross_entropy

    x1 = x.clone().requires_grad_(True)
    (masked,) = torch.autograd.grad(loss(model(quantise(x1)), y), x1)
    assert torch.count_nonzero(masked) == 0  # torch.round: the obfuscated (zero) gradient

    x2 = x.clone().requires_grad_(True)
    z = bpda(quantise)(x2)
    assert torch.equal(z, quantise(x))  # the forward pass is exact
    (through,) = torch.autograd.grad(loss(model(z), y), x2)
    z_ref = quantise(x).requires_grad_(True)
    (reference,) = torch.autograd.grad(loss(model(z_ref), y), z_ref)  # identity pipeline at g(x)
    assert torch.count_nonzero(through) > 0
    assert torch.equal(through, reference)


def test_bpda_backward_is_the_approximations_vjp():
    x = images(3, dtype=torch.float64).requires_grad_(True)
    upstream = torch.randn(x.shape, generator=torch.Generator().manual_seed(9), dtype=torch.float64)

    def approximation(v):
        return torch.sigmoid(4 * (v - 0.5))

    z = bpda(quantise, approximation)(x)
    assert torch.equal(z, quantise(x.detach()))
    (grad,) = torch.autograd.grad((z * upstream).sum(), x)
    s = approximation(x.detach())
    assert torch.allclose(grad, upstream * 4 * s * (1 - s), atol=1e-12)

    # a shape-changing transform with a matching differentiable approximation
    def crop(v):
        return v[:, :, 2:-2, 2:-2]

    z = bpda(lambda v: torch.round(crop(v) * 3) / 3, crop)(x)
    (grad,) = torch.autograd.grad(z.sum(), x)
    assert grad[:, :, 2:-2, 2:-2].eq(1).all() and grad.sum() == z.numel()


def test_pgd_on_a_bpda_defended_pipeline():
    """WebP+flip in miniature: quantise the flipped image. Naive PGD sees zero gradients, a
    grey-box attack (crafted on the bare model) is flipped away, BPDA (flip as the approximation)
    breaks the defence, and every result stays in the eps ball."""
    model = conv_net(seed=3)

    def flip(v):
        return torch.flip(v, dims=[3])

    def defence(v):
        return quantise(flip(v))

    defended = BPDADefended(model, defence, flip)
    naive = Composed(model, defence)
    x = images(32, seed=4)
    y = predict(defended, x)  # accuracy w.r.t. the defended pipeline's clean labels: 100% clean
    eps = 0.1
    acc = {}
    for name, target in [("bpda", defended), ("grey", model), ("naive", naive)]:
        x_adv = pgd(target, x, y, eps, eps / 4, 10, random_start=False)
        assert x_adv.min() >= 0 and x_adv.max() <= 1 and (x_adv - x).abs().max() <= eps + 1e-6
        acc[name] = (predict(defended, x_adv) == y).float().mean().item()
    assert acc["naive"] == 1.0
    assert acc["bpda"] <= 0.5 and acc["bpda"] < acc["grey"] - 0.25, acc
    assert defended.num_classes is None and BPDADefended(Linear(3, 4, 0), flip).num_classes == 3


# bad input ------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    ({"overshoot": -0.1}, r"overshoot .*-0\.1"),
    ({"overshoot": float("nan")}, r"overshoot .*nan"),
    ({"max_iter": 0}, r"max_iter .*>= 1, got 0"),
    ({"num_candidates": 1}, r"num_candidates .*got 1"),
    ({"num_candidates": 11}, r"num_candidates .*10 classes, got 11"),
])
def test_deepfool_rejects_bad_arguments(kwargs, message):
    x = images(2)
    # num_classes unknown (checked after the clean forward) / known (checked before it)
    for model in (conv_net(), BPDADefended(Linear(10, 144, 0).float(), quantise)):
        with pytest.raises(AadError, match=message):
            deepfool(model, x, **kwargs)


def test_bim_and_bpda_reject_bad_arguments():
    model = conv_net()
    x = images(2)
    y = predict(model, x)
    with pytest.raises(AadError, match=r"eps .*-0\.1"):
        bim(model, x, y, -0.1)
    with pytest.raises(AadError, match=r"steps .*-1"):
        bim(model, x, y, 0.1, steps=-1)
    with pytest.raises(AadError, match="transform must be callable"):
        bpda("webp")
    with pytest.raises(AadError, match="approximation must be callable"):
        bpda(quantise, 3)
    with pytest.raises(AadError, match=r"keeps the shape.*\(2, 1, 8, 8\)"):
        bpda(lambda v: v[:, :, 2:-2, 2:-2])(x)
    with pytest.raises(AadError, match=r"must lie in \[0, 1\]"):
        deepfool(model, x * 2.5)
