"""Training methods as small loss recipes. Each recipe maps a clean batch to the loss to minimise,
its named parts (for the log) and the clean/adversarial predictions (for training accuracy).

Adversarial examples are generated with the model in eval mode (as the official TRADES code does)
and the loss is computed in train mode.

A recipe runs unchanged on a stack of models (:class:`~aad_lib.training.stack.ModelStack`, rows of
the models interleaved): whatever reduces over the batch goes through :meth:`Batch.per_model`
and every random draw through :meth:`Batch.draw`, which for a single model are the plain call
itself (the same bits as ever) and for a stack give each model what its separate run would get.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import torch
import torch.nn.functional as F
from torch import nn

from .. import losses
from ..attacks import iterated_step_ll, least_likely, pgd, starts, trades_attack
from ..attacks.settings import AttackSettings
from ..attention import gradcam_and_logits, normalize_maps
from ..contribution import guided_logits
from ..defenses.comdefend_loss import comdefend_loss
from ..defenses.quality import psnr
from ..models.module_models import NEEDS  # what a recipe may need of the model beyond its logits
from ..runtime import generator
from ..validation import AadError, choose
from .stack import ModelStack, interleave, rows_of


@dataclass
class StepOutput:
    """A recipe's result. Predictions are those the step computed anyway: Madry training never
    sees the clean batch, so it reports no clean training accuracy (an extra forward per batch
    cost 7% of a PGD-3 epoch; the monitor's test accuracy covers it). On a stack of K models the
    loss is one value per model, (K,), each part a list of K floats, the predictions interleaved."""

    loss: torch.Tensor
    parts: dict[str, float | list[float]] = field(default_factory=dict)
    clean_pred: torch.Tensor | None = None
    adv_pred: torch.Tensor | None = None

    def per_model(self, count: int) -> list[StepOutput]:
        """One output per model of a stack of ``count`` (``[self]`` for one model)."""
        if count == 1:
            return [self]

        def rows(pred: torch.Tensor | None, k: int) -> torch.Tensor | None:
            return None if pred is None else rows_of(pred, k, count)

        return [StepOutput(self.loss[k], {name: values[k] for name, values in self.parts.items()},
                           rows(self.clean_pred, k), rows(self.adv_pred, k)) for k in range(count)]


@dataclass
class Batch:
    """What a recipe sees: the model, a clean batch, the attack, method options, randomness.

    For a :class:`~aad_lib.training.stack.ModelStack` of K models the rows of ``x`` and ``y``
    are the K models' batches interleaved and ``generator`` is one generator per model."""

    model: nn.Module
    x: torch.Tensor
    y: torch.Tensor
    attack: AttackSettings
    options: dict
    generator: torch.Generator | Sequence[torch.Generator]

    def __post_init__(self) -> None:
        if self.models > 1 and (isinstance(self.generator, torch.Generator) or len(self.generator) != self.models):
            raise AadError(f"a batch of a stack of {self.models} models needs one generator per model, got "
                           f"{self.generator!r}.")

    @property
    def models(self) -> int:
        """How many models the rows belong to (1, or the size of a model stack)."""
        return self.model.count if isinstance(self.model, ModelStack) else 1

    def per_model(self, fn: Callable[..., torch.Tensor], *rows: torch.Tensor) -> torch.Tensor:
        """``fn`` (a loss, a reduction) of each model's own rows: ``fn(*rows)`` itself for one
        model; for a stack one result per model, stacked, (K, ...)."""
        if self.models == 1:
            return fn(*rows)
        return torch.stack([fn(*(rows_of(r, k, self.models) for r in rows)) for k in range(self.models)])

    def draw(self, fn: Callable[[torch.Generator, torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """Random draws, one row per image: ``fn(generator, clean images)``, for a stack once per
        model with that model's generator and images (the draws of its separate run), interleaved."""
        if self.models == 1:
            return fn(self.generator, self.x)
        return interleave([fn(g, rows_of(self.x, k, self.models).contiguous()) for k, g in enumerate(self.generator)])

    def pgd_examples(self) -> torch.Tensor:
        """PGD on the cross-entropy (Madry et al. 2018), the training attack of ADV and ALP."""
        a = self.attack
        if a.eps == 0 or a.steps == 0:
            return self.x
        start = self.draw(lambda g, x: starts.ball_start(x, float(a.eps), "linf", g)) if a.random_start else None
        return pgd(self.model, self.x, self.y, a.eps, a.alpha, a.steps, a.random_start, start=start)


Step = Callable[[Batch], StepOutput]
# A recipe's own end-of-epoch measurement on a fixed test subset: (model, x, y, seed) -> log columns.
Monitor = Callable[[nn.Module, torch.Tensor, torch.Tensor, int], dict[str, float]]
TRAINS = ("classifier", "purifier")


def pgd_attack_words(attack: AttackSettings) -> str:
    """The training attack of the PGD recipes in words, e.g. ``PGD-3 eps 0.3 step 0.15``."""
    return f"PGD-{attack.steps} eps {attack.eps} step {attack.alpha}"


@dataclass(frozen=True)
class Recipe:
    """One training method: its loss ``step`` (a clean batch -> loss, parts, predictions), its
    ``options`` and their defaults, whether it needs the training attack, what kind of model it
    trains (``classifier`` or ``purifier``), its own end-of-epoch ``monitor`` (None: the loop's
    clean and PGD test accuracy), how it describes its training attack in the tables, and how many
    images its loss passes through the model per clean image (``loss_passes``: 1 for clean or
    adversarial only, 2 for clean + adversarial, 6 for ARP's clean + two adversarial images and
    their attention-masked copies, 4 for ARP on PGD; the benchmark's floor counts these), and what
    it needs of the model beyond logits (``requires``: ``penultimate`` for Guided Dropout, which
    reads ``model.penultimate`` and ``model.head``; ``cam_layer`` for ARP's Grad-CAM), which a
    user's own ``module:`` model may lack, and what keeps it from training a stack of models as
    one computation (``stack_obstacle``; empty: its step runs on a
    :class:`~aad_lib.training.stack.ModelStack`)."""

    name: str
    step: Step
    options: Mapping[str, float | bool]
    needs_attack: bool = True
    trains: str = "classifier"
    monitor: Monitor | None = None
    describe: Callable[[AttackSettings], str] = pgd_attack_words
    loss_passes: int = 1
    requires: tuple[str, ...] = ()
    stack_obstacle: str = ""

    def __call__(self, batch: Batch) -> StepOutput:
        return self.step(batch)

    def describe_attack(self, attack: AttackSettings) -> str:
        """The training attack in words (``none`` for a recipe that trains without one)."""
        return self.describe(attack) if self.needs_attack else "none"


RECIPES: dict[str, Recipe] = {}


def recipe(name: str, needs_attack: bool = True, options: dict[str, float] | None = None,
           monitor: Monitor | None = None, trains: str = "classifier",
           describe: Callable[[AttackSettings], str] = pgd_attack_words, loss_passes: int = 1,
           requires: tuple[str, ...] = (), stack_obstacle: str = "") -> Callable[[Step], Step]:
    """Register the loss step below as training method ``name`` (one :class:`Recipe` record) with
    its own options and their defaults; ``monitor`` replaces the loop's classifier monitor."""

    def register(fn: Step) -> Step:
        RECIPES[name] = Recipe(name, fn, MappingProxyType(dict(options or {})), needs_attack,
                               choose(trains, TRAINS, "kind of trained model"), monitor, describe, loss_passes,
                               tuple(choose(r, NEEDS, "model capability") for r in requires), stack_obstacle)
        return fn

    return register


def get(name: str) -> Recipe:
    """The registered recipe ``name`` (a did-you-mean error for an unknown one)."""
    return RECIPES[choose(name, RECIPES, "training method")]


def classifier_recipes() -> list[str]:
    """The names of the recipes that train a classifier (every table of classifiers reads these)."""
    return [name for name, r in RECIPES.items() if r.trains == "classifier"]


@recipe("standard", needs_attack=False)
def standard(b: Batch) -> StepOutput:
    """RAW: ``CE(f(x), y)``."""
    z = b.model(b.x)
    loss = b.per_model(F.cross_entropy, z, b.y)
    return StepOutput(loss, {"ce": loss.tolist()}, clean_pred=z.argmax(1))


@recipe("madry")
def madry(b: Batch) -> StepOutput:
    """ADV (Madry et al. 2018, Eq. 2): ``CE(f(x'), y)`` with x' from PGD with random start."""
    x_adv = b.pgd_examples()
    z_adv = b.model(x_adv)
    loss = b.per_model(F.cross_entropy, z_adv, b.y)
    return StepOutput(loss, {"ce_adv": loss.tolist()}, adv_pred=z_adv.argmax(1))


def _alp_family(b: Batch, guided: bool, adaptive: bool) -> StepOutput:
    """Shared body of ALP and its AALP variants: CE over the mixed clean+adversarial minibatch
    plus ``lambda * L_pair`` (option ``alp_weight``); ``guided`` trims the penultimate layer by
    Guided Dropout (Eq. 7-8, one mask for the mixed batch), ``adaptive`` weights each pair by the
    clean true-class confidence (Eq. 9)."""
    x_adv = b.pgd_examples()
    if guided:
        z, _ = guided_logits(b.model, torch.cat([b.x, x_adv]), torch.cat([b.y, b.y]), bool(b.options["gd_rescale"]),
                             groups=b.models)
    else:
        z = b.model(torch.cat([b.x, x_adv]))
    z_clean, z_adv = z.chunk(2)
    ce = 0.5 * (b.per_model(F.cross_entropy, z_clean, b.y) + b.per_model(F.cross_entropy, z_adv, b.y))
    pairing = (b.per_model(losses.adaptive_logit_pairing, z_clean, z_adv, b.y) if adaptive else
               b.per_model(losses.logit_pairing, z_clean, z_adv))
    loss = losses.aalp_total(ce, pairing, float(b.options["alp_weight"]))
    return StepOutput(loss, {"ce": ce.tolist(), "alp": pairing.tolist()}, z_clean.argmax(1), z_adv.argmax(1))


@recipe("alp", options={"alp_weight": 0.5}, loss_passes=2)
def alp(b: Batch) -> StepOutput:
    """ALP (Kannan et al. 2018, Eq. 4): CE over the mixed clean+adversarial minibatch plus
    ``lambda * mean_i ||z_i - z'_i||^2`` (option ``alp_weight``, default 0.5)."""
    return _alp_family(b, guided=False, adaptive=False)


@recipe("alp+gd", options={"alp_weight": 0.5, "gd_rescale": False}, loss_passes=2, requires=("penultimate",))
def alp_guided(b: Batch) -> StepOutput:
    """ALP + Guided Dropout (AALP paper, Sec. 3.1, the first ablation row of Table 2)."""
    return _alp_family(b, guided=True, adaptive=False)


@recipe("alp+aw", options={"alp_weight": 0.5}, loss_passes=2)
def alp_adaptive(b: Batch) -> StepOutput:
    """ALP + adaptive sample weighting only (Eq. 9-10 without Guided Dropout; second ablation row)."""
    return _alp_family(b, guided=False, adaptive=True)


@recipe("aalp", options={"alp_weight": 0.5, "gd_rescale": False}, loss_passes=2, requires=("penultimate",))
def aalp(b: Batch) -> StepOutput:
    """AALP (Eq. 10): ``L = L_cls + lambda * mean_i p_y(x_i) ||z_i - z'_i||^2`` trained through
    Guided Dropout at the penultimate layer (option ``alp_weight`` = lambda, swept in Fig. 6)."""
    return _alp_family(b, guided=True, adaptive=True)


@recipe("standard+gd", needs_attack=False, options={"gd_rescale": False}, requires=("penultimate",))
def standard_guided(b: Batch) -> StepOutput:
    """RAW + Guided Dropout (Sec. 4.4): ``CE(f_gd(x), y)``."""
    z, _ = guided_logits(b.model, b.x, b.y, bool(b.options["gd_rescale"]), groups=b.models)
    loss = b.per_model(F.cross_entropy, z, b.y)
    return StepOutput(loss, {"ce": loss.tolist()}, clean_pred=z.argmax(1))


@recipe("standard+flip", needs_attack=False)
def standard_flipped(b: Batch) -> StepOutput:
    """RAW on images flipped left-right with probability 1/2 (a coin per image from the batch's
    generator): a classifier that is invariant to the flip, as ImageNet classifiers trained with
    random flips are. The WebP + flip defense (Yin et al., "Defense against Adversarial Attacks by
    Low-level Image Transformations", Int. J. Intelligent Systems, 2020) presumes one; a digit classifier
    trained without flips loses most digits to the flip alone (notebook 05)."""
    coin = b.draw(lambda g, x: torch.rand(x.shape[0], generator=g, device=g.device)).to(b.x.device) < 0.5
    z = b.model(torch.where(coin[:, None, None, None], b.x.flip(-1), b.x))
    loss = b.per_model(F.cross_entropy, z, b.y)
    return StepOutput(loss, {"ce": loss.tolist()}, clean_pred=z.argmax(1))


@recipe("madry+gd", options={"gd_rescale": False}, requires=("penultimate",))
def madry_guided(b: Batch) -> StepOutput:
    """ADV + Guided Dropout (Sec. 4.4): ``CE(f_gd(x'), y)``, the mask from the adversarial batch."""
    x_adv = b.pgd_examples()
    z_adv, _ = guided_logits(b.model, x_adv, b.y, bool(b.options["gd_rescale"]), groups=b.models)
    loss = b.per_model(F.cross_entropy, z_adv, b.y)
    return StepOutput(loss, {"ce_adv": loss.tolist()}, adv_pred=z_adv.argmax(1))


@recipe("trades", options={"trades_beta": 1.0}, loss_passes=2,
        describe=lambda a: f"PGD-{a.steps} on the KL eps {a.eps} step {a.alpha}")
def trades(b: Batch) -> StepOutput:
    """TRADES (Zhang et al. 2019, Eq. 5): ``CE(f(x), y) + beta * KL(p(x) || p(x'))``, x'
    maximising the KL (option ``trades_beta``; 1.0 for MNIST and 6.0 for CIFAR-10 in the paper)."""
    a = b.attack
    x_adv = (trades_attack(b.model, b.x, a.eps, a.alpha, a.steps, start=b.draw(lambda g, x: starts.trades_start(x, g)))
             if a.eps > 0 else b.x)
    z_clean = b.model(b.x)
    z_adv = b.model(x_adv)
    ce = b.per_model(F.cross_entropy, z_clean, b.y)
    kl = b.per_model(losses.trades_kl, z_clean, z_adv)
    return StepOutput(ce + float(b.options["trades_beta"]) * kl, {"ce": ce.tolist(), "kl": kl.tolist()}, z_clean.argmax(1),
                      z_adv.argmax(1))


ARP_OPTIONS = {"arp_alpha": 8.0, "arp_beta": 4.0, "arp_gamma": 1.0}


def _arp_family(b: Batch, adversarial: list[torch.Tensor]) -> StepOutput:
    """ARP (Wu et al., "Attention, Please!"): ``L = alpha L_c + beta L_r + gamma L_p`` with
    ``L_c = CE(f(x), y) + CE(f(x'), y)``, ``L_r`` the rectification through the attention-masked
    clean and adversarial images and ``L_p`` the preservation of the true-class Grad-CAM between
    each clean image and its adversarial versions (:mod:`aad_lib.losses`). One forward of the
    clean and adversarial batch gives the logits and the differentiable maps (``create_graph``);
    one more forward gives the masked images' logits."""
    n, copies = b.x.shape[0], len(adversarial)
    x_all = torch.cat([b.x, *adversarial])
    y_adv = b.y.repeat(copies)
    maps, z = gradcam_and_logits(b.model, x_all, torch.cat([b.y, y_adv]), create_graph=True,
                                 size=tuple(b.x.shape[-2:]), mode="keep")
    maps = normalize_maps(maps)
    z_masked = b.model(losses.masked_images(x_all, losses.attention_mask(maps)))
    z_clean, z_adv = z[:n], z[n:]
    ce = F.cross_entropy(z_clean, b.y) + F.cross_entropy(z_adv, y_adv)
    rectify = losses.rectification(z, z_masked)
    preserve = losses.preservation(maps[:n].repeat(copies, 1, 1), maps[n:])
    o = b.options
    loss = losses.arp_total(ce, rectify, preserve, float(o["arp_alpha"]), float(o["arp_beta"]), float(o["arp_gamma"]))
    return StepOutput(loss, {"ce": ce.item(), "rectify": rectify.item(), "preserve": preserve.item()},
                      z_clean.argmax(1), z_adv[:n].argmax(1))


GRADCAM_OBSTACLE = ("ARP's Grad-CAM reads the layer's activations through a forward hook, and a vmapped call of "
                    "stacked weights does not hand them out")


@recipe("arp", options=ARP_OPTIONS, loss_passes=6, requires=("cam_layer",), describe=lambda a: f"Step-LL + Iter-LL-2 eps {a.eps}",
        stack_obstacle=GRADCAM_OBSTACLE)
def arp(b: Batch) -> StepOutput:
    """ARP as the authors trained it: each clean batch paired with its Step-LL examples (one step
    of eps) and its 2-step iterated Step-LL examples (two steps of eps/2), options ``arp_alpha``,
    ``arp_beta``, ``arp_gamma`` (8:4:1). Three gradient passes of attack per batch, as Madry's PGD-3."""
    a = b.attack
    if a.eps == 0:
        return _arp_family(b, [b.x, b.x])
    y_ll = least_likely(b.model, b.x)  # one target for both (what each would compute itself)
    return _arp_family(b, [iterated_step_ll(b.model, b.x, None, a.eps, a.eps, 1, y_ll=y_ll),  # = step_ll
                           iterated_step_ll(b.model, b.x, None, a.eps, a.eps / 2, 2, y_ll=y_ll)])


@recipe("arp-pgd", options=ARP_OPTIONS, loss_passes=4, requires=("cam_layer",), stack_obstacle=GRADCAM_OBSTACLE)
def arp_pgd(b: Batch) -> StepOutput:
    """ARP trained on the PGD examples of Madry training (``train.attack``) instead of Step-LL."""
    return _arp_family(b, [b.pgd_examples()])


def _purifier_monitor(model: nn.Module, x: torch.Tensor, y: torch.Tensor, seed: int) -> dict[str, float]:
    """ComDefend at test time on the monitor images: hard-bit purification (test noise drawn from a
    generator seeded with ``seed``, the same draws every epoch), its MSE and mean PSNR."""
    rebuilt = model.purify(x, generator(seed, x.device))
    return {"test_mse": (rebuilt - x).pow(2).mean().item(), "test_psnr": psnr(rebuilt, x).mean().item()}


@recipe("comdefend", needs_attack=False, options={"comdefend_lambda": 1e-4}, monitor=_purifier_monitor,
        trains="purifier", stack_obstacle="a purifier draws its noise inside its forward pass and returns two tensors")
def comdefend(b: Batch) -> StepOutput:
    """ComDefend (Jia et al. 2019, Sec. 3.3): ``mean((RecCNN(b) - x)^2) + lambda mean(b^2)`` with the
    noisy soft bits ``b = sigmoid(ComCNN(x) - sigma eps)`` (option ``comdefend_lambda``, 1e-4); the
    model is a :class:`~aad_lib.defenses.ComDefend`, trained on clean images only, its noise drawn
    from the batch's generator."""
    rebuilt, bits = b.model(b.x, b.generator)
    loss, parts = comdefend_loss(b.x, rebuilt, bits, float(b.options["comdefend_lambda"]))
    return StepOutput(loss, {"mse": parts["mse"], "code": parts["code"]})
