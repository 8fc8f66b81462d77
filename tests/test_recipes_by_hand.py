"""Every training recipe recomputed by hand from its paper's equation.

Each test runs one recipe of :data:`aad_lib.training.recipes.RECIPES` on a small seeded LeNet (or
ComDefend) and batch, with non-default options chosen so every term of the loss moves the result,
records the adversarial examples the recipe actually used (the attack functions imported into
``recipes`` are wrapped), checks they come from the right attack (replayed from a clone of the
generator state), then writes the loss out with torch primitives on those examples and compares
its value, the gradient w.r.t. every parameter, the logged parts and the predictions.
``aad_lib.losses`` and ``aad_lib.contribution`` are deliberately not called here: their wiring is
what is under test.

Modes: the loop calls a recipe with the model in train mode; the attacks run in eval mode (the
official TRADES convention) and the loss in train mode. Every forward pass is logged with the mode
it ran in and whether an attack made it, and the references run in train mode.
"""
from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F

from aad_lib import attacks, models
from aad_lib.attention import gradcam_and_logits
from aad_lib.defenses.comdefend import CPU_PROFILE, ComDefend
from aad_lib.training import recipes
from aad_lib.validation import AadError
from aad_lib.attacks.settings import AttackSettings

ATTACK_NAMES = ("pgd", "trades_attack", "iterated_step_ll", "least_likely")
SPEC = AttackSettings(eps=0.3, alpha=0.1, steps=2)  # random start (the default)
N = 8


def test_every_registered_recipe_has_a_hand_test():
    """The registry is what this file covers: a new recipe needs its own test here."""
    assert sorted(recipes.RECIPES) == sorted(HAND_TESTED)
    # the attacks wrapped below are all the attacks the recipes module imports
    imported = {n for n, v in vars(recipes).items() if callable(v) and not isinstance(v, type)
                and getattr(v, "__module__", "").startswith("aad_lib.attacks")}
    assert imported == set(ATTACK_NAMES)


# ----------------------------------------------------------------------------------------- set-up

def lenet(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = models.create("lenet_small", size=12)
    with torch.no_grad():  # logits of order 1 (not ~0.1 as at initialisation): every term moves the loss
        model.head.weight.mul_(10.0)
    return model.train()  # the loop calls recipes in train mode


def batch(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(N, 1, 12, 12, generator=g)
    y = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7])  # eight different classes
    return x, y


@dataclass
class Run:
    out: recipes.StepOutput
    calls: dict[str, list[tuple[tuple, dict, torch.Tensor]]]
    state: torch.Tensor  # the batch generator's state before the recipe drew from it

    def generator(self) -> torch.Generator:
        """A clone of the batch's generator as the recipe received it (to replay its draws)."""
        g = torch.Generator()
        g.set_state(self.state)
        return g

    def examples(self, name: str) -> list[torch.Tensor]:
        return [result for _, _, result in self.calls[name]]

    def counts(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.calls.items() if v}


def run(monkeypatch, name: str, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
        options: dict, attack: AttackSettings = SPEC, seed: int = 7) -> Run:
    """Run recipe ``name`` with every attack it imports wrapped to keep its result."""
    calls: dict[str, list] = {n: [] for n in ATTACK_NAMES}
    inside = [False]
    for fname in ATTACK_NAMES:
        def wrapper(*args, _f=getattr(recipes, fname), _name=fname, **kwargs):
            inside[0] = True
            try:
                result = _f(*args, **kwargs)
            finally:
                inside[0] = False
            calls[_name].append((args, kwargs, result.detach().clone()))
            return result
        monkeypatch.setattr(recipes, fname, wrapper)
    forwards: list[tuple[bool, bool]] = []  # (inside an attack, model.training) per forward pass
    # the last layer sees every forward pass, also Guided Dropout's (penultimate + head, no model())
    last = model.head if hasattr(model, "head") else model.decoder
    handle = last.register_forward_pre_hook(lambda m, _inp: forwards.append((inside[0], m.training)))
    gen = torch.Generator().manual_seed(seed)
    state = gen.get_state()
    assert set(options) == set(recipes.get(name).options)  # every option of the recipe is set by the test
    try:
        out = recipes.RECIPES[name](recipes.Batch(model, x, y, attack, dict(options), gen))
    finally:
        handle.remove()
    monkeypatch.undo()  # replays below call the real attacks
    # attacks in eval mode, the loss in train mode (module docstring of recipes.py)
    assert forwards and all(training != in_attack for in_attack, training in forwards), forwards
    return Run(out, calls, state)


def assert_same_loss(model: torch.nn.Module, loss: torch.Tensor, reference: torch.Tensor,
                     rtol: float = 1e-4, atol: float = 1e-6) -> None:
    """Value (rel 1e-5) and the gradient w.r.t. every parameter of the model."""
    assert loss.item() == pytest.approx(reference.item(), rel=1e-5)
    names, params = zip(*model.named_parameters())
    got = torch.autograd.grad(loss, params, retain_graph=True)
    want = torch.autograd.grad(reference, params, retain_graph=True)
    assert any(w.abs().max() > 1e-4 for w in want)
    for name, g, w in zip(names, got, want):
        assert torch.allclose(g, w, rtol=rtol, atol=atol), (name, (g - w).abs().max().item())


def assert_parts(parts: dict[str, float], expected: dict[str, torch.Tensor]) -> None:
    assert set(parts) == set(expected)
    for k, v in expected.items():
        assert parts[k] == pytest.approx(v.item(), rel=1e-5, abs=1e-9), k


def ce(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy written out: ``mean_i -log softmax(z_i)[y_i]``."""
    return -F.log_softmax(z, dim=1).gather(1, y[:, None]).mean()


def in_ball(x_adv: torch.Tensor, x: torch.Tensor, eps: float) -> bool:
    return bool((x_adv - x).abs().max() <= eps + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1)


def recorded_pgd(r: Run, model, x, y, spec: AttackSettings = SPEC) -> torch.Tensor:
    """The one PGD call of the recipe: it attacked this batch with the spec's eps/alpha/steps and a
    random start, i.e. it equals a fresh PGD run from the recipe's generator state."""
    assert r.counts() == {"pgd": 1}
    (x_adv,) = r.examples("pgd")
    assert not torch.equal(x_adv, x) and in_ball(x_adv, x, spec.eps)
    replay = attacks.pgd(model, x, y, spec.eps, spec.alpha, spec.steps, True, generator=r.generator())
    assert torch.equal(x_adv, replay)
    return x_adv


def guided_dropout(model, x: torch.Tensor, y: torch.Tensor, rescale: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """AALP Eq. 7-8 by hand: penultimate features ``a`` (the input of the linear head), the
    contribution ``c_j = mean_i |a_ij dL_i/da_ij|`` with ``L_i = CE(W a_i + b, y_i)``, so
    ``dL_i/da_i = (softmax(z_i) - onehot(y_i)) W``; keep the half of the features with the highest
    contribution (``c_j > median c``), one mask for every sample of ``x``; ``rescale`` multiplies
    the kept features by ``D / kept`` (inverted dropout). Returns the trimmed logits and the mask."""
    a = model.penultimate(x)
    w = model.head.weight.detach()
    z = a.detach() @ w.T + model.head.bias.detach()
    grad_a = (F.softmax(z, dim=1) - F.one_hot(y, z.shape[1]).float()) @ w
    c = (a.detach() * grad_a).abs().mean(0)
    d = c.numel()
    ranked = c.sort(descending=True).values
    assert ranked[d // 2 - 1] > ranked[d // 2]  # no tie at the cut: "above the median" = the top half
    keep = torch.zeros(d)
    keep[c.topk(d // 2).indices] = 1.0
    if rescale:
        keep = keep * (d / keep.sum())
    return model.head(a * keep), keep


# ----------------------------------------------------------------------------------- RAW and ADV

def test_standard_is_clean_cross_entropy(monkeypatch):
    """RAW: ``L = mean_i CE(f(x_i), y_i)`` on the clean batch, no attack."""
    model, (x, y) = lenet(), batch()
    r = run(monkeypatch, "standard", model, x, y, {})
    assert r.counts() == {}
    z = model(x)
    loss = ce(z, y)
    assert_same_loss(model, r.out.loss, loss)
    assert_parts(r.out.parts, {"ce": loss})
    assert torch.equal(r.out.clean_pred, z.argmax(1)) and r.out.adv_pred is None


def test_madry_is_cross_entropy_on_random_start_pgd_examples(monkeypatch):
    """ADV (Madry et al. 2018, Eq. 2): ``L = mean_i CE(f(x'_i), y_i)``, x' = PGD with random start
    inside the L-inf ball of the spec (eps 0.3, step 0.1, 2 steps); the clean images are not trained on."""
    model, (x, y) = lenet(), batch()
    r = run(monkeypatch, "madry", model, x, y, {})
    x_adv = recorded_pgd(r, model, x, y)
    z_adv = model(x_adv)
    loss = ce(z_adv, y)
    assert abs(loss.item() - ce(model(x), y).item()) > 1e-3 * loss.item()  # the attack matters
    assert_same_loss(model, r.out.loss, loss)
    assert_parts(r.out.parts, {"ce_adv": loss})
    assert torch.equal(r.out.adv_pred, z_adv.argmax(1)) and r.out.clean_pred is None


def test_madry_guided_trims_by_the_adversarial_batch_mask(monkeypatch):
    """ADV + Guided Dropout (AALP Sec. 4.4, Eq. 7-8): ``L = mean_i CE(f_gd(x'_i), y_i)``, the mask
    computed from the adversarial batch itself; with ``gd_rescale`` the kept features are scaled by 2."""
    model, (x, y) = lenet(), batch()
    r = run(monkeypatch, "madry+gd", model, x, y, {"gd_rescale": True})
    x_adv = recorded_pgd(r, model, x, y)
    z_adv, keep = guided_dropout(model, x_adv, y, rescale=True)
    loss = ce(z_adv, y)
    assert abs(loss.item() - ce(model(x_adv), y).item()) > 1e-3 * loss.item()  # the trim matters
    assert_same_loss(model, r.out.loss, loss)
    assert_parts(r.out.parts, {"ce_adv": loss})
    assert torch.equal(r.out.adv_pred, z_adv.argmax(1)) and r.out.clean_pred is None


def test_standard_guided_trims_by_the_clean_batch_mask(monkeypatch):
    """RAW + Guided Dropout (AALP Sec. 4.4, Eq. 7-8): ``L = mean_i CE(f_gd(x_i), y_i)``, the
    penultimate features outside the clean batch's top-contribution half dropped, not rescaled."""
    model, (x, y) = lenet(), batch()
    r = run(monkeypatch, "standard+gd", model, x, y, {"gd_rescale": False})
    assert r.counts() == {}
    z, keep = guided_dropout(model, x, y, rescale=False)
    loss = ce(z, y)
    assert abs(loss.item() - ce(model(x), y).item()) > 1e-3 * loss.item()
    assert_same_loss(model, r.out.loss, loss)
    assert_parts(r.out.parts, {"ce": loss})
    assert torch.equal(r.out.clean_pred, z.argmax(1)) and r.out.adv_pred is None


def test_standard_flip_flips_left_right_where_the_coin_says(monkeypatch):
    """RAW on randomly flipped images: ``L = mean_i CE(f(x~_i), y_i)``, ``x~_i`` = x_i mirrored
    left-right when the i-th uniform draw of the batch generator is below 1/2, else x_i."""
    model, (x, y) = lenet(), batch()
    r = run(monkeypatch, "standard+flip", model, x, y, {})
    assert r.counts() == {}
    coin = torch.rand(N, generator=r.generator()) < 0.5  # the recipe's draws, replayed
    assert 0 < int(coin.sum()) < N  # this seed flips some images and keeps others
    flipped = torch.stack([xi.flip(-1) if c else xi for xi, c in zip(x, coin)])
    z = model(flipped)
    loss = ce(z, y)
    for wrong in (x, x.flip(-1)):  # flipping none / all would be visible in the loss
        assert abs(ce(model(wrong), y).item() - loss.item()) > 1e-3 * loss.item()
    assert_same_loss(model, r.out.loss, loss)
    assert_parts(r.out.parts, {"ce": loss})
    assert torch.equal(r.out.clean_pred, z.argmax(1))


# ------------------------------------------------------------------------ ALP and its AALP family

def alp_reference(z: torch.Tensor, z_adv: torch.Tensor, y: torch.Tensor, weight: float, adaptive: bool):
    """``L = 1/2 (CE(z, y) + CE(z', y)) + lambda * mean_i w_i sum_c (z_ic - z'_ic)^2``: the CE over
    the mixed clean + adversarial minibatch (Kannan et al. 2018, Eq. 4), ``w_i = 1`` for ALP and
    the detached clean true-class confidence ``p_y(x_i)`` for AALP (Eq. 9-10)."""
    ce_mix = 0.5 * (ce(z, y) + ce(z_adv, y))
    w = F.softmax(z.detach(), dim=1).gather(1, y[:, None]).squeeze(1) if adaptive else torch.ones(len(y))
    pairing = (w * ((z - z_adv) ** 2).sum(1)).sum() / len(y)
    return ce_mix + weight * pairing, ce_mix, pairing


@pytest.mark.parametrize("name, guided, adaptive, rescale", [
    ("alp", False, False, None), ("alp+aw", False, True, None),
    ("alp+gd", True, False, True), ("aalp", True, True, False)])
def test_alp_family_recomputed(monkeypatch, name, guided, adaptive, rescale):
    """ALP (Kannan et al. 2018, Eq. 4) and the AALP ablations (AALP paper, Eq. 7-10): the mixed
    CE plus ``lambda`` (0.7) times the (adaptively weighted) squared logit distance, the logits
    through Guided Dropout for the ``+gd`` rows with ONE mask from the mixed batch [x; x']."""
    model, (x, y) = lenet(), batch()
    options = {"alp_weight": 0.7} | ({"gd_rescale": rescale} if guided else {})
    r = run(monkeypatch, name, model, x, y, options)
    x_adv = recorded_pgd(r, model, x, y)
    if guided:
        z_all, _ = guided_dropout(model, torch.cat([x, x_adv]), torch.cat([y, y]), rescale)
        z, z_adv = z_all[:N], z_all[N:]
        z_whole = model(x)  # the untrimmed network: the trim must matter
        assert (z - z_whole).abs().max() > 1e-2
    else:
        z, z_adv = model(x), model(x_adv)
    loss, ce_mix, pairing = alp_reference(z, z_adv, y, 0.7, adaptive)
    # every ingredient moves the loss well beyond the tolerance
    assert 0.7 * pairing.item() > 1e-2 * loss.item()
    assert abs(pairing.item() - alp_reference(z, z_adv, y, 0.7, not adaptive)[2].item()) > 1e-2 * pairing.item()
    assert abs(ce(z, y).item() - ce(z_adv, y).item()) > 1e-3 * loss.item()
    assert_same_loss(model, r.out.loss, loss)
    assert_parts(r.out.parts, {"ce": ce_mix, "alp": pairing})
    assert torch.equal(r.out.clean_pred, z.argmax(1)) and torch.equal(r.out.adv_pred, z_adv.argmax(1))


# ------------------------------------------------------------------------------------------ TRADES

def test_trades_is_clean_ce_plus_beta_kl_on_kl_attack_examples(monkeypatch):
    """TRADES (Zhang et al. 2019, Eq. 5): ``L = mean_i CE(f(x_i), y_i) + beta * mean_i
    sum_c p_c(x_i) log(p_c(x_i) / p_c(x'_i))`` with beta 3.0 and x' from the KL attack (PGD on the
    KL from x + 0.001 N(0, I), Alg. 1), not the CE attack."""
    model, (x, y) = lenet(), batch()
    beta = 3.0
    r = run(monkeypatch, "trades", model, x, y, {"trades_beta": beta})
    assert r.counts() == {"trades_attack": 1}
    (x_adv,) = r.examples("trades_attack")
    assert not torch.equal(x_adv, x) and in_ball(x_adv, x, SPEC.eps)
    assert torch.equal(x_adv, attacks.trades_attack(model, x, SPEC.eps, SPEC.alpha, SPEC.steps,
                                                    generator=r.generator()))
    z, z_adv = model(x), model(x_adv)
    ce_clean = ce(z, y)
    p, logp, logq = F.softmax(z, 1), F.log_softmax(z, 1), F.log_softmax(z_adv, 1)
    kl = (p * (logp - logq)).sum(1).mean()
    loss = ce_clean + beta * kl
    assert beta * kl.item() > 1e-2 * loss.item() and abs(ce(z_adv, y).item() - ce_clean.item()) > 1e-3
    assert_same_loss(model, r.out.loss, loss)
    assert_parts(r.out.parts, {"ce": ce_clean, "kl": kl})
    assert torch.equal(r.out.clean_pred, z.argmax(1)) and torch.equal(r.out.adv_pred, z_adv.argmax(1))


# --------------------------------------------------------------------------------------------- ARP

ARP = {"arp_alpha": 5.0, "arp_beta": 3.0, "arp_gamma": 2.0}


def arp_reference(model, x: torch.Tensor, y: torch.Tensor, adversarial: list[torch.Tensor]):
    """ARP (Wu et al., "Attention, Please!"): ``L = alpha L_c + beta L_r + gamma L_p`` with
    ``L_c = CE(f(x), y) + CE(f(x'), y)`` (the adversarial CE averaged over every adversarial copy),
    ``L_r = -mean_{i,c} (softmax(f(x_i)) - softmax(f(x_i * (1 - Att(x_i)))))_c^2`` over clean and
    adversarial images, ``Att = 1[CAM > per-image mean CAM]`` (no gradient), CAM = the true-class
    Grad-CAM at image resolution scaled to [0, 1] by its own maximum, and
    ``L_p = mean_i sum_pixels (CAM(x_i) - CAM(x'_i))^2`` over every (clean, adversarial) pair."""
    n, k = len(x), len(adversarial)
    x_all = torch.cat([x, *adversarial])
    y_all = y.repeat(k + 1)
    cam, z = gradcam_and_logits(model, x_all, y_all, create_graph=True, size=(12, 12), mode="train")
    cam = cam / cam.flatten(1).amax(1).clamp_min(1e-12)[:, None, None]
    att = (cam.detach() > cam.detach().mean(dim=(1, 2), keepdim=True)).float()
    assert 0 < att.mean() < 1  # the masks remove something and keep something
    z_masked = model(x_all * (1 - att[:, None]))
    l_c = ce(z[:n], y) + ce(z[n:], y.repeat(k))
    l_r = -((F.softmax(z, 1) - F.softmax(z_masked, 1)) ** 2).sum() / z.numel()
    l_p = ((cam[:n].repeat(k, 1, 1) - cam[n:]) ** 2).sum(dim=(1, 2)).sum() / (n * k)
    loss = ARP["arp_alpha"] * l_c + ARP["arp_beta"] * l_r + ARP["arp_gamma"] * l_p
    # each term moves the loss well beyond the value tolerance (rel 1e-5); a flipped sign of L_r
    # shows as 2 beta |L_r|, about 3e-4 of the loss here
    assert 2 * ARP["arp_beta"] * abs(l_r.item()) > 10 * 1e-5 * loss.item()
    assert ARP["arp_gamma"] * l_p.item() > 1e-2 * loss.item()
    return loss, l_c, l_r, l_p, z


def test_arp_on_step_ll_and_two_step_iterated_step_ll(monkeypatch):
    """ARP as the authors trained it: each clean image paired with its Step-LL example (one step of
    eps towards the clean least-likely class, Kurakin et al. 2017 Eq. 3) and its iterated Step-LL
    example (2 steps of eps/2, Eq. 4); alpha:beta:gamma = 5:3:2 here."""
    model, (x, y) = lenet(), batch()
    r = run(monkeypatch, "arp", model, x, y, ARP)
    assert r.counts() == {"least_likely": 1, "iterated_step_ll": 2}
    (y_ll,) = r.examples("least_likely")
    with torch.no_grad():
        assert torch.equal(y_ll, model.eval()(x).argmin(1))
    model.train()
    one, two = r.examples("iterated_step_ll")
    assert torch.equal(one, attacks.step_ll(model, x, None, SPEC.eps))
    assert torch.equal(two, attacks.iterated_step_ll(model, x, None, SPEC.eps, SPEC.eps / 2, 2))
    for x_adv in (one, two):
        assert not torch.equal(x_adv, x) and in_ball(x_adv, x, SPEC.eps)
    assert not torch.equal(one, two)
    loss, l_c, l_r, l_p, z = arp_reference(model, x, y, [one, two])
    assert_same_loss(model, r.out.loss, loss)
    assert_parts(r.out.parts, {"ce": l_c, "rectify": l_r, "preserve": l_p})
    assert torch.equal(r.out.clean_pred, z[:N].argmax(1)) and torch.equal(r.out.adv_pred, z[N:2 * N].argmax(1))


def test_arp_pgd_on_madry_examples(monkeypatch):
    """ARP trained on PGD examples (random start, the spec's eps/alpha/steps) instead of Step-LL:
    the same ``alpha L_c + beta L_r + gamma L_p`` with one adversarial copy per image."""
    model, (x, y) = lenet(), batch()
    r = run(monkeypatch, "arp-pgd", model, x, y, ARP)
    x_adv = recorded_pgd(r, model, x, y)
    loss, l_c, l_r, l_p, z = arp_reference(model, x, y, [x_adv])
    assert_same_loss(model, r.out.loss, loss)
    assert_parts(r.out.parts, {"ce": l_c, "rectify": l_r, "preserve": l_p})
    assert torch.equal(r.out.clean_pred, z[:N].argmax(1)) and torch.equal(r.out.adv_pred, z[N:].argmax(1))


# --------------------------------------------------------------------------------------- ComDefend

def test_comdefend_is_reconstruction_mse_plus_lambda_code_power(monkeypatch):
    """ComDefend (Jia et al. 2019, Sec. 3.3; the authors' code): ``L = mean((RecCNN(b) - x)^2) +
    lambda * mean(b^2)``, ``b = sigmoid(ComCNN(x) - sigma * eps)`` with eps ~ N(0, 1) drawn from the
    batch generator; lambda 0.05 and sigma 2 (not 20) so the code term and the encoder's gradient
    are both visible."""
    torch.manual_seed(0)
    model = ComDefend(1, "plain", sigma=2.0, **CPU_PROFILE).train()
    x, _ = batch()
    lam = 0.05
    r = run(monkeypatch, "comdefend", model, x, torch.zeros(N, dtype=torch.long), {"comdefend_lambda": lam})
    assert r.counts() == {}
    code = model.encoder(x)
    eps = torch.randn(code.shape, generator=r.generator())  # the recipe's noise, replayed
    b = torch.sigmoid(code - 2.0 * eps)
    rebuilt = model.decoder(b)
    mse = ((rebuilt - x) ** 2).mean()
    power = (b ** 2).mean()
    loss = mse + lam * power
    assert lam * power.item() > 0.1 * mse.item()
    assert abs(mse.item() - ((rebuilt - x.flip(0)) ** 2).mean().item()) > 1e-3 * mse.item()
    assert_same_loss(model, r.out.loss, loss)
    assert_parts(r.out.parts, {"mse": mse, "code": power})
    assert r.out.clean_pred is None and r.out.adv_pred is None


HAND_TESTED = ("standard", "madry", "madry+gd", "standard+gd", "standard+flip", "alp", "alp+aw", "alp+gd",
               "aalp", "trades", "arp", "arp-pgd", "comdefend")


def test_loss_passes_count_the_images_each_loss_sends_through_the_model():
    """The bench's floor reads each record's loss_passes: count the images every recipe's loss
    sends through the network per clean image (a hook on the first layer, which Guided Dropout's
    penultimate pass also goes through; the attacks are switched off with eps 0)."""
    x, y = torch.rand(4, 1, 28, 28), torch.randint(0, 10, (4,))
    for name, recipe in recipes.RECIPES.items():
        if recipe.trains != "classifier":
            continue
        torch.manual_seed(0)
        model = models.for_dataset("lenet_small", "mnist5k")
        seen = []
        hook = model.normalize.register_forward_pre_hook(lambda m, args: seen.append(args[0].shape[0]))
        recipe(recipes.Batch(model, x, y, AttackSettings(0.0, 0.1, 0), dict(recipe.options), torch.Generator().manual_seed(0)))
        hook.remove()
        assert sum(seen) == recipe.loss_passes * len(x), (name, seen, recipe.loss_passes)


def test_requires_names_exactly_what_a_logits_only_model_lacks():
    """A user's module: model may give logits only. The recipes whose record requires nothing train
    it; every recipe that requires penultimate features or a Grad-CAM layer fails on it, so the
    pipeline can refuse those up front (the record is the truth the refusal reads)."""
    x, y = torch.rand(4, 1, 28, 28), torch.randint(0, 10, (4,))
    for name, recipe in recipes.RECIPES.items():
        if recipe.trains != "classifier":
            continue
        torch.manual_seed(0)
        plain = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 10))
        batch = recipes.Batch(plain, x, y, AttackSettings(0.3, 0.1, 1), dict(recipe.options), torch.Generator().manual_seed(0))
        if recipe.requires:
            message = {"penultimate": "has no attribute 'penultimate'", "cam_layer": "names no cam_layer"}
            with pytest.raises((AttributeError, AadError), match=message[recipe.requires[0]]):
                recipe(batch)
        else:
            assert torch.isfinite(recipe(batch).loss), name
