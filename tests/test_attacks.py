"""PGD, FGSM and TRADES beyond the contract every attack keeps (tests/test_attack_contract.py: eps
ball, [0, 1], model untouched, mode restored, no_grad): PGD's own parameter space, equivalences,
early stopping, hand-computed steps and cross-checks with torchattacks."""
import pytest
import torch
import torchattacks  # a test dependency (installed by `make setup`): a missing peer must fail the run, never skip it
from hypothesis import given, settings
from hypothesis import strategies as st

from aad_lib import attacks, models
from aad_lib.validation import AadError

TOL = 1e-6


def _in_ball(x, x_adv, eps, norm):
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    d = (x_adv - x).flatten(1)
    if norm == "linf":
        assert d.abs().max() <= eps + TOL
    else:
        assert d.norm(dim=1).max() <= eps + 1e-4


@settings(max_examples=25, deadline=None)
@given(eps=st.floats(0.0, 0.6), steps=st.integers(0, 3), norm=st.sampled_from(["linf", "l2"]),
       loss=st.sampled_from(["ce", "cw"]), random_start=st.booleans(), n=st.integers(1, 5))
def test_pgd_stays_in_eps_ball_and_range(eps, steps, norm, loss, random_start, n):
    torch.manual_seed(1)
    model = models.create("lenet_small", size=12)
    x = torch.rand(n, 1, 12, 12)
    y = torch.randint(0, 10, (n,))
    x_adv = attacks.pgd(model, x, y, eps, max(eps / 2, 1e-3), steps, random_start, norm, loss)
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype and not x_adv.requires_grad
    _in_ball(x, x_adv, eps, norm)


def test_pgd_raises_the_loss(tiny_model, digits):
    x, y = digits
    loss = torch.nn.functional.cross_entropy
    with torch.no_grad():
        clean = loss(tiny_model(x), y)
        adv = loss(tiny_model(attacks.pgd(tiny_model, x, y, 0.3, 0.05, 5)), y)
    assert adv > 1.05 * clean


def test_trajectory_equals_separate_runs(tiny_model, digits):
    x, y = digits
    for loss in ("ce", "cw"):
        g = torch.Generator().manual_seed(5)
        logits, _ = attacks.pgd_trajectory(tiny_model, x, y, 0.3, 0.02, [0, 2, 5], loss=loss, generator=g)
        for k in (0, 2, 5):
            g = torch.Generator().manual_seed(5)
            x_adv = attacks.pgd(tiny_model, x, y, 0.3, 0.02, k, loss=loss, generator=g)
            with torch.no_grad():
                assert torch.equal(logits[k], tiny_model(x_adv)), (loss, k)


def _first_fooled_reference(model, x, y, loss, steps, seed):
    """Robust-accuracy semantics computed the slow way: a plain (never stopping) run, every
    iterate's logits, and per image the first misclassified point (the clean image first)."""
    every, _ = attacks.pgd_trajectory(model, x, y, 0.1, 0.01, range(steps + 1), loss=loss,
                                      generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        result = model(x)
    fooled = result.argmax(1) != y
    out = {}
    for k in range(steps + 1):
        newly = ~fooled & (every[k].argmax(1) != y)
        result[newly] = every[k][newly]
        fooled |= newly
        out[k] = torch.where(fooled[:, None], result, every[k])
    return out


@pytest.mark.parametrize("loss", ["ce", "cw"])
def test_stopping_when_fooled_changes_no_number(tiny_model, digits, loss):
    """Settled images leave the batch; the logits of every step still equal, bit for bit, those of
    a run that never drops an image (the labels are the model's own predictions, so every image
    starts correct and they settle one by one, down past MIN_ACTIVE rows)."""
    x, _ = digits
    x = torch.cat([x, x.flip(3)])  # 64 images
    with torch.no_grad():
        y = tiny_model(x).argmax(1)
    ref = _first_fooled_reference(tiny_model, x, y, loss, 12, seed=4)
    got, _ = attacks.pgd_trajectory(tiny_model, x, y, 0.1, 0.01, [0, 1, 3, 6, 12], loss=loss,
                                    generator=torch.Generator().manual_seed(4), stop_when_fooled=True)
    accuracies = [(got[k].argmax(1) == y).float().mean().item() for k in sorted(got)]
    assert accuracies[0] > 0.8 and accuracies[-1] < 0.2, accuracies  # images settle step by step
    assert accuracies == sorted(accuracies, reverse=True)  # never more robust with more steps
    for k, logits in got.items():
        assert torch.equal(logits, ref[k]), k


@pytest.mark.parametrize("steps", [0, 1, 4])
def test_stopping_run_equals_trajectory_prefix(tiny_model, digits, steps):
    x, _ = digits
    with torch.no_grad():
        y = tiny_model(x).argmax(1)
    y[:5] = (y[:5] + 1) % 10  # five images misclassified from the start: returned as they are
    logits, _ = attacks.pgd_trajectory(tiny_model, x, y, 0.3, 0.05, [steps], generator=torch.Generator().manual_seed(2),
                                       stop_when_fooled=True)
    x_adv = attacks.pgd(tiny_model, x, y, 0.3, 0.05, steps, generator=torch.Generator().manual_seed(2),
                        stop_when_fooled=True)
    _in_ball(x, x_adv, 0.3, "linf")
    assert torch.equal(x_adv[:5], x[:5])
    with torch.no_grad():
        assert torch.equal(tiny_model(x_adv), logits[steps])
        fooled = tiny_model(x_adv).argmax(1) != y
    plain = attacks.pgd(tiny_model, x, y, 0.3, 0.05, steps, generator=torch.Generator().manual_seed(2))
    assert torch.equal(x_adv[~fooled], plain[~fooled])  # never fooled: the same last iterate


def test_fgsm_stopping_keeps_misclassified_images(tiny_model, digits):
    x, y = digits
    with torch.no_grad():
        wrong = tiny_model(x).argmax(1) != y
    x_adv = attacks.fgsm(tiny_model, x, y, 0.3, stop_when_fooled=True)
    assert wrong.any() and torch.equal(x_adv[wrong], x[wrong])
    assert torch.equal(x_adv[~wrong], attacks.fgsm(tiny_model, x, y, 0.3)[~wrong])


def test_same_generator_seed_same_attack(tiny_model, digits):
    x, y = digits
    a = attacks.pgd(tiny_model, x, y, 0.3, 0.05, 3, generator=torch.Generator().manual_seed(3))
    b = attacks.pgd(tiny_model, x, y, 0.3, 0.05, 3, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_trades_attack_climbs_beyond_its_start(tiny_model, digits):
    """Three steps of 0.05 move pixels well past the 0.001 N(0, I) start (the ball: the contract)."""
    x, _ = digits
    x_adv = attacks.trades_attack(tiny_model, x, 0.3, 0.05, 3, generator=torch.Generator().manual_seed(0))
    assert (x_adv - x).abs().max() > 0.1


@pytest.mark.parametrize("bad, message", [
    (lambda x: x * 2, "must lie in \\[0, 1\\]"),
    (lambda x: x - 1, "must lie in \\[0, 1\\]"),
    (lambda x: x.masked_fill(torch.zeros_like(x, dtype=torch.bool).index_fill_(0, torch.tensor([0]), True), float("nan")), "NaN"),
    (lambda x: x[0], "shape \\(N, C, H, W\\)"),
    (lambda x: (x * 255).to(torch.uint8), "floating"),
])
def test_bad_images_are_refused(tiny_model, digits, bad, message):
    x, y = digits
    with pytest.raises(AadError, match=message):
        attacks.pgd(tiny_model, bad(x), y, 0.3, 0.01, 1)


def test_bad_arguments_are_refused(tiny_model, digits):
    x, y = digits
    with pytest.raises(AadError, match="eps must be a finite number >= 0"):
        attacks.pgd(tiny_model, x, y, -0.1, 0.01, 1)
    with pytest.raises(AadError, match="alpha"):
        attacks.pgd(tiny_model, x, y, 0.3, 0.0, 1)
    with pytest.raises(AadError, match="Did you mean 'linf'"):
        attacks.pgd(tiny_model, x, y, 0.3, 0.01, 1, norm="lin")
    with pytest.raises(AadError, match="unknown attack loss"):
        attacks.pgd(tiny_model, x, y, 0.3, 0.01, 1, loss="hinge")
    with pytest.raises(AadError, match="y must have shape"):
        attacks.pgd(tiny_model, x, y[:3], 0.3, 0.01, 1)
    with pytest.raises(AadError, match="must lie in \\[0, 10\\)"):
        attacks.pgd(tiny_model, x, y + 10, 0.3, 0.01, 1)


def test_fgsm_matches_torchattacks(tiny_model, digits):
    x, y = digits
    ours = attacks.fgsm(tiny_model, x, y, 0.3)
    theirs = torchattacks.FGSM(tiny_model, eps=0.3)(x, y)
    assert torch.allclose(ours, theirs, atol=1e-6)


@pytest.mark.parametrize("loss_steps", [5, 20])
def test_pgd_matches_torchattacks_without_random_start(tiny_model, digits, loss_steps):
    x, y = digits
    ours = attacks.pgd(tiny_model, x, y, 0.3, 0.01, loss_steps, random_start=False)
    theirs = torchattacks.PGD(tiny_model, eps=0.3, alpha=0.01, steps=loss_steps, random_start=False)(x, y)
    diff = (ours - theirs).abs()
    # The projections differ only in float rounding ((x + clamp(a - x)) vs clamp(a, lo, hi)); a
    # rounding-level change can flip the sign of a near-zero gradient entry in a later step, and
    # from there that image's trajectory drifts. Most images must agree exactly, and the attack's
    # outcome must agree on all but at most one image.
    assert diff.max() <= 2 * 0.01 * loss_steps + 1e-6
    images_differing = (diff.flatten(1) > 1e-5).any(1)
    assert images_differing.float().mean() <= 2 / 32
    with torch.no_grad():
        outcome_differs = tiny_model(ours).argmax(1) != tiny_model(theirs).argmax(1)
    assert int(outcome_differs.sum()) <= 1


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_pgd_survives_a_broadcast_input_gradient(norm):
    """A model whose logits depend on x only through a sum gets an expanded (stride-0) gradient
    from autograd; the attack must not write into it in place."""

    class SumModel(torch.nn.Module):
        num_classes = 10

        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.linspace(-1, 1, 10))

        def forward(self, x):
            return x.flatten(1).sum(1, keepdim=True) * self.w

    x, y = torch.rand(4, 1, 6, 6), torch.tensor([0, 3, 5, 9])
    x_adv = attacks.pgd(SumModel(), x, y, 0.2, 0.05, 3, norm=norm)
    _in_ball(x, x_adv, 0.2, norm)
    assert not torch.equal(x_adv, x)


class LinearTwoClass(torch.nn.Module):
    """logits = W x on 1x2x2 images: with two classes grad_x CE = p_1 (w_1 - w_0) for y = 0 and
    p_0 (w_0 - w_1) for y = 1, so the unit L2 direction is +-u, u = (w_1 - w_0) / ||w_1 - w_0||."""

    num_classes = 2

    def __init__(self):
        super().__init__()
        # w_1 - w_0 = (1, -2, 2, 4), norm 5: u = (0.2, -0.4, 0.4, 0.8)
        self.w = torch.nn.Parameter(torch.tensor([[0.5, 0.0, -1.0, 0.0], [1.5, -2.0, 1.0, 4.0]]))

    def forward(self, x):
        return x.flatten(1) @ self.w.T


# Three images (pixels in flatten order) and labels: a step moves A and C along +u, B along -u.
L2_X = torch.tensor([[0.5, 0.5, 0.5, 0.5], [0.1, 0.3, 0.6, 0.95], [0.9, 0.5, 0.2, 0.95]]).view(3, 1, 2, 2)
L2_Y = torch.tensor([0, 1, 0])


@pytest.mark.parametrize("eps, steps, expected", [
    # inside the ball: delta = alpha u = 0.25 u = (0.05, -0.1, 0.1, 0.2), ||delta|| = 0.25 < eps = 0.5, kept;
    # C's last pixel 0.95 + 0.2 = 1.15 is clipped to 1
    (0.5, 1, [[0.55, 0.4, 0.6, 0.7], [0.05, 0.4, 0.5, 0.75], [0.95, 0.4, 0.3, 1.0]]),
    # outside: ||0.25 u|| = 0.25 > eps = 0.1, delta scaled back to 0.1 u = (0.02, -0.04, 0.04, 0.08)
    (0.1, 1, [[0.52, 0.46, 0.54, 0.58], [0.08, 0.34, 0.56, 0.87], [0.92, 0.46, 0.24, 1.0]]),
    # two steps, eps 0.3: 0.25 u (inside), then 0.5 u from x (outside), projected to 0.3 u =
    # (0.06, -0.12, 0.12, 0.24). (C's first step was clipped, so its second starts from a clipped point:
    # x + 0.25 u - (0, 0, 0, 0.15) + 0.25 u = x + (0.1, -0.2, 0.2, 0.25), norm sqrt(0.1525) = 0.3905,
    # scaled by 0.3 / 0.3905.)
    (0.3, 2, [[0.56, 0.38, 0.62, 0.74], [0.04, 0.42, 0.48, 0.71], None]),
])
def test_pgd_l2_hand_steps(eps, steps, expected):
    """PGD-L2 step: x' = clip_[0,1](x + Proj_{||d|| <= eps}(x_t + alpha g / ||g||_2 - x)), projecting only outside the ball."""
    model = LinearTwoClass()
    x_adv = attacks.pgd(model, L2_X, L2_Y, eps, 0.25, steps, random_start=False, norm="l2").flatten(1)
    for i, row in enumerate(expected):
        if row is None:
            d = torch.tensor([0.1, -0.2, 0.2, 0.25])
            row = (L2_X[i].flatten() + d * 0.3 / d.norm()).clamp(0, 1)
        assert torch.allclose(x_adv[i], torch.as_tensor(row), atol=1e-6), (i, x_adv[i].tolist())


def test_pgd_l2_matches_torchattacks_without_random_start(tiny_model, digits):
    """PGD-L2 (no random start) = torchattacks' PGDL2: same normalised step, same projection onto the L2 ball."""
    x, y = digits
    ours = attacks.pgd(tiny_model, x, y, 1.5, 0.3, 10, random_start=False, norm="l2")
    theirs = torchattacks.PGDL2(tiny_model, eps=1.5, alpha=0.3, steps=10, random_start=False)(x, y)
    assert torch.allclose(ours, theirs, atol=1e-5)
    norms = (ours - x).flatten(1).norm(dim=1)
    assert (norms > 1.4).float().mean() > 0.5 and norms.max() <= 1.5 + 1e-4  # the ball's radius is reached


def test_linf_random_start_is_uniform_in_the_whole_ball():
    """L-inf start x + U(-eps, eps) per pixel: both signs, min ~ -eps, max ~ +eps, mean ~ 0, seeded by the generator."""
    model = models.create("lenet_small", size=12)
    x, y = torch.full((16, 1, 12, 12), 0.5), torch.zeros(16, dtype=torch.long)  # 2304 pixels, none clipped

    def start(seed):  # zero steps: the random start itself
        return attacks.pgd(model, x, y, 0.1, 0.01, 0, generator=torch.Generator().manual_seed(seed)) - x

    delta = start(0)
    assert delta.abs().max() <= 0.1 + TOL
    assert delta.min() < -0.099 and delta.max() > 0.099
    # U(-0.1, 0.1): sd 0.1 / sqrt(3) = 0.0577, the mean of 2304 draws has sd 0.0012
    assert abs(float(delta.mean())) < 0.006 and float(delta.std()) == pytest.approx(0.0577, rel=0.05)
    assert 0.45 < float((delta < 0).float().mean()) < 0.55
    assert torch.equal(start(0), delta) and not torch.equal(start(1), delta)
