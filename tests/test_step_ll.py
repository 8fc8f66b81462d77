"""Step-LL, R+Step-LL and iterated Step-LL (Kurakin et al. 2017; Tramèr et al. 2018): a hand
case on a linear model and one-step-at-a-time = one call. The eps ball, the [0, 1] range and the
model left untouched, for any eps and batch size, are tested with every attack in
tests/test_attack_contract.py."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from aad_lib import attacks
from aad_lib.validation import AadError


class Linear(nn.Module):
    """Logits = W flatten(x) with W fixed: the input gradient of CE(z, t) is W^T (softmax(z) - e_t)."""

    num_classes = 3

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3, bias=False)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[1.0, -1.0, 0.5, 0.0], [0.0, 2.0, -1.0, 1.0], [-1.0, 0.0, 0.0, -2.0]]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


X = torch.tensor([[[[0.5, 0.5], [0.5, 0.5]]]])


def test_step_ll_hand_case():
    model = Linear()
    z = model(X)  # [0.25, 1.0, -1.5]: least likely = class 2
    assert int(attacks.least_likely(model, X)) == 2
    grad = model.fc.weight.T @ (F.softmax(z, 1)[0] - torch.tensor([0.0, 0.0, 1.0]))
    expected = (X.flatten() - 0.1 * grad.sign()).clamp(0, 1).view_as(X)
    assert torch.allclose(attacks.step_ll(model, X, None, 0.1), expected)
    # descending CE towards y_LL raises the least likely class's logit
    assert model(attacks.step_ll(model, X, None, 0.1))[0, 2] > z[0, 2]


def test_iterated_one_step_at_a_time_equals_one_call(tiny_model, digits):
    x, y = digits
    once = attacks.iterated_step_ll(tiny_model, x, y, 0.3, 0.05, 4)
    y_ll = attacks.least_likely(tiny_model, x)
    x_t = x
    for _ in range(4):
        x_t = attacks.iterated_step_ll(tiny_model, x, y, 0.3, 0.05, 1, start=x_t, y_ll=y_ll)
    assert torch.equal(once, x_t)
    # Step-LL = one iteration of size eps
    assert torch.equal(attacks.step_ll(tiny_model, x, y, 0.3), attacks.iterated_step_ll(tiny_model, x, y, 0.3, 0.3, 1))


def test_r_step_ll_is_a_random_step_then_step_ll():
    model = Linear()
    g = torch.Generator().manual_seed(3)
    x_adv = attacks.r_step_ll(model, X, None, 0.2, generator=g)
    noise = torch.empty_like(X).normal_(generator=torch.Generator().manual_seed(3)).sign()
    start = (X + 0.1 * noise).clamp(0, 1)
    z = model(start)
    grad = model.fc.weight.T @ (F.softmax(z, 1)[0] - torch.tensor([0.0, 0.0, 1.0]))  # y_LL of the clean image
    expected = (start.flatten() - 0.1 * grad.sign()).clamp(0.3, 0.7).view_as(X)
    assert torch.allclose(x_adv, expected)


def test_stop_when_fooled_keeps_misclassified_images(tiny_model, digits):
    x, y = digits
    wrong = tiny_model(x).argmax(1) != y
    assert wrong.any()  # random weights: most digits are wrong
    x_adv = attacks.iterated_step_ll(tiny_model, x, y, 0.3, 0.05, 5, stop_when_fooled=True)
    assert torch.equal(x_adv[wrong], x[wrong])
    assert torch.equal(attacks.step_ll(tiny_model, x, y, 0.3, stop_when_fooled=True)[wrong], x[wrong])


def test_bad_arguments():
    model = Linear()
    with pytest.raises(AadError, match="alpha < eps"):
        attacks.r_step_ll(model, X, None, 0.1, alpha=0.2)
    with pytest.raises(AadError, match="eps"):
        attacks.step_ll(model, X, None, -0.1)
    with pytest.raises(AadError, match="true labels"):
        attacks.iterated_step_ll(model, X, None, 0.1, 0.05, 2, stop_when_fooled=True)
    with pytest.raises(AadError, match=r"\[0, 1\]"):
        attacks.step_ll(model, X + 1, None, 0.1)
