"""FGSM and PGD (L-inf and L2, cross-entropy or CW margin), batched, on any device.

One loop serves all of them: FGSM is one PGD step of size eps from the clean image, and
:func:`pgd_trajectory` runs the same loop while recording the logits after step k for several k
at once (PGD-10/20/40/100 are prefixes of one PGD-100 run
when they share the start and the step size).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from ..validation import AadError, check_count, check_eps, check_positive, choose
from . import objectives
from .context import check_attack_inputs, model_mode

Recorder = Callable[[int, torch.Tensor], None]


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *, loss: str = "ce",
         mode: str = "eval") -> torch.Tensor:
    """Fast gradient sign method (Goodfellow et al. 2015): ``clip_[0,1](x + eps * sign(grad_x L))``."""
    return pgd(model, x, y, eps=eps, alpha=eps, steps=1, random_start=False, loss=loss, mode=mode)


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float, steps: int,
        random_start: bool = True, norm: str = "linf", loss: str = "ce", *, kappa: float = 50.0,
        generator: torch.Generator | None = None, mode: str = "eval") -> torch.Tensor:
    """Projected gradient descent (Madry et al. 2018, Eq. 2), returning the last iterate.

    L-inf: ``x_{t+1} = Proj_{B(x,eps) ∩ [0,1]}(x_t + alpha * sign(grad))``; L2: the step is the
    gradient scaled to unit L2 norm and the projection rescales delta onto the L2 ball.
    ``random_start`` draws the start uniformly in the L-inf ball (or the L2 ball, as torchattacks'
    PGDL2 does). ``loss="cw"`` ascends the CW margin (the paper's CW-k). The model is attacked in
    ``mode`` ("eval" by default) and left exactly as it was; parameter gradients are not touched.
    """
    eps = _check(model, x, y, eps, alpha, steps, norm)
    start = _start(x, eps, norm, generator) if random_start and eps > 0 else x
    return _run(model, x, y, start, eps, alpha, steps, norm, objectives.get(loss, kappa), mode, None)


def pgd_trajectory(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float,
                   checkpoints: Sequence[int], random_start: bool = True, norm: str = "linf", loss: str = "ce",
                   *, kappa: float = 50.0, generator: torch.Generator | None = None,
                   mode: str = "eval") -> tuple[dict[int, torch.Tensor], torch.Tensor]:
    """One PGD run of ``max(checkpoints)`` steps; for each k in ``checkpoints`` the logits of the
    k-th iterate (detached, on the CPU). Identical to separate ``pgd(..., steps=k)`` runs from the
    same generator state, at the cost of the longest one. Returns (logits per k, last iterate)."""
    ks = sorted({check_count(int(k), "checkpoint", 0) for k in checkpoints})
    if not ks:
        raise AadError("checkpoints must name at least one step count.")
    logits_at: dict[int, torch.Tensor] = {}

    def record(step: int, logits: torch.Tensor) -> None:
        if step in ks:
            logits_at[step] = logits.cpu()

    eps = _check(model, x, y, eps, alpha, ks[-1], norm)
    start = _start(x, eps, norm, generator) if random_start and eps > 0 else x
    x_adv = _run(model, x, y, start, eps, alpha, ks[-1], norm, objectives.get(loss, kappa), mode, record)
    return logits_at, x_adv


def trades_attack(model: nn.Module, x: torch.Tensor, eps: float, alpha: float, steps: int, *,
                  generator: torch.Generator | None = None, mode: str = "eval") -> torch.Tensor:
    """The TRADES inner maximisation (Zhang et al. 2019, Alg. 1): L-inf PGD on
    ``KL(p(x) || p(x'))`` from ``x + 0.001 * N(0, I)``, as in the official ``trades_loss``."""
    eps = _check(model, x, None, eps, alpha, steps, "linf")
    with torch.no_grad(), model_mode(model, mode):
        p_clean = torch.softmax(model(x), dim=1)
    noise = torch.empty_like(x).normal_(generator=generator).mul_(0.001)
    start = (x + noise).clamp_(0.0, 1.0)
    return _run(model, x, p_clean, start, eps, alpha, steps, "linf", objectives.kl_from, mode, None)


def _check(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None, eps: float, alpha: float,
           steps: int, norm: str) -> float:
    check_attack_inputs(model, x, y)
    check_count(steps, "steps", 0)
    check_positive(alpha, "alpha")
    choose(norm, ("linf", "l2"), "norm")
    return check_eps(eps)


def _run(model: nn.Module, x: torch.Tensor, target: torch.Tensor, start: torch.Tensor, eps: float,
         alpha: float, steps: int, norm: str, objective: objectives.Objective, mode: str,
         record: Recorder | None) -> torch.Tensor:
    """The PGD loop every attack here shares; inputs are already validated."""
    x = x.detach()
    target = target.detach()
    x_adv = start.detach().clone()
    with model_mode(model, mode), torch.enable_grad():  # callers may sit inside torch.no_grad()
        if norm == "linf":  # the eps ball and [0, 1] intersected once: one clamp per step
            lo, hi = (x - eps).clamp_(min=0.0), (x + eps).clamp_(max=1.0)
        for step in range(steps):
            x_adv.requires_grad_(True)
            logits = model(x_adv)
            if record is not None:
                record(step, logits.detach())
            (grad,) = torch.autograd.grad(objective(logits, target), x_adv)
            x_adv = x_adv.detach()
            if norm == "linf":
                x_adv.add_(grad.sign_(), alpha=alpha)
                torch.clamp(x_adv, lo, hi, out=x_adv)
            else:
                x_adv = _l2_step(x, x_adv, grad, eps, alpha)
        if record is not None:
            with torch.no_grad():
                record(steps, model(x_adv))
    return x_adv.detach()


def _start(x: torch.Tensor, eps: float, norm: str, generator: torch.Generator | None) -> torch.Tensor:
    if norm == "linf":
        delta = torch.empty_like(x).uniform_(-eps, eps, generator=generator)
    else:
        delta = torch.empty_like(x).normal_(generator=generator)
        n = delta.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
        r = torch.empty_like(n).uniform_(0, 1, generator=generator)
        delta *= r / n * eps
    return (x + delta).clamp_(0.0, 1.0)


def _l2_step(x: torch.Tensor, x_adv: torch.Tensor, grad: torch.Tensor, eps: float, alpha: float) -> torch.Tensor:
    shape = (-1,) + (1,) * (x.dim() - 1)
    grad = grad / (grad.flatten(1).norm(dim=1).view(shape) + 1e-10)
    delta = x_adv + alpha * grad - x
    factor = (eps / delta.flatten(1).norm(dim=1).clamp_min(1e-12)).clamp(max=1.0)
    return (x + delta * factor.view(shape)).clamp_(0.0, 1.0)
