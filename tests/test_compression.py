"""EOT, the adaptive defended models, ComDefend's straight-through purification and training
recipe, and the measurements of notebook 05 (aad_lib.defenses.study): hand cases and properties."""
import pandas as pd
import pytest
import torch
from torch import nn

from aad_lib import attacks, integrity
from aad_lib.attacks.bpda import BPDADefended
from aad_lib.data import ImageTensorDataset
from aad_lib.defenses import CPU_PROFILE, ComDefend, Defended, hflip, make
from aad_lib.defenses import adaptive
from aad_lib.sections.compression import study
from aad_lib.training import TrainConfig, recipes, train
from aad_lib.validation import AadError
from aad_lib.attacks.settings import AttackSettings


class Alternating(nn.Module):
    """logits = (s * sum(x), 0) with s cycling through ``signs``, one value per forward pass:
    a random model whose draws are known."""

    num_classes = 2

    def __init__(self, signs):
        super().__init__()
        self.signs, self.calls = list(signs), 0

    def forward(self, x):
        s = self.signs[self.calls % len(self.signs)]
        self.calls += 1
        z = s * x.flatten(1).sum(dim=1, keepdim=True)
        return torch.cat([z, torch.zeros_like(z)], dim=1)


def test_eot_averages_the_gradients_of_the_draws():
    # y = 0 and CE: d loss / d x_i = -(1 - p0) * s. At x = 0, p0 = 1/2 in every draw, so draw 1 (s = +1)
    # pulls x down (-1/2) and draw 2 (s = -3) up (+3/2): one draw steps down (clipped at 0), the mean of
    # both steps up by alpha.
    x, y = torch.zeros(1, 1, 2, 2), torch.zeros(1, dtype=torch.long)
    one = attacks.pgd(Alternating([1, -3]), x, y, eps=0.1, alpha=0.1, steps=1, random_start=False)
    model = Alternating([1, -3])
    two = attacks.pgd(model, x, y, eps=0.1, alpha=0.1, steps=1, random_start=False, eot_samples=2)
    assert torch.equal(one, torch.zeros_like(x))
    assert torch.allclose(two, torch.full_like(x, 0.1))
    assert model.calls == 2  # two forward passes for the one step
    # the same through the bookkeeping loop (stop_when_fooled, no random start so no clean check): the
    # step's pass (s = +1, labels 0: correct), one more EOT pass (s = -3), the final observation (s = +1).
    # At x = 0.5 (sum 2): draw +1 gives -(1 - sigmoid(2)) = -0.12 per pixel, draw -3 gives
    # +3 (1 - sigmoid(-6)) = +2.99; the mean is positive, so every pixel steps up to 0.6.
    model = Alternating([1, -3])
    up = attacks.pgd(model, x + 0.5, y, eps=0.1, alpha=0.1, steps=1, random_start=False, eot_samples=2,
                     stop_when_fooled=True)
    assert torch.allclose(up, torch.full_like(x, 0.6))
    assert model.calls == 3


# Three draws s = (+1, -4, +1) at x = 0.5 (four pixels, sum 2), y = 0, CE: logits (2s, 0) and
# dL/dx_i = -(1 - sigmoid(2s)) * s:  s = +1 -> -(1 - 0.8808) = -0.1192;  s = -4 -> +4 (1 - 0.0003) = +3.9987.
# The mean, (-0.1192 + 3.9987 - 0.1192) / 3 = +1.2534, points up; the first and the last draw alone
# (and their mean) point down. Every pixel's gradient is the same, so an L2 step moves each by alpha / 2.
EOT_CASES = {
    "fgsm": (lambda m, x, y: attacks.fgsm(m, x, y, 0.1, eot_samples=3), 0.6, 3),
    "bim": (lambda m, x, y: attacks.bim(m, x, y, 0.1, steps=2, eot_samples=3), 0.6, 6),  # 2 steps of 0.05
    "pgd-l2": (lambda m, x, y: attacks.pgd(m, x, y, 0.1, 0.1, 1, random_start=False, norm="l2",
                                           eot_samples=3), 0.55, 3),
    # the bookkeeping loop: three passes for the step, one to observe the last iterate (s = +1, x = 0.6:
    # logits (2.4, 0), still correct, so the last iterate is the result)
    "pgd-stopping": (lambda m, x, y: attacks.pgd(m, x, y, 0.1, 0.1, 1, random_start=False, eot_samples=3,
                                                 stop_when_fooled=True), 0.6, 4),
}


@pytest.mark.parametrize("case", list(EOT_CASES))
def test_eot_steps_along_the_mean_gradient_not_one_draw(case):
    """EOT step direction = sign (L2: unit vector) of (1/k) sum_s grad_x L(model_s(x), y), not of one draw."""
    attack, expected, passes = EOT_CASES[case]
    model = Alternating([1, -4, 1])
    x, y = torch.full((1, 1, 2, 2), 0.5), torch.zeros(1, dtype=torch.long)
    x_adv = attack(model, x, y)
    assert torch.allclose(x_adv, torch.full_like(x, expected), atol=1e-6), x_adv.flatten().tolist()
    assert model.calls == passes


def test_eot_one_sample_is_plain_pgd_and_bad_counts_fail(tiny_model, digits):
    x, y = digits
    a = attacks.pgd(tiny_model, x, y, 0.3, 0.05, 5, generator=torch.Generator().manual_seed(0))
    b = attacks.pgd(tiny_model, x, y, 0.3, 0.05, 5, generator=torch.Generator().manual_seed(0), eot_samples=1)
    assert torch.equal(a, b)
    # a deterministic model: the mean of k identical gradients is the gradient
    c = attacks.pgd(tiny_model, x, y, 0.3, 0.05, 5, generator=torch.Generator().manual_seed(0), eot_samples=3)
    assert torch.allclose(a, c, atol=1e-6)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(AadError, match="eot_samples"):
            attacks.pgd(tiny_model, x, y, 0.3, 0.05, 2, eot_samples=bad)


@pytest.fixture
def purifier():
    torch.manual_seed(0)
    return ComDefend(1, "res_encoder", **CPU_PROFILE)


def test_purify_bpda_matches_purify_and_passes_gradients(purifier, digits):
    x = digits[0][:8]
    purifier.train()
    plain = purifier.purify(x, torch.Generator().manual_seed(3))
    xr = x.clone().requires_grad_(True)
    through = purifier.purify_bpda(xr, torch.Generator().manual_seed(3))
    assert torch.equal(plain, through.detach())
    assert purifier.training  # mode restored
    (grad,) = torch.autograd.grad(through.sum(), xr)
    assert grad.abs().sum() > 0 and torch.isfinite(grad).all()
    # the deployed purification has no graph at all: what a naive attack meets
    with pytest.raises(RuntimeError, match="does not require grad"):
        torch.autograd.grad(purifier.purify(xr).sum(), xr)


def test_adaptive_models_pick_the_right_gradient(tiny_model, digits, purifier):
    x, y = digits
    assert isinstance(adaptive.adaptive(tiny_model, make("webp", quality=60)), BPDADefended)
    assert adaptive.bpda_approximation(make("jpeg", quality=75)) is None
    assert adaptive.bpda_approximation(make("flip+webp", quality=60)) is hflip
    with pytest.raises(AadError, match="differentiable"):
        adaptive.bpda_approximation(make("flip"))
    with pytest.raises(AadError, match="a defense"):
        adaptive.adaptive(tiny_model, "webp")
    # flip + WebP: the forward pass is the deployed pipeline's, the gradient that of flipping the
    # gradient at the defended image (BPDA through the flip, not the identity)
    t = make("flip+webp", quality=60)
    m = adaptive.adaptive(tiny_model, t)
    xr = x.clone().requires_grad_(True)
    out = m(xr)
    assert torch.equal(out.detach(), adaptive.deployed(tiny_model, t)(x))
    (grad,) = torch.autograd.grad(nn.functional.cross_entropy(out, y, reduction="sum"), xr)
    z = t(x).requires_grad_(True)
    (at_z,) = torch.autograd.grad(nn.functional.cross_entropy(tiny_model(z), y, reduction="sum"), z)
    assert torch.allclose(grad, at_z.flip(-1))
    # ComDefend: EOT only there, and adaptive == deployed for the same noise
    assert adaptive.eot_samples(purifier, 4) == 4 and adaptive.eot_samples(t, 4) == 1
    assert adaptive.eot_samples(ComDefend(1, test_sigma=0.0), 4) == 1
    torch.manual_seed(1)
    a = adaptive.adaptive(tiny_model, purifier)(x)
    torch.manual_seed(1)
    b = adaptive.deployed(tiny_model, purifier)(x)
    assert torch.equal(a.detach(), b)
    assert adaptive.label(purifier) == "ComDefend (res_encoder)" and adaptive.label(t) == "flip + WebP q60"


def test_comdefend_recipe_trains_through_the_loop(tmp_path, digits, purifier):
    x, y = digits
    data = ImageTensorDataset((x * 255).round().to(torch.uint8), y, "mnist5k", "train")
    cfg = TrainConfig(method="comdefend", epochs=2, batch_size=16, lr=1e-3, monitor_samples=16, seed=0)
    log = train(purifier, data, cfg, tmp_path / "cd", test_set=data, progress=False)
    assert [r["epoch"] for r in log] == [1, 2]
    assert {"loss_mse", "loss_code", "test_psnr", "test_mse"} <= set(log[0])
    assert log[1]["loss_mse"] < log[0]["loss_mse"]
    assert (tmp_path / "cd" / "model.pt").exists()
    assert recipes.get("comdefend").needs_attack is False and recipes.get("comdefend").trains == "purifier"
    assert cfg.options == {"comdefend_lambda": 1e-4}


def test_standard_flip_recipe_flips_about_half(tiny_model, digits):
    x, y = digits
    seen = []
    hook = tiny_model.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach()))
    batch = recipes.Batch(tiny_model, x, y, AttackSettings(0.3, 0.1, 1), {}, torch.Generator().manual_seed(0))
    out = recipes.get("standard+flip")(batch)
    hook.remove()
    flipped = [(seen[0][i] == x[i].flip(-1)).all() and not (seen[0][i] == x[i]).all() for i in range(len(x))]
    kept = [(seen[0][i] == x[i]).all() for i in range(len(x))]
    assert sum(flipped) + sum(kept) == len(x) and 8 <= sum(flipped) <= 24
    assert torch.isfinite(out.loss)


def test_robust_counts_draws_and_tables_hand_case():
    clean = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 1.0]])
    adv = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    assert torch.equal(study.robust(clean, adv), torch.tensor([0.5, 0.0, 0.5]))
    records = {"no defense": pd.DataFrame({"Clean": [1.0, 1.0, 1.0, 1.0], "A": [0.0, 0.0, 0.0, 0.0]}),
               "d": pd.DataFrame({"Clean": [1.0, 1.0, 1.0, 0.0], "A": [1.0, 1.0, 0.0, 0.0]})}
    table = study.accuracy_table(records)
    assert table.loc["d", "A"] == 50.0 and table.loc["no defense", "Clean"] == 100.0
    assert study.uncertainty_table(records).loc["d", "A"].startswith("50.0 [")
    adaptive_records = {"no defense": records["no defense"], "d": pd.DataFrame({"Clean": [1.0] * 4, "A": [0.0] * 4})}
    both = study.side_by_side(records, adaptive_records, ["A"])
    assert both.loc["d", "A gap"] == 50.0 and both.loc["d", "worst adaptive"] == 0.0


def test_verdicts_need_an_interval_above_the_undefended():
    n = 200
    none = pd.DataFrame({"Clean": [1.0] * n, "A": [0.0] * n})
    strong = pd.DataFrame({"Clean": [1.0] * n, "A": [1.0] * 150 + [0.0] * 50})
    weak = pd.DataFrame({"Clean": [1.0] * n, "A": [1.0] * 1 + [0.0] * (n - 1)})
    grey = {"no defense": none, "robust": strong, "greybox only": strong, "useless": weak}
    adapt = {"no defense": none, "robust": strong, "greybox only": weak, "useless": weak}
    v = study.verdicts(grey, adapt, ["A"])["verdict"]
    assert v["robust"] == "survives adaptive attacks"
    assert v["greybox only"] == "holds only against the grey-box protocol"
    assert v["useless"] == "does not help"
    with pytest.raises(AadError, match="baseline"):
        study.verdicts({"x": none}, {"x": none}, ["A"])


def test_transfer_flag_and_naive_gradients_of_a_codec(tiny_model, digits):
    wb = torch.tensor([True, True, False, True])
    tr = torch.tensor([True, False, False, True])
    flag = integrity.transfer_beats_whitebox(wb, tr)
    assert flag.value == 0.25 and flag.raised
    assert not integrity.transfer_beats_whitebox(wb, wb).raised
    x, y = digits
    naive = integrity.zero_or_nonfinite_gradients(Defended(tiny_model, make("webp", quality=60)), x, y)
    assert naive.value == 1.0  # the codec cuts the graph: no input gradient at all
    assert integrity.zero_or_nonfinite_gradients(adaptive.adaptive(tiny_model, make("webp", quality=60)), x, y).value == 0.0


def test_greybox_and_adaptive_records_on_a_real_model(tiny_model, digits, purifier):
    x, y = digits
    x, y = x[:16], y[:16]
    s = study.CompressionAttacks(AttackSettings(eps=0.3, alpha=0.1, steps=3), bim_steps=2, overshoot=0.02, max_iter=5)
    defenses = {"no defense": make("none"), "1-bit": make("bitdepth", bits=1), "ComDefend (res_encoder)": purifier}
    grey, adv = study.greybox_records(tiny_model, x, y, defenses, s, draws=2)
    assert list(adv) == s.columns() and all(a.shape == x.shape for a in adv.values())
    for name in ("FGSM", "BIM-2", "PGD-3", "CW-3"):
        assert (adv[name] - x).abs().max() <= 0.3 + 1e-6
    for r in grey.values():
        assert list(r.columns) == ["Clean", *s.columns()] and len(r) == 16
        assert ((r >= 0) & (r <= 1)).all().all()
        assert (r[s.columns()].le(r["Clean"], axis=0)).all().all()  # robust implies correct clean
    adapt, images = study.adaptive_records(tiny_model, x, y, defenses, s, eot=2, draws=2)
    assert list(adapt["1-bit"].columns) == ["Clean", *s.bounded()]
    for cols in images.values():
        for a in cols.values():
            assert (a - x).abs().max() <= 0.3 + 1e-6 and a.min() >= 0 and a.max() <= 1
    # the undefended model: adaptive = white-box PGD on the classifier, at least as strong as grey-box
    assert adapt["no defense"]["PGD-3"].mean() <= grey["no defense"]["PGD-3"].mean()
    sweep = study.quality_sweep(tiny_model, x, y, ["webp", "jpeg", "flip+webp"], [30, 90], adv["PGD-3"])
    assert len(sweep) == 6 and (sweep["bytes"] > 0).all()
    hi, lo = (sweep[(sweep.codec == "jpeg") & (sweep.quality == q)]["PSNR (dB)"].item() for q in (90, 30))
    assert hi > lo
    att = study.flip_attention(tiny_model, x, y, adv["PGD-3"])
    assert ((att.iloc[:, :3] >= 0) & (att.iloc[:, :3] <= 1)).all().all()
    assert 0 <= study.code_stability(purifier, x, 3) <= 1


def test_deepfool_column_takes_every_class_of_a_model_with_fewer_than_ten():
    """The reference DeepFool looks at 10 candidate classes; a 4-class model (a new dataset) has 4,
    and the column must still run (it used to stop with a num_candidates error)."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 4))
    x, y = torch.rand(6, 3, 8, 8), torch.randint(0, 4, (6,))
    s = study.CompressionAttacks(AttackSettings(eps=0.1, alpha=0.01, steps=2), bim_steps=2, overshoot=0.02, max_iter=5)
    x_adv = study.attack("DeepFool", model, x, y, s, seed=0)
    assert x_adv.shape == x.shape and 0 <= x_adv.min() and x_adv.max() <= 1
    assert (model(x_adv).argmax(1) != y).float().mean() >= 0.5  # DeepFool flips most labels of a linear model
