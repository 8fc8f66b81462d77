"""Feature contribution (AALP Eq. 5/7) and Guided Dropout (Eq. 8) against hand-computed cases."""
import math

import pytest
import torch
from torch import nn

from aad_lib import contribution
from aad_lib.sections.aalp import contributions
from aad_lib.training import recipes
from aad_lib.validation import AadError
from aad_lib.attacks.settings import AttackSettings


class TwoFeatureNet(nn.Module):
    """penultimate = the input's first 3 pixels; head = a fixed 3 -> 2 linear map."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(3, 2, bias=False)
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor([[1.0, 0.0, 2.0], [0.0, 1.0, 0.0]]))

    def penultimate(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)[:, :3] * 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.penultimate(x))

    num_classes = 2


def test_contribution_scores_mean_abs_activation_times_gradient():
    a = torch.tensor([[1.0, -2.0, 0.0], [3.0, 1.0, 4.0]])
    g = torch.tensor([[0.5, 1.0, 9.0], [-1.0, 0.0, 0.25]])
    # |a*g| = [[0.5, 2, 0], [3, 0, 1]] -> mean over samples [1.75, 1.0, 0.5]
    assert contribution.contribution_scores(a, g).tolist() == pytest.approx([1.75, 1.0, 0.5])


def test_guided_dropout_mask_keeps_strictly_above_median():
    c = torch.tensor([0.1, 3.0, 0.5, 2.0])  # torch median of an even count = lower middle = 0.5
    assert contribution.guided_dropout_mask(c).tolist() == [0.0, 1.0, 0.0, 1.0]
    assert contribution.guided_dropout_mask(c, rescale=True).tolist() == [0.0, 2.0, 0.0, 2.0]
    ties = torch.tensor([0.0, 0.0, 0.0, 1.0, 2.0])  # median 0: only the two positive features stay
    assert contribution.guided_dropout_mask(ties).tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]


def test_head_gradient_is_softmax_minus_onehot_times_weight():
    net = TwoFeatureNet()
    a = torch.tensor([[1.0, 1.0, 0.0]])  # logits (1, 1): p = (0.5, 0.5)
    g = contribution.head_gradient(net, a, torch.tensor([0]))
    # dL/dz = p - onehot(0) = (-0.5, 0.5); dL/da = W^T dL/dz = (-0.5, 0.5, -1.0)
    assert g.tolist() == [pytest.approx([-0.5, 0.5, -1.0])]
    assert net.head.weight.grad is None


def test_guided_logits_drop_low_contribution_features():
    net = TwoFeatureNet()
    x = torch.tensor([[1.0, 1.0, 0.0, 0.0], [2.0, 0.0, 1.0, 0.0]]).view(2, 1, 1, 4)
    y = torch.tensor([0, 1])
    a = net.penultimate(x)
    p = torch.softmax(net(x), 1)
    onehot = torch.nn.functional.one_hot(y, 2).float()
    c = (a * ((p - onehot) @ net.head.weight)).abs().mean(0)
    expected_mask = (c > c.median()).float()
    logits, mask = contribution.guided_logits(net, x, y)
    assert mask.tolist() == expected_mask.tolist()
    assert torch.allclose(logits, net.head(a * expected_mask))


def test_dataset_contributions_average_over_batches():
    torch.manual_seed(0)
    net = TwoFeatureNet()
    x = torch.rand(10, 1, 1, 4)
    y = torch.randint(0, 2, (10,))
    whole = contribution.dataset_contributions(net, x, y, batch_size=10)
    split = contribution.dataset_contributions(net, x, y, batch_size=3)
    a = net.penultimate(x)
    assert torch.allclose(whole, contribution.contribution_scores(a, contribution.head_gradient(net, a, y)))
    assert torch.allclose(whole, split, atol=1e-6)


def test_high_contribution_counts_and_top_share():
    c = {"flat": torch.ones(10), "peaked": torch.tensor([0.0] * 8 + [5.0, 5.0])}
    # pooled: 8 zeros, 10 ones, 2 fives; 90% quantile = 1 + 0.1 * (5 - 1) = 1.4: only peaked's fives exceed it
    assert contributions.high_contribution_counts(c, 0.9) == {"flat": 0, "peaked": 2}
    assert contributions.top_share(c["peaked"], 0.2) == pytest.approx(1.0)
    assert contributions.top_share(c["flat"], 0.2) == pytest.approx(0.2)
    assert math.isnan(contributions.top_share(torch.zeros(4)))


@pytest.mark.parametrize("method", ["standard+gd", "madry+gd", "alp+gd", "aalp"])
def test_guided_recipes_train_only_the_kept_features(method, tiny_model, digits):
    """One step of a Guided-Dropout method leaves the head columns of dropped features untouched."""
    x, y = digits
    model = tiny_model.train()
    spec = AttackSettings(0.3, 0.1, 1)
    batch = recipes.Batch(model, x, y, spec, dict(recipes.get(method).options), torch.Generator().manual_seed(0))
    out = recipes.get(method)(batch)
    out.loss.backward()
    dead_columns = model.head.weight.grad.abs().sum(0) == 0
    assert 0 < int(dead_columns.sum()) and int(dead_columns.sum()) >= model.num_features // 2


class BatchRecordingNet(TwoFeatureNet):
    """TwoFeatureNet that records the size of every batch its penultimate layer sees."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def penultimate(self, x: torch.Tensor) -> torch.Tensor:
        self.sizes.append(x.shape[0])
        return super().penultimate(x)


def test_dataset_contributions_default_batch_size_is_500():
    """600 images with the default batch_size go through the network as 500 + 100."""
    net = BatchRecordingNet()
    x = torch.rand(600, 1, 1, 4, generator=torch.Generator().manual_seed(0))
    y = torch.zeros(600, dtype=torch.long)
    contribution.dataset_contributions(net, x, y)
    assert net.sizes == [500, 100]  # 600 = 500 + 100 (501 would give 501 + 99)


def test_high_contribution_counts_default_quantile_and_its_bounds():
    """The default quantile is 0.9; quantiles 0 and 1 (outside the open interval) are refused."""
    c = {"flat": torch.ones(10), "peaked": torch.tensor([0.0] * 8 + [5.0, 5.0])}
    # default 0.9: pooled threshold 1 + 0.1 * (5 - 1) = 1.4 (as in the case above)
    assert contributions.high_contribution_counts(c) == {"flat": 0, "peaked": 2}
    for q in (0.0, 1.0):
        with pytest.raises(AadError, match=r"quantile must be in \(0, 1\)"):
            contributions.high_contribution_counts(c, q)
    # just inside the bounds is accepted: q = 0.01 -> threshold 0 (the 8 zeros fill the bottom 40%)
    assert contributions.high_contribution_counts(c, 0.01) == {"flat": 10, "peaked": 2}


def test_top_share_default_fraction_and_a_total_below_one():
    """Default fraction 0.1 takes the top round(0.1 * n) features; a total in (0, 1) is a share, not NaN."""
    peaked = torch.tensor([0.0] * 8 + [5.0, 5.0])
    # k = round(0.1 * 10) = 1: 5 / (5 + 5) = 0.5
    assert contributions.top_share(peaked) == 0.5
    # total 0.25 + 0.125 + 0.125 = 0.5 (exact in binary); k = max(1, round(0.3)) = 1: 0.25 / 0.5 = 0.5
    assert contributions.top_share(torch.tensor([0.125, 0.25, 0.125])) == 0.5
