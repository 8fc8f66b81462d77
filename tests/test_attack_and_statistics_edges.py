"""Edges of the attacks, the evaluation, Grad-CAM's layer lookup and the ARP rate table that the broader
tests leave open (found by mutation testing): DeepFool's batch floor and up-front candidate check, the
EOT mean, the fallback sync cadence and trajectory checkpoints of the PGD loop, FGSM's loss, mode and
single pass, PGD's default kappa, Step-LL's mode, the evaluation's kappa and device, the layer error
message and an empty rate table."""
from dataclasses import replace

import pandas as pd
import pytest
import torch
from torch import nn

from aad_lib import attacks
from aad_lib.attacks.deepfool import deepfool_with_info
from aad_lib.attention.gradcam import resolve_layer
from aad_lib.eval_config import EvalConfig
from aad_lib.evaluation import evaluate
from aad_lib.runtime import derive_seed, generator
from aad_lib.sections.arp.statistics import rate_table
from aad_lib.validation import AadError

from .test_attack_details import X as X4, FlagNet
from .test_attack_edge_cases import MeanNet, flat_images

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


class MeanLinear(nn.Module):
    """MeanNet as a module with parameters (what :func:`evaluate` needs to find the device), its logits
    times ``scale``: ``scale * (10 s, -10 s)``, ``s = mean(x) - 0.5`` over the 16 pixels of a 1 x 4 x 4 image."""

    num_classes = 2

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.fc = nn.Linear(16, 2)
        with torch.no_grad():
            self.fc.weight.copy_(scale * torch.tensor([[10.0 / 16] * 16, [-10.0 / 16] * 16]))
            self.fc.bias.copy_(scale * torch.tensor([-5.0, 5.0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


# DeepFool --------------------------------------------------------------------------------------

def test_deepfool_batch_holds_only_the_unsettled_images_when_there_are_at_least_min_active():
    """With 20 of 30 images still to move (>= MIN_ACTIVE = 16), the second pass sees exactly those 20:
    the 10 images misclassified against ``y`` settle at step 0 and cost no more forward rows."""
    model = MeanNet()
    x = flat_images([0.7] * 30)  # class 0 on all of them
    y = torch.tensor([1] * 10 + [0] * 20)
    x_adv, iters = deepfool_with_info(model, x, y, num_candidates=2, max_iter=3)
    assert model.batch_sizes == [30, 20]
    assert iters.tolist() == [0] * 10 + [1] * 20
    assert torch.equal(x_adv[:10], x[:10])
    with torch.no_grad():
        assert (model(x_adv[10:]).argmax(1) == 1).all()


def test_deepfool_refuses_too_many_candidates_before_running_the_model():
    """A model that declares 2 classes is refused num_candidates=3 up front, with the model's class
    count in the message, and its forward is never run."""
    model = MeanNet()
    with pytest.raises(AadError, match=r"num_candidates must be between 2 and the model's 2 classes, got 3"):
        deepfool_with_info(model, flat_images([0.7]), num_candidates=3)
    assert model.batch_sizes == []


# PGD loop ----------------------------------------------------------------------------------------

def test_eot_on_a_deterministic_model_is_plain_l2_pgd_even_for_a_tiny_gradient():
    """The EOT step ascends the *mean* of the gradients: on a deterministic model 4 samples give the
    single gradient exactly, so L2 PGD with eot_samples=4 equals eot_samples=1 bit for bit, also when
    the gradient (~1e-10 here) is as small as the normalisation's guard."""
    model = MeanLinear(scale=1e-10)
    x, y = flat_images([0.5, 0.6]), torch.tensor([0, 1])
    one = attacks.pgd(model, x, y, 1.0, 0.1, 2, random_start=False, norm="l2")
    four = attacks.pgd(model, x, y, 1.0, 0.1, 2, random_start=False, norm="l2", eot_samples=4)
    assert torch.equal(four, one)
    assert not torch.equal(one, x)  # the step does move the images


def test_stopping_pgd_on_a_device_type_without_a_sync_entry_compacts_every_step(monkeypatch):
    """A device type missing from SYNC_EVERY gets the documented default of 1: settled images leave
    the batch at every step, exactly as on the CPU (forwards of 40, then 16 rows; 0.9 -> 0.87)."""
    import importlib

    pgd_module = importlib.import_module("aad_lib.attacks.pgd")
    monkeypatch.delitem(pgd_module.SYNC_EVERY, "cpu")
    model = MeanNet()
    x = flat_images([0.9] * 40)
    y = torch.tensor([1] * 35 + [0] * 5)
    x_adv = attacks.pgd(model, x, y, 0.05, 0.01, 3, random_start=False, stop_when_fooled=True)
    assert model.batch_sizes == [40, 16, 16, 16]
    assert torch.equal(x_adv[:35], x[:35])
    assert torch.allclose(x_adv[35:], torch.full_like(x_adv[35:], 0.87), atol=1e-6)


def test_trajectory_adjacent_checkpoints_hold_their_own_iterates():
    """With checkpoints 1 and 2 the logits at 1 are those of the first iterate (0.6 -> 0.58: (0.8, -0.8)),
    not of the second (0.56: (0.6, -0.6)): each equals model(pgd(..., steps=k))."""
    model = MeanNet()
    x, y = flat_images([0.6]), torch.tensor([0])
    logits, _ = attacks.pgd_trajectory(model, x, y, 0.1, 0.02, [1, 2], random_start=False)
    assert torch.allclose(logits[1], torch.tensor([[0.8, -0.8]]), atol=1e-5)
    assert torch.allclose(logits[2], torch.tensor([[0.6, -0.6]]), atol=1e-5)
    with torch.no_grad():
        for k in (1, 2):
            assert torch.equal(logits[k], model(attacks.pgd(model, x, y, 0.1, 0.02, k, random_start=False))), k


def test_trajectory_early_settling_keeps_the_checkpoint_before_the_fooling_step():
    """With stop_when_fooled, an image fooled at step 2 (0.53 -> 0.51 -> 0.49) still reads correct at
    checkpoint 1 (logits (0.1, -0.1)); checkpoints 2 and 3 both hold its first fooling point (-0.1, 0.1)."""
    model = MeanNet()
    x, y = flat_images([0.53]), torch.tensor([0])
    logits, result = attacks.pgd_trajectory(model, x, y, 0.1, 0.02, [1, 2, 3], random_start=False,
                                            stop_when_fooled=True)
    assert torch.allclose(logits[1], torch.tensor([[0.1, -0.1]]), atol=1e-5)
    assert torch.allclose(logits[2], torch.tensor([[-0.1, 0.1]]), atol=1e-5)
    assert torch.equal(logits[3], logits[2])
    assert torch.allclose(result, flat_images([0.49]), atol=1e-6)


@needs_cuda
def test_trajectory_returns_cpu_logits_from_a_cuda_run():
    """The checkpoint logits of a run on CUDA come back detached on the CPU, as documented, with the
    values of the CPU run; the result image stays on the model's device."""
    model, x, y = MeanLinear(), flat_images([0.6, 0.4]), torch.tensor([0, 1])
    logits, result = attacks.pgd_trajectory(model.cuda(), x.cuda(), y.cuda(), 0.1, 0.02, [0, 2], random_start=False)
    cpu_logits, _ = attacks.pgd_trajectory(model.cpu(), x, y, 0.1, 0.02, [0, 2], random_start=False)
    for k in (0, 2):
        assert logits[k].device.type == "cpu" and not logits[k].requires_grad
        assert torch.allclose(logits[k], cpu_logits[k], atol=1e-5)
    assert result.device.type == "cuda"


# FGSM, PGD defaults, Step-LL ---------------------------------------------------------------------

def test_fgsm_with_the_cw_loss_leaves_a_saturated_margin_alone():
    """FGSM's loss="cw" is the CW margin at kappa 50: an image whose true logit is already 50.5 below
    the other (mean 0.2475, label 0, logits (-25.25, 25.25)) gets no gradient and comes back unchanged,
    while the cross-entropy still pushes it by -eps (0.2475 -> 0.1475)."""
    model = MeanLinear(scale=10.0)
    x, y = flat_images([0.2475]), torch.tensor([0])
    assert torch.equal(attacks.fgsm(model, x, y, 0.1, loss="cw"), x)
    assert torch.allclose(attacks.fgsm(model, x, y, 0.1, loss="ce"), flat_images([0.1475]), atol=1e-6)


def test_fgsm_runs_the_model_in_the_requested_mode():
    """fgsm(mode="train") runs its forward with training=True (and mode="eval" with False); the model's
    own flag is restored afterwards."""
    net = FlagNet().eval()
    attacks.fgsm(net, X4, torch.tensor([0]), 0.1, mode="train")
    assert net.flags == [True] and not net.training
    net = FlagNet().train()
    attacks.fgsm(net, X4, torch.tensor([0]), 0.1, mode="eval")
    assert net.flags == [False] and net.training


def test_fgsm_default_is_one_gradient_from_one_forward():
    """FGSM is one gradient step: by default (eot_samples=1) the model runs exactly one forward of the
    batch, and the image moves by eps against its class (0.7 -> 0.6)."""
    model = MeanNet()
    x, y = flat_images([0.7, 0.7, 0.7]), torch.tensor([0, 0, 0])
    x_adv = attacks.fgsm(model, x, y, 0.1)
    assert model.batch_sizes == [3]
    assert torch.allclose(x_adv, flat_images([0.6] * 3), atol=1e-6)


def test_pgd_cw_default_kappa_is_50():
    """pgd(loss="cw") without kappa uses kappa 50: at a margin of -50.5 (mean 0.2475, label 0) the loss is
    flat and three steps leave the image where it is; with kappa=51 the first step (-0.02) is taken,
    after which the margin (-54.5) is flat again."""
    model = MeanLinear(scale=10.0)
    x, y = flat_images([0.2475]), torch.tensor([0])
    assert torch.equal(attacks.pgd(model, x, y, 0.1, 0.02, 3, random_start=False, loss="cw"), x)
    moved = attacks.pgd(model, x, y, 0.1, 0.02, 3, random_start=False, loss="cw", kappa=51.0)
    assert torch.allclose(moved, flat_images([0.2275]), atol=1e-6)


def test_step_ll_runs_the_model_in_the_requested_mode():
    """step_ll(mode="train") runs both forwards (the least-likely class and the step) with training=True
    (mode="eval" with False); the model's own flag is restored afterwards."""
    net = FlagNet().eval()
    attacks.step_ll(net, X4, None, 0.1, mode="train")
    assert net.flags == [True, True] and not net.training
    net = FlagNet().train()
    attacks.step_ll(net, X4, None, 0.1, mode="eval")
    assert net.flags == [False, False] and net.training


# Grad-CAM layer ----------------------------------------------------------------------------------

def test_resolve_layer_names_an_unknown_layer_in_its_error(tiny_model):
    """An unknown module name is refused with "unknown layer '<name>'" and a did-you-mean hint."""
    with pytest.raises(AadError, match=r"unknown layer 'body\.con'\. Did you mean 'body\.conv'\?"):
        resolve_layer(tiny_model, "body.con")


# evaluation --------------------------------------------------------------------------------------

def test_evaluate_cw_columns_use_the_configured_kappa():
    """cfg.kappa reaches the CW-k columns: at kappa 0 an image already misclassified (mean 0.8, label 1)
    has a flat margin and stays put (pair 0, confidence unchanged), while a correct one (0.6, label 0)
    takes its step to 0.58 (logits (1, -1) -> (0.8, -0.8): pair 2 * 0.2^2 = 0.08)."""
    model = MeanLinear()
    x, y = flat_images([0.8, 0.6]), torch.tensor([1, 0])
    cfg = EvalConfig(eps=0.1, alpha=0.02, pgd_steps=[], cw_steps=[1], kappa=0.0, random_start=False,
                     stop_when_fooled=False, batch_size=2)
    records = evaluate(model, x, y, cfg, progress=False)
    assert records["pair:CW-1"].tolist() == pytest.approx([0.0, 0.08], abs=1e-5)
    assert records["conf:CW-1"][0] == pytest.approx(records["confidence"][0], abs=1e-7)
    # at the default kappa 50 the misclassified image is pushed on (0.8 -> 0.82: pair 0.08)
    default = evaluate(model, x, y, replace(cfg, kappa=50.0), progress=False)
    assert default["pair:CW-1"].tolist() == pytest.approx([0.08, 0.08], abs=1e-5)


def _attacked_on(device: str, x: torch.Tensor, y: torch.Tensor, cfg: EvalConfig) -> dict[str, torch.Tensor]:
    """The logits evaluate's columns should hold, computed directly on ``device``: FGSM, then PGD-k and
    CW-k trajectories from generators on that device seeded as documented (cfg.seed, "pgd"/"cw")."""
    model = MeanLinear().to(device)
    xd, yd = x.to(device), y.to(device)
    fgsm = attacks.fgsm(model, xd, yd, cfg.eps, stop_when_fooled=cfg.stop_when_fooled)
    with torch.no_grad():
        out = {"FGSM": model(fgsm).cpu()}
    for name, loss, steps in (("PGD", "ce", cfg.pgd_steps), ("CW", "cw", cfg.cw_steps)):
        g = generator(derive_seed(cfg.seed, name.lower()), device)
        logits, _ = attacks.pgd_trajectory(model, xd, yd, cfg.eps, cfg.alpha, steps, cfg.random_start, loss=loss,
                                           kappa=cfg.kappa, generator=g, stop_when_fooled=cfg.stop_when_fooled)
        out.update({f"{name}-{k}": v for k, v in logits.items()})
    return out


@needs_cuda
def test_evaluate_attacks_a_cuda_model_on_its_device_with_cuda_generators():
    """A model on CUDA with images on the CPU: each batch is moved to the model's device and both random
    starts come from CUDA generators seeded from cfg.seed, so the records hold the logits of the
    attacks run directly on CUDA."""
    x = torch.rand(6, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 0, 1, 0, 1])
    cfg = EvalConfig(eps=0.1, alpha=0.02, pgd_steps=[2], cw_steps=[2], random_start=True, batch_size=6,
                     stop_when_fooled=False)  # every row's result depends on its random start
    records = evaluate(MeanLinear().cuda(), x, y, cfg, progress=False)
    expected = _attacked_on("cuda", x, y, cfg)
    for column, logits in expected.items():
        assert records[column].tolist() == (logits.argmax(1) == y).tolist(), column
        confidence = torch.softmax(logits, 1).gather(1, y[:, None]).squeeze(1)
        assert records[f"conf:{column}"].to_numpy() == pytest.approx(confidence.numpy(), abs=1e-6), column


# ARP statistics ----------------------------------------------------------------------------------

def test_rate_table_of_no_groups_is_an_empty_table_with_its_columns():
    """No groups (empty input) give an empty table that still has the columns n, rate, ci_low, ci_high
    and the index name "group", so callers can select and concatenate it."""
    table = rate_table(pd.Series([], dtype=bool), pd.Series([], dtype=object))
    assert len(table) == 0
    assert list(table.columns) == ["n", "rate", "ci_low", "ci_high"]
    assert table.index.name == "group"
