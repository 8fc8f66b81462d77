"""Every public attack of :mod:`aad_lib.attacks`, one record each, for tests that hold all of them to
one contract (as torchattacks tests every attack of its ``__all__`` through one test).

A record names the attack, holds the public callable, the norm of its eps ball ("linf", "l2", or
``None`` for a minimal-perturbation attack such as DeepFool, which has no eps) and ``call``: the
attack run on ``(model, x, y, eps)`` with representative non-default arguments, returning the
adversarial images. ``call`` works for any ``eps > 0``, and for eps 0 with every attack but FGSM
(which passes ``alpha = eps`` to PGD, and PGD needs ``alpha > 0``); step sizes are derived from eps
and kept positive. It draws its random numbers from a fresh seeded generator on ``x``'s device,
so two calls give the same images, and runs few steps, so a contract test over every record stays
fast.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .bim import bim
from .bpda import BPDADefended
from .deepfool import deepfool, deepfool_with_info
from .pgd import fgsm, pgd, pgd_trajectory, trades_attack
from .step_ll import iterated_step_ll, r_step_ll, step_ll

Call = Callable[[nn.Module, torch.Tensor, torch.Tensor, float], torch.Tensor]
SEED = 0
MIN_ALPHA = 1e-3  # the step size used when eps is 0 (every attack with a step size needs one > 0)


@dataclass(frozen=True)
class AttackEntry:
    """One public attack: ``name``, the public ``attack`` callable, the ``norm`` of its eps ball
    ("linf", "l2", or ``None``: no eps ball) and ``call(model, x, y, eps)``, the attack with
    representative arguments, returning the adversarial images."""

    name: str
    attack: Callable[..., object]
    norm: str | None
    call: Call


def names() -> tuple[str, ...]:
    """The registered attacks' names, in registry order."""
    return tuple(ATTACKS)


def _generator(x: torch.Tensor) -> torch.Generator:
    return torch.Generator(device=x.device).manual_seed(SEED)


def _alpha(eps: float, fraction: float) -> float:
    """``fraction * eps``, at least :data:`MIN_ALPHA`; ``fraction`` 1/2 with 3 steps overshoots
    the ball, so the projection is exercised."""
    return max(fraction * eps, MIN_ALPHA)


def _three_bits(x: torch.Tensor) -> torch.Tensor:
    """Bit-depth reduction to 8 grey levels: the non-differentiable (zero-gradient) defence."""
    return torch.round(x * 7) / 7


def _identity(x: torch.Tensor) -> torch.Tensor:
    """BPDA's backward approximation ``h(x) = x`` (Athalye et al. 2018, Sec. 4.1), passed
    explicitly so the vector-Jacobian product path of the backward pass runs."""
    return x


def _fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    return fgsm(model, x, y, eps, loss="cw", eot_samples=2)


def _pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    return pgd(model, x, y, eps, _alpha(eps, 0.5), 3, random_start=True, norm="l2",
               generator=_generator(x))


def _pgd_trajectory(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    return pgd_trajectory(model, x, y, eps, _alpha(eps, 0.5), [0, 1, 3], loss="cw",
                          generator=_generator(x), stop_when_fooled=True)[1]


def _trades_attack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    return trades_attack(model, x, eps, _alpha(eps, 0.5), 3, generator=_generator(x), mode="train")


def _step_ll(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    return step_ll(model, x, y, eps, stop_when_fooled=True)


def _r_step_ll(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    return r_step_ll(model, x, y, eps, eps / 4, generator=_generator(x))


def _iterated_step_ll(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    return iterated_step_ll(model, x, y, eps, _alpha(eps, 0.5), 3)


def _bim(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    return bim(model, x, y, eps, steps=4, stop_when_fooled=True)


def _bpda(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    defended = BPDADefended(model, _three_bits, _identity)
    return pgd(defended, x, y, eps, _alpha(eps, 0.5), 3, random_start=False, loss="cw")


def _deepfool(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    return deepfool(model, x, num_candidates=4, overshoot=1.0, max_iter=3)


def _deepfool_with_info(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    return deepfool_with_info(model, x, y, num_candidates=3, overshoot=0.5, max_iter=4)[0]


ATTACKS: dict[str, AttackEntry] = {entry.name: entry for entry in [
    AttackEntry("fgsm", fgsm, "linf", _fgsm),
    AttackEntry("pgd", pgd, "l2", _pgd),
    AttackEntry("pgd_trajectory", pgd_trajectory, "linf", _pgd_trajectory),
    AttackEntry("trades_attack", trades_attack, "linf", _trades_attack),
    AttackEntry("step_ll", step_ll, "linf", _step_ll),
    AttackEntry("r_step_ll", r_step_ll, "linf", _r_step_ll),
    AttackEntry("iterated_step_ll", iterated_step_ll, "linf", _iterated_step_ll),
    AttackEntry("bim", bim, "linf", _bim),
    # white-box PGD through a BPDA-defended pipeline; the bpda() transform builder runs inside it
    AttackEntry("bpda", BPDADefended, "linf", _bpda),
    # minimal-perturbation attacks: no eps (ignored by ``call``), only [0, 1] bounds the result
    AttackEntry("deepfool", deepfool, None, _deepfool),
    AttackEntry("deepfool_with_info", deepfool_with_info, None, _deepfool_with_info),
]}
