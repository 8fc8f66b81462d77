"""The least-likely-class attacks of the ARP paper's analysis and training (Kurakin et al. 2017,
"Adversarial machine learning at scale"; Tramèr et al. 2018, "Ensemble adversarial training").

They *descend* the cross-entropy towards ``y_LL = argmin_c f_c(x)``, the class the model finds
least likely on the clean image, instead of ascending it away from the true label (which avoids
label leaking in training). Each is a run of the PGD loop of :mod:`.pgd` with the objective
``-CE(f(x'), y_LL)`` (summed), so projection, mode handling and ``stop_when_fooled`` (judged
against the *true* labels ``y``) are shared, not rewritten.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..validation import AadError, check_count, check_eps
from .context import check_attack_inputs, model_mode
from .pgd import _check, _run


def least_likely(model: nn.Module, x: torch.Tensor, mode: str = "eval") -> torch.Tensor:
    """``y_LL = argmin_c f_c(x)``, the target of every Step-LL attack."""
    with torch.no_grad(), model_mode(model, mode):
        return model(x).argmin(1)


def towards_least_likely(logits: torch.Tensor, y_ll: torch.Tensor) -> torch.Tensor:
    """The objective the Step-LL family ascends: ``-sum_i CE(z_i, y_LL,i)``."""
    return -F.cross_entropy(logits, y_ll, reduction="sum")


def step_ll(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None, eps: float, *, mode: str = "eval",
            stop_when_fooled: bool = False) -> torch.Tensor:
    """Step-LL (Kurakin et al. 2017, Eq. 3): ``clip_[0,1](x - eps * sign(grad_x CE(f(x), y_LL)))``.
    ``y`` (true labels) is only needed for ``stop_when_fooled`` (an image the model already
    misclassifies is returned unchanged)."""
    if check_eps(eps) == 0:
        check_attack_inputs(model, x, y)
        return x.detach().clone()
    return iterated_step_ll(model, x, y, eps, eps, 1, mode=mode, stop_when_fooled=stop_when_fooled)


def r_step_ll(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None, eps: float, alpha: float | None = None,
              *, generator: torch.Generator | None = None, mode: str = "eval",
              stop_when_fooled: bool = False) -> torch.Tensor:
    """R+Step-LL (Tramèr et al. 2018, Eq. 7): a random step ``x0 = x + alpha * sign(N(0, I))``,
    then Step-LL of size ``eps - alpha`` from ``x0`` (``alpha = eps / 2`` by default, as there);
    ``y_LL`` is the least likely class of the clean image."""
    eps = check_eps(eps)
    if eps == 0:
        check_attack_inputs(model, x, y)
        return x.detach().clone()
    alpha = eps / 2 if alpha is None else check_eps(alpha, "alpha")
    if alpha >= eps:
        raise AadError(f"R+Step-LL needs alpha < eps, got alpha {alpha!r} and eps {eps!r}.")
    _check(model, x, y, eps, eps - alpha, 1, "linf")
    noise = torch.empty_like(x).normal_(generator=generator).sign_()
    start = (x + alpha * noise).clamp_(0.0, 1.0)
    return _run(model, x, least_likely(model, x, mode), start, eps, eps - alpha, 1, "linf",
                towards_least_likely, mode, None, y if stop_when_fooled else None, True)


def iterated_step_ll(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None, eps: float, alpha: float,
                     steps: int, *, start: torch.Tensor | None = None, y_ll: torch.Tensor | None = None,
                     mode: str = "eval", stop_when_fooled: bool = False) -> torch.Tensor:
    """Iterative least-likely class method (Kurakin et al. 2017, Eq. 4): ``steps`` steps
    ``x_{t+1} = Proj_{B(x,eps) ∩ [0,1]}(x_t - alpha * sign(grad CE(f(x_t), y_LL)))`` from
    ``start`` (default ``x``), ``y_LL`` from the clean image unless given. Calling it one step at a
    time from the previous result (same ``y_ll``) gives the same iterates as one call."""
    if stop_when_fooled and y is None:
        raise AadError("stop_when_fooled needs the true labels y.")
    check_count(steps, "steps", 0)
    eps = _check(model, x, y, eps, alpha, steps, "linf")
    target = least_likely(model, x, mode) if y_ll is None else y_ll
    begin = x if start is None else start
    return _run(model, x, target, begin, eps, alpha, steps, "linf", towards_least_likely, mode, None,
                y if stop_when_fooled else None, begin is not x)
