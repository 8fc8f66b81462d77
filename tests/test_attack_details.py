"""Details of the TRADES inner maximisation and its KL objective that the broad attack tests do not
pin down: the exact random start, the mode of the clean pass, the softmax dimension of the KL."""
import math
import warnings

import pytest
import torch
from torch import nn

from aad_lib import attacks
from aad_lib.attacks import objectives

from .conftest import ROOT


class FlagNet(nn.Module):
    """A linear head on the flattened 4x4 image that records ``self.training`` at every forward."""

    num_classes = 3

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(16, 3)
        self.flags: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.flags.append(self.training)
        return self.fc(x.flatten(1))


# Row 0 at 0 and row 1 at 1 (where the clamp of the start bites), rows 2 and 3 inside (0, 1).
X = torch.tensor([[[[0.0] * 4, [1.0] * 4, [0.5] * 4, [0.25] * 4]]])
SEED = 3


def test_trades_start_is_x_plus_0_001_gaussian_clamped_to_unit_interval():
    """steps=0 returns the start itself: clamp(x + 0.001 N(0, I), 0, 1), N replayed from the same seed.
    A pixel at 0 with negative noise stays 0, one at 1 with positive noise stays 1, the others move by 0.001 N."""
    out = attacks.trades_attack(FlagNet(), X, 0.1, 0.01, 0, generator=torch.Generator().manual_seed(SEED))
    n = torch.empty_like(X).normal_(generator=torch.Generator().manual_seed(SEED))
    # the seed puts both signs of noise on both clamped rows, so every clamp bound is exercised
    assert (n[..., 0, :] < 0).any() and (n[..., 0, :] > 0).any()
    assert (n[..., 1, :] < 0).any() and (n[..., 1, :] > 0).any()
    expected = (X + n.mul(0.001)).clamp(0.0, 1.0)
    assert torch.equal(out, expected)
    # by hand on the rows: 0 + 0.001 n -> max(0, 0.001 n); 1 + 0.001 n -> min(1, 1 + 0.001 n); 0.5 + 0.001 n
    assert torch.equal(out[..., 0, :], (0.001 * n[..., 0, :]).clamp(min=0.0))
    assert torch.equal(out[..., 1, :], (1.0 + 0.001 * n[..., 1, :]).clamp(max=1.0))
    assert torch.allclose(out[..., 2, :], 0.5 + 0.001 * n[..., 2, :], atol=1e-7, rtol=0)
    # the noise is small: |start - x| <= 0.001 |n| < 0.01 (|n| < 10 here), never the ~1 of an unscaled draw
    assert (out - X).abs().max() <= 0.001 * n.abs().max() + 1e-7
    assert (out[..., 2:, :] != X[..., 2:, :]).all()


def test_trades_clean_pass_runs_in_the_requested_mode():
    """p(x) is computed in ``mode`` as the attack steps are: with mode="train" every forward (the clean
    pass, then one per step) sees training=True; the model's own flag is restored afterwards."""
    net = FlagNet().eval()
    attacks.trades_attack(net, X, 0.1, 0.01, 1, mode="train", generator=torch.Generator().manual_seed(0))
    assert net.flags == [True, True] and not net.training
    net = FlagNet().train()
    attacks.trades_attack(net, X, 0.1, 0.01, 1, mode="eval", generator=torch.Generator().manual_seed(0))
    assert net.flags == [False, False] and net.training


def test_kl_objective_hand_case_softmax_over_classes_without_warning():
    """sum_i KL(p_i || softmax(z_i)) with the softmax over the class dimension given explicitly
    (an implicit dimension would emit torch's deprecation warning at every attack step)."""
    z = torch.tensor([[math.log(3.0), 0.0], [0.0, 0.0]])   # q_0 = (0.75, 0.25), q_1 = (0.5, 0.5)
    p = torch.tensor([[0.5, 0.5], [0.25, 0.75]])
    # row 0: 0.5 ln(0.5/0.75) + 0.5 ln(0.5/0.25) = 0.5 ln(4/3) = 0.1438410
    # row 1: 0.25 ln(0.25/0.5) + 0.75 ln(0.75/0.5) = -0.1732868 + 0.3040988 = 0.1308120
    expected = 0.5 * math.log(4 / 3) + 0.25 * math.log(0.5) + 0.75 * math.log(1.5)   # 0.2746530
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = objectives.kl_from(z, p)
    assert value.item() == pytest.approx(expected, rel=1e-6)
    assert value.item() == pytest.approx(0.2746530, rel=1e-6)
    # a batch where the softmax dimension matters: over classes (rows) q = [[.75, .25], [.5, .5]];
    # over the batch (columns) it would be [[.5, .25], [.5, .75]]
    z2 = torch.tensor([[math.log(3.0), 0.0], [math.log(3.0), math.log(3.0)]])
    p2 = torch.full((2, 2), 0.5)
    # rows: q_0 = (0.75, 0.25) -> 0.5 ln(4/3); q_1 = (0.5, 0.5) -> 0; total 0.5 ln(4/3) = 0.1438410
    assert objectives.kl_from(z2, p2).item() == pytest.approx(0.5 * math.log(4 / 3), rel=1e-6)


def test_fgsm_at_eps_zero_returns_the_clean_images_and_trades_without_steps_stays_in_the_ball(tiny_model, digits):
    """Two edge cases the registry-wide contract found: FGSM used to refuse eps 0 (it handed
    alpha = eps to PGD), and TRADES' attack with no step returned its noisy start, up to ~0.004
    away from x, outside a smaller ball."""
    from aad_lib.attacks import fgsm, trades_attack

    x, y = digits
    assert torch.equal(fgsm(tiny_model, x, y, 0.0), x)
    start = trades_attack(tiny_model, x, eps=0.001, alpha=0.001, steps=0, generator=torch.Generator().manual_seed(0))
    assert (start - x).abs().max() <= 0.001 + 1e-7 and 0 <= start.min() and start.max() <= 1
    assert not torch.equal(start, x)  # still the random start, only projected


def _centroid_classifier(x: torch.Tensor, y: torch.Tensor) -> torch.nn.Module:
    """A nearest-class-mean linear classifier of ``x`` (argmax of m_c . x - |m_c|^2 / 2): right on
    most digits with margins of every size, so that PGD fools them at different steps."""
    means = torch.stack([x[y == c].flatten(1).mean(0) for c in range(10)])
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(means.shape[1], 10)).eval()
    with torch.no_grad():
        model[1].weight.copy_(means)
        model[1].bias.copy_(-0.5 * (means ** 2).sum(1))
    return model


@pytest.mark.parametrize("sync_every", [3, 8])
def test_stopping_with_rare_compaction_gives_the_numbers_of_compacting_every_step(monkeypatch, sync_every):
    """CUDA's policy (settled images masked at once, the batch compacted every ``sync_every`` steps)
    against the CPU's (every step), run here on the CPU: the same logits at every checkpoint and
    the same result images, with fewer compactions. 64 digits (above MIN_ACTIVE, so compaction
    happens) that PGD fools at different steps."""
    import importlib

    from aad_lib import data

    pgd_module = importlib.import_module("aad_lib.attacks.pgd")  # the package exports the function pgd
    x, y = data.load("mnist5k", ROOT / "data", "test").tensors(n=64)
    model = _centroid_classifier(x, y)

    def run():
        return pgd_module.pgd_trajectory(model, x, y, 0.1, 0.005, [1, 5, 12, 30], stop_when_fooled=True,
                                         generator=torch.Generator().manual_seed(0))

    compactions = []
    real_compact = pgd_module._ActiveBatch.compact

    def counting_compact(self, grad=None):
        before = self.rows.numel()
        out = real_compact(self, grad)
        compactions.append(before - self.rows.numel())
        return out

    monkeypatch.setattr(pgd_module._ActiveBatch, "compact", counting_compact)
    every_step_logits, every_step = run()
    events_every_step = sum(1 for c in compactions if c)
    compactions.clear()
    monkeypatch.setitem(pgd_module.SYNC_EVERY, "cpu", sync_every)
    rare_logits, rare = run()
    events_rare = sum(1 for c in compactions if c)
    assert 0 < events_rare < events_every_step  # both compacted, the rare policy less often
    assert torch.equal(rare, every_step)
    assert not torch.equal(rare, x)  # some images moved: the comparison is not of clean copies
    for k in (1, 5, 12, 30):
        assert torch.allclose(rare_logits[k], every_step_logits[k], atol=1e-5), k


def test_rare_compaction_happens_exactly_every_sync_every_observations(monkeypatch):
    """With ``SYNC_EVERY`` 3 the batch is compacted (and the loop asks whether anything is left) only
    after the 3rd, 6th, 9th, ... look at the model's logits, counted from the first: the clean check
    is the first observation. 64 digits settling at different steps."""
    import importlib

    from aad_lib import data

    pgd_module = importlib.import_module("aad_lib.attacks.pgd")
    x, y = data.load("mnist5k", ROOT / "data", "test").tensors(n=64)
    model = _centroid_classifier(x, y)
    observations, shrinks = [0], []
    real_observe, real_compact = pgd_module._ActiveBatch.observe, pgd_module._ActiveBatch.compact

    def counting_observe(self, logits, visited):
        observations[0] += 1
        return real_observe(self, logits, visited)

    def counting_compact(self, grad=None):
        before = self.rows.numel()
        out = real_compact(self, grad)
        if self.rows.numel() < before:
            shrinks.append(observations[0])
        return out

    monkeypatch.setattr(pgd_module._ActiveBatch, "observe", counting_observe)
    monkeypatch.setattr(pgd_module._ActiveBatch, "compact", counting_compact)
    monkeypatch.setitem(pgd_module.SYNC_EVERY, "cpu", 3)
    pgd_module.pgd_trajectory(model, x, y, 0.1, 0.005, [30], stop_when_fooled=True,
                              generator=torch.Generator().manual_seed(0))
    assert shrinks and all(count % 3 == 0 for count in shrinks), shrinks
