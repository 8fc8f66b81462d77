"""Edge cases of the attacks that the broader tests leave open (found by mutation testing): BIM's
defaults, BPDA's fresh output, DeepFool's tie-break, mode and final label-only pass, the CW
objective's default kappa, the L2 path of the stopping PGD loop, the L2 random start, the kappa of
pgd_trajectory, the MIN_ACTIVE floor of the active batch, the end of a stopping run once every
image is settled, and R+Step-LL's random step and stopping."""
import pytest
import torch
from torch import nn

from aad_lib import attacks
from aad_lib.attacks import objectives
from aad_lib.attacks.bim import bim
from aad_lib.attacks.bpda import bpda
from aad_lib.attacks.deepfool import PERT_FLOOR, deepfool, deepfool_with_info
from aad_lib.attacks.pgd import MIN_ACTIVE
from aad_lib.runtime import generator

from .test_attack_details import X as X4, FlagNet
from .test_deepfool_bim_bpda import OVERSHOOT, conv_net, images, predict, reference_deepfool


class MeanNet(nn.Module):
    """Two classes on any image: logits ``(10 s, -10 s)`` with ``s = mean(x) - 0.5`` (class 0 for
    bright images). Every input gradient is the same on all pixels (its sign is that of the
    mean's), and each forward's batch size is recorded in ``batch_sizes``."""

    num_classes = 2

    def __init__(self) -> None:
        super().__init__()
        self.batch_sizes: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.batch_sizes.append(x.shape[0])
        s = 10.0 * (x.flatten(1).mean(1) - 0.5)
        return torch.stack([s, -s], dim=1)


def flat_images(values, size: int = 4) -> torch.Tensor:
    """One 1 x size x size image per value, every pixel at that value."""
    return torch.tensor(values, dtype=torch.float32).view(-1, 1, 1, 1).expand(-1, 1, size, size).contiguous()


# BIM -------------------------------------------------------------------------------------------

def test_bim_default_is_ten_steps_of_eps_over_ten():
    """Without ``steps`` and ``alpha``, BIM is the documented default: 10 L-inf steps of eps / 10 from
    the clean image, i.e. pgd(eps, eps / 10, 10, random_start=False), not another step count."""
    model = conv_net()
    x = images(16)
    y = predict(model, x)
    x_bim = bim(model, x, y, 0.1)
    assert torch.equal(x_bim, attacks.pgd(model, x, y, 0.1, 0.01, 10, random_start=False))
    # the step count matters on this net: 11 steps of eps / 11 land elsewhere
    assert not torch.equal(x_bim, attacks.pgd(model, x, y, 0.1, 0.1 / 11, 11, random_start=False))


def test_bim_with_one_step_is_fgsm():
    """steps=1 takes the default alpha = eps / 1 = eps: one full signed step, exactly FGSM; pixels away
    from the [0, 1] bounds move by eps = 0.3 (not one intensity level, 1/255)."""
    model = conv_net()
    x = images(8)
    y = predict(model, x)
    x_bim = bim(model, x, y, 0.3, steps=1)
    assert torch.equal(x_bim, attacks.fgsm(model, x, y, 0.3))
    moved = (x_bim - x).abs()
    inside = (x > 0.3) & (x < 0.7) & (moved > 0)  # no clip acts: the full step shows
    assert inside.sum() > 100
    assert torch.allclose(moved[inside], torch.full_like(moved[inside], 0.3), atol=1e-6)


# BPDA ------------------------------------------------------------------------------------------

def test_bpda_identity_transform_returns_a_fresh_tensor():
    """bpda's forward returns a new tensor even when the transform hands back its input: the output
    has the input's values but not its storage, so editing it in place leaves x as it was."""
    x = images(2)
    before = x.clone()
    out = bpda(lambda t: t)(x)
    assert torch.equal(out, x)
    assert out.data_ptr() != x.data_ptr()
    out.add_(1.0)
    assert torch.equal(x, before)


# DeepFool --------------------------------------------------------------------------------------

class TieNet(nn.Module):
    """logits = W flatten(x) + b on 1x4x4 images, W_0 = 0, W_1 = e_0, W_2 = 2 e_1, b = (0.5, 0.25, 0).
    At x = 0 the label is 0; class 1 (ranked second) is at linearised distance 0.25 / 1 along pixel 0,
    class 2 (ranked third) at 0.5 / 2 = 0.25 along pixel 1: an exact tie in float32."""

    num_classes = 3

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(16, 3)
        with torch.no_grad():
            self.fc.weight.zero_()
            self.fc.weight[1, 0] = 1.0
            self.fc.weight[2, 1] = 2.0
            self.fc.bias.copy_(torch.tensor([0.5, 0.25, 0.0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


def test_deepfool_tie_goes_to_the_higher_ranked_candidate():
    """At a tie of linearised distances the higher-ranked candidate (class 1) wins, as in the LTS4
    reference: one step of 1.02 * (0.25 + 1e-4) = 0.255102 along pixel 0, and the label becomes 1 (not 2)."""
    model = TieNet()
    x = torch.zeros(1, 1, 4, 4)
    x_adv, iters = deepfool_with_info(model, x, num_candidates=3, overshoot=OVERSHOOT)
    expected = torch.zeros(16)
    expected[0] = (1 + OVERSHOOT) * (0.25 + PERT_FLOOR)  # 0.255102
    assert torch.allclose(x_adv.flatten(), expected, atol=1e-7), x_adv.flatten()[:2].tolist()
    assert iters.tolist() == [1] and predict(model, x_adv).tolist() == [1]
    ref, loops = reference_deepfool(model, x[0], num_classes=3, overshoot=OVERSHOOT)
    assert loops == 1 and torch.allclose(x_adv[0], ref, atol=1e-7)


def test_deepfool_runs_the_model_in_the_requested_mode():
    """mode="train" runs every DeepFool forward with training=True (mode="eval" with False), and the
    model's own flag is restored afterwards."""
    net = FlagNet().eval()
    deepfool(net, X4, num_candidates=3, max_iter=2, mode="train")
    assert net.flags and all(net.flags) and not net.training
    net = FlagNet().train()
    deepfool(net, X4, num_candidates=3, max_iter=2, mode="eval")
    assert net.flags and not any(net.flags) and net.training


class GradFlagNet(FlagNet):
    """FlagNet that records, per forward, whether autograd is on and whether its input requires grad."""

    def __init__(self) -> None:
        super().__init__()
        self.grad_flags: list[tuple[bool, bool]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.grad_flags.append((torch.is_grad_enabled(), x.requires_grad))
        return super().forward(x)


def test_deepfool_last_pass_is_a_plain_label_check():
    """With max_iter=1 DeepFool makes two passes: the linearised step (autograd on, input requiring
    grad), then the label-only check of the last point, which gets no graph and an input that does
    not require grad."""
    net = GradFlagNet()
    x_adv, iters = deepfool_with_info(net, X4, num_candidates=3, max_iter=1)
    assert net.grad_flags == [(True, True), (False, False)]
    assert iters.tolist() == [1] and not x_adv.requires_grad


# objectives ------------------------------------------------------------------------------------

def test_objectives_get_cw_default_kappa_is_50():
    """objectives.get("cw") without kappa is the CW margin at kappa 50: logits (3, 1, 0), y = 0 give
    -(3 - 1 + 50) = -52, and (0, 49.5, 0) give -(0 - 49.5 + 50) = -0.5."""
    cw = objectives.get("cw")
    assert cw(torch.tensor([[3.0, 1.0, 0.0]]), torch.tensor([0])).item() == -52.0
    assert cw(torch.tensor([[0.0, 49.5, 0.0]]), torch.tensor([0])).item() == -0.5
    logits, y = torch.tensor([[3.0, 1.0, 0.0], [0.0, 2.0, 5.0]]), torch.tensor([0, 2])
    assert torch.equal(cw(logits, y), objectives.cw_margin(logits, y, 50.0))


# PGD -------------------------------------------------------------------------------------------

L2_X = flat_images([0.6, 0.7, 0.8])  # class 0 with mean margins 0.1, 0.2, 0.3 (logit gaps 2, 4, 6)
L2_Y = torch.tensor([0, 0, 0])


@pytest.mark.parametrize("steps, shift", [(1, -0.05), (2, -0.075), (3, -0.075)])
def test_l2_pgd_with_stopping_equals_the_plain_run(steps, shift):
    """L2 PGD through the stopping loop (stop_when_fooled, never fooled here) equals the plain run bit
    for bit. By hand on 16 pixels: the unit gradient is -1/4 per pixel, so alpha 0.2 moves each pixel
    by -0.05 (norm 0.2); the second step reaches norm 0.4 > eps 0.3, projected to -0.075 per pixel."""
    model = MeanNet()
    plain = attacks.pgd(model, L2_X, L2_Y, 0.3, 0.2, steps, random_start=False, norm="l2")
    stopping = attacks.pgd(model, L2_X, L2_Y, 0.3, 0.2, steps, random_start=False, norm="l2",
                           stop_when_fooled=True)
    assert torch.equal(stopping, plain)
    assert torch.allclose(stopping, L2_X + shift, atol=1e-6)
    assert (predict(model, stopping) == L2_Y).all()  # never fooled: the last iterate is the result


def test_l2_trajectory_equals_separate_l2_runs_step_by_step():
    """pgd_trajectory with norm="l2" records, after every step k, the logits of a separate
    pgd(..., steps=k, norm="l2") run (the hand iterates of the test above: x, x - 0.05, x - 0.075)."""
    model = MeanNet()
    logits, result = attacks.pgd_trajectory(model, L2_X, L2_Y, 0.3, 0.2, [0, 1, 2, 3], random_start=False,
                                            norm="l2")
    for k in range(4):
        x_k = attacks.pgd(model, L2_X, L2_Y, 0.3, 0.2, k, random_start=False, norm="l2")
        with torch.no_grad():
            assert torch.equal(logits[k], model(x_k)), k
    assert torch.allclose(result, L2_X - 0.075, atol=1e-6)


def _l2_start(seed: int, global_seed: int) -> torch.Tensor:
    """The L2 random start of pgd (zero steps) from generator(seed), under the global seed ``global_seed``."""
    x = torch.full((8, 1, 4, 4), 0.5)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(global_seed)
        return attacks.pgd(MeanNet(), x, torch.zeros(8, dtype=torch.long), 0.2, 0.1, 0, norm="l2",
                           generator=generator(seed))


def test_l2_random_start_draws_only_from_the_given_generator():
    """The L2 start (direction and radius) comes from ``generator`` alone: the same generator seed
    gives the same start under two different global torch seeds, another generator seed another start."""
    a = _l2_start(0, global_seed=1)
    assert torch.equal(a, _l2_start(0, global_seed=2))
    assert not torch.equal(a, _l2_start(1, global_seed=1))


def test_l2_random_start_radius_is_uniform_times_eps():
    """The L2 start is x + eps * U(0, 1) * n / ||n|| (n Gaussian, replayed here from the same seed):
    radii spread over (0, eps), not all on the sphere. x = 0.5 and eps 0.2: no pixel is clipped."""
    n_img, eps = 64, 0.2
    x = torch.full((n_img, 1, 4, 4), 0.5)
    start = attacks.pgd(MeanNet(), x, torch.zeros(n_img, dtype=torch.long), eps, 0.1, 0, norm="l2",
                        generator=generator(5))
    g = generator(5)
    direction = torch.empty_like(x).normal_(generator=g)
    u = torch.empty(n_img, 1, 1, 1).uniform_(0, 1, generator=g)
    radii = (start - x).flatten(1).norm(dim=1)
    assert torch.allclose(radii, eps * u.flatten(), atol=1e-6)
    unit = direction / direction.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    assert torch.allclose(start - x, eps * u * unit, atol=1e-6)
    assert radii.max() < eps and radii.min() < 0.25 * eps and radii.max() > 0.75 * eps


def test_trajectory_honours_kappa():
    """pgd_trajectory(loss="cw", kappa=0) climbs the kappa-0 margin, as pgd(..., kappa=0) does: an image
    already misclassified (margin -6 < 0) gets no gradient and stays at x, a correct one (margin 2)
    moves by -alpha = -0.02 per step."""
    model = MeanNet()
    x, y = flat_images([0.8, 0.6]), torch.tensor([1, 0])  # row 0: class 0, labelled 1; row 1: correct
    logits, result = attacks.pgd_trajectory(model, x, y, 0.1, 0.02, [1, 3], random_start=False, loss="cw",
                                            kappa=0.0)
    assert torch.allclose(result, flat_images([0.8, 0.6 - 3 * 0.02]), atol=1e-6)
    for k in (1, 3):
        x_k = attacks.pgd(model, x, y, 0.1, 0.02, k, random_start=False, loss="cw", kappa=0.0)
        with torch.no_grad():
            assert torch.equal(logits[k], model(x_k)), k
    # at the default kappa 50 the misclassified image is pushed on: the kappa is what kept it still
    _, default = attacks.pgd_trajectory(model, x, y, 0.1, 0.02, [3], random_start=False, loss="cw")
    assert torch.allclose(default[0], flat_images([0.8 + 3 * 0.02])[0], atol=1e-6)


def test_active_batch_tops_up_to_min_active_rows():
    """With stop_when_fooled, 35 of 40 images misclassified at the first step leave the batch, which is
    topped up with settled rows to MIN_ACTIVE = 16 (not more): forwards of 40, then 16 rows. The
    settled images keep x, the 5 robust ones take 3 steps of -0.01 (0.9 -> 0.87)."""
    model = MeanNet()
    x = flat_images([0.9] * 40)
    y = torch.tensor([1] * 35 + [0] * 5)
    x_adv = attacks.pgd(model, x, y, 0.05, 0.01, 3, random_start=False, stop_when_fooled=True)
    assert MIN_ACTIVE == 16
    assert model.batch_sizes == [40, 16, 16, 16]
    assert torch.equal(x_adv[:35], x[:35])
    assert torch.allclose(x_adv[35:], torch.full_like(x_adv[35:], 0.87), atol=1e-6)


def test_stopping_pgd_makes_one_forward_when_every_image_is_misclassified_clean():
    """pgd(stop_when_fooled=True) settles every image at the clean check when all are misclassified:
    exactly one forward (of the whole batch), no step, and the clean images come back."""
    model = MeanNet()
    x = flat_images([0.9] * 20)
    y = torch.ones(20, dtype=torch.long)  # the model says 0 on all of them
    x_adv = attacks.pgd(model, x, y, 0.1, 0.01, 10, stop_when_fooled=True, generator=generator(0))
    assert model.batch_sizes == [20]
    assert torch.equal(x_adv, x)


# R+Step-LL -------------------------------------------------------------------------------------

ZERO_DRAW_SEED = 28587  # generator(28587).normal_ on 256 pixels draws exactly 0.0 at flat index 190


def test_r_step_ll_zero_noise_draw_leaves_the_pixel_at_x():
    """x0 = x + alpha * sign(N(0, I)): an exact-zero Gaussian draw has sign 0, so that pixel starts at x.
    By hand (MeanNet at x = 0.6: logits (1, -1), y_LL = 1, the Step-LL step is -(eps - alpha) on every
    pixel), eps 0.1, alpha 0.04: 0.58 where the sign is +1, 0.50 where -1, and 0.54 at the zero draw."""
    model = MeanNet()
    x = torch.full((1, 1, 16, 16), 0.6)
    noise = torch.empty_like(x).normal_(generator=generator(ZERO_DRAW_SEED)).sign()
    assert (noise == 0).sum() == 1, "the seed no longer draws an exact zero on this torch version"
    x_adv = attacks.r_step_ll(model, x, None, 0.1, 0.04, generator=generator(ZERO_DRAW_SEED))
    assert torch.allclose(x_adv, x + 0.04 * noise - 0.06, atol=1e-6)
    assert x_adv[noise == 0].item() == pytest.approx(0.54, abs=1e-6)


def test_r_step_ll_stop_when_fooled_returns_misclassified_images_unchanged():
    """With stop_when_fooled an image the model misclassifies clean is returned as x; a correctly
    classified one (never fooled here) gets the same result as without stopping."""
    model = MeanNet()
    x, y = flat_images([0.8, 0.8]), torch.tensor([1, 0])  # the model says 0 on both
    stopped = attacks.r_step_ll(model, x, y, 0.1, generator=generator(1), stop_when_fooled=True)
    plain = attacks.r_step_ll(model, x, y, 0.1, generator=generator(1))
    assert torch.equal(stopped[0], x[0])
    assert not torch.equal(plain[0], x[0])  # without stopping the misclassified image moves
    assert torch.equal(stopped[1], plain[1])
