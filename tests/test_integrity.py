"""The gradient-masking checks raise on models built to mask gradients and stay quiet on an
honest one (hand-built cases: a constant model, a quantising input layer, a reversed gradient)."""
import pytest
import torch
from torch import nn

from aad_lib import attacks, integrity


class Constant(nn.Module):
    """Always class 3: zero input gradient, unbreakable at any eps."""

    num_classes = 10

    def __init__(self):
        super().__init__()
        self.bias = nn.Parameter(torch.arange(10.0).roll(4))  # argmax = 3

    def forward(self, x):
        return self.bias.expand(x.shape[0], 10) + 0 * x.flatten(1).sum(1, keepdim=True)


class Quantised(nn.Module):
    """An honest model behind torch.round: zero input gradients (quantisation 'defense')."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.num_classes = inner, inner.num_classes

    def forward(self, x):
        return self.inner(torch.round(x * 2) / 2)


class _Reverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        return -g


class Reversed(Quantised):
    """An honest model whose input gradient points the wrong way: PGD descends the loss."""

    def forward(self, x):
        return self.inner(_Reverse.apply(x))


@pytest.fixture
def own_labels(tiny_model, digits):
    x, _ = digits
    with torch.no_grad():
        return x, tiny_model(x).argmax(1)  # every image correct clean


def test_zero_gradients_flagged_on_constant_and_quantised_models(tiny_model, own_labels):
    x, y = own_labels
    for model in (Constant(), Quantised(tiny_model)):
        flag = integrity.zero_or_nonfinite_gradients(model, x, y)
        assert flag.value == 1.0 and flag.raised
    honest = integrity.zero_or_nonfinite_gradients(tiny_model, x, y)
    assert honest.value == 0.0 and not honest.raised


def test_large_eps_flag(tiny_model, own_labels):
    x, y = own_labels
    honest = integrity.large_eps_accuracy(tiny_model, x, y, generator=torch.Generator().manual_seed(0))
    assert honest.value == 0.0 and not honest.raised
    stuck = integrity.large_eps_accuracy(Constant(), x, torch.full_like(y, 3))
    assert stuck.value == 1.0 and stuck.raised


def test_noise_beats_whitebox_counts_only_images_the_whitebox_attack_missed(tiny_model, own_labels):
    x, y = own_labels
    model = Quantised(tiny_model)
    with torch.no_grad():
        y = model(x).argmax(1)
    # the white-box attack "survived" on every image: every noise hit counts
    flag = integrity.noise_beats_whitebox(model, x, y, torch.ones_like(y, dtype=torch.bool), 0.3,
                                          generator=torch.Generator().manual_seed(0))
    assert flag.raised and flag.value > 0.1
    # the white-box attack broke every image: noise cannot beat it
    none = integrity.noise_beats_whitebox(model, x, y, torch.zeros_like(y, dtype=torch.bool), 0.3)
    assert none.value == 0.0 and not none.raised
    # on the honest model, PGD finds whatever the noise finds
    pgd_correct = tiny_model(attacks.pgd(tiny_model, x, y, 0.1, 0.01, 20, stop_when_fooled=True)).argmax(1) == y
    honest = integrity.noise_beats_whitebox(tiny_model, x, y, pgd_correct, 0.1, generator=torch.Generator().manual_seed(0))
    assert not honest.raised


def test_more_steps_flag_raised_when_the_gradient_points_the_wrong_way(tiny_model, own_labels):
    x, y = own_labels
    # the random start (eps 0.5) fools some images; small steps down the loss win them back
    wrong_way = integrity.more_steps_raise_accuracy(Reversed(tiny_model), x, y, 0.5, 0.005, 1)
    assert wrong_way.raised and wrong_way.value > 0.01
    honest = integrity.more_steps_raise_accuracy(tiny_model, x, y, 0.5, 0.005, 1)
    assert not honest.raised and honest.value < 0


def test_a_tie_at_the_threshold_is_not_above_it():
    # shares of n images tie with a threshold often; float error must not raise the flag
    assert 0.50 - 0.48 > 0.02 and not integrity.above(0.50 - 0.48, 0.02)
    assert integrity.above(0.03, 0.02) and not integrity.above(0.01, 0.02)
