"""The Basic Iterative Method (Kurakin, Goodfellow, Bengio, "Adversarial examples in the physical
world", ICLR workshop 2017, Sec. 2.2): L-inf PGD without the random start.

    X_0 = X,   X_{N+1} = Clip_{X,eps}( X_N + alpha * sign(grad_X J(X_N, y)) )

It is :func:`aad_lib.attacks.pgd.pgd` with ``random_start=False``; no loop of its own.

Step size and step count. The paper, on 0-255 ImageNet images with small eps, takes
``alpha = 1`` intensity level (1/255 here) and ``min(eps + 4, 1.25 eps)`` steps (eps in levels);
:func:`kurakin_schedule` returns exactly that. :func:`bim`'s own default is instead
``steps = 10`` and ``alpha = eps / steps``: it is scale-free (the same rule serves MNIST at
eps 0.3, where the paper's rule means 80 steps, and CIFAR at 8/255, where it means 10 steps of
1/255 = eps / 8), and ``eps / steps`` is the smallest step with which ``steps`` steps can still
reach every corner of the eps ball. Pass ``*kurakin_schedule(eps)`` for the paper's setting.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..validation import check_count, check_eps
from .pgd import pgd

LEVEL = 1.0 / 255.0  # one 8-bit intensity level: Kurakin's step, in [0, 1] pixel units


def kurakin_schedule(eps: float) -> tuple[float, int]:
    """The paper's ``(alpha, steps)`` for radius ``eps`` (pixel units in [0, 1]): ``alpha = 1/255``
    and ``steps = floor(min(255 eps + 4, 1.25 * 255 eps))`` (Kurakin et al. 2017, Sec. 2.2;
    torchattacks' ``BIM(steps=0)`` takes the same floor). eps 8/255 gives 10 steps, 0.3 gives 80."""
    levels = check_eps(eps) * 255.0
    return LEVEL, math.floor(min(levels + 4.0, 1.25 * levels) + 1e-9)  # 1e-9: 8/255 * 255 is not exactly 8


def bim(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float | None = None,
        steps: int = 10, *, loss: str = "ce", mode: str = "eval", stop_when_fooled: bool = False,
        eot_samples: int = 1) -> torch.Tensor:
    """Basic Iterative Method (Kurakin et al. 2017, Sec. 2.2): ``steps`` L-inf steps of size
    ``alpha`` (default ``eps / steps``, see the module docstring) from the clean image, each
    projected onto the eps ball and [0, 1]. ``loss``, ``mode``, ``stop_when_fooled`` and
    ``eot_samples`` are :func:`~aad_lib.attacks.pgd.pgd`'s. When ``eps`` or ``steps`` is 0 nothing can move and the
    default step is one intensity level."""
    eps = check_eps(eps)
    check_count(steps, "steps", 0)
    if alpha is None:
        alpha = eps / steps if eps > 0 and steps > 0 else LEVEL
    return pgd(model, x, y, eps, alpha, steps, random_start=False, norm="linf", loss=loss, mode=mode,
               stop_when_fooled=stop_when_fooled, eot_samples=eot_samples)
