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
    """The BIM paper's ``(alpha, steps)`` for radius ``eps`` (Kurakin et al., ICLR workshop 2017, Sec. 2.2).

    ``eps`` is in pixel units in [0, 1]: ``alpha = 1/255`` and ``steps = floor(min(255 eps + 4,
    1.25 * 255 eps))`` (torchattacks' ``BIM(steps=0)`` takes the same floor). eps 8/255 gives 10
    steps, 0.3 gives 80. Returns the pair, ready for ``bim(model, x, y, eps, *kurakin_schedule(eps))``.

    Arguments:
        eps (float): L-inf radius, >= 0 (pixel units in [0, 1]).

    Examples:
        >>> from aad_lib.attacks import kurakin_schedule
        >>> kurakin_schedule(8 / 255)
        (0.00392156862745098, 10)
        >>> kurakin_schedule(0.3)[1]
        80
    """
    levels = check_eps(eps) * 255.0
    return LEVEL, math.floor(min(levels + 4.0, 1.25 * levels) + 1e-9)  # 1e-9: 8/255 * 255 is not exactly 8


def bim(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float | None = None,
        steps: int = 10, *, loss: str = "ce", mode: str = "eval", stop_when_fooled: bool = False,
        eot_samples: int = 1) -> torch.Tensor:
    """Basic Iterative Method (Kurakin et al., ICLR workshop 2017, Sec. 2.2): L-inf PGD from the clean image.

    ``steps`` L-inf steps of size ``alpha`` (default ``eps / steps``, see the module docstring)
    from the clean image, each projected onto the eps ball and [0, 1]. ``loss``, ``mode``,
    ``stop_when_fooled`` and ``eot_samples`` are :func:`~aad_lib.attacks.pgd.pgd`'s. When ``eps``
    or ``steps`` is 0 nothing can move and the default step is one intensity level.

    Arguments:
        model (nn.Module): classifier returning logits; attacked in ``mode``, left as it was.
        x (torch.Tensor): clean images in [0, 1].
        y (torch.Tensor): true labels.
        eps (float): L-inf radius, >= 0 (pixel units).
        alpha (float | None): step size, > 0; None: ``eps / steps`` (one intensity level, 1/255,
            when that is 0). Default: None.
        steps (int): number of steps, >= 0. Default: 10.
        loss (str): ``"ce"`` (cross-entropy) or ``"cw"`` (CW margin). Default: ``"ce"``.
        mode (str): ``"eval"``, ``"train"`` or ``"keep"``. Default: ``"eval"``.
        stop_when_fooled (bool): AutoAttack's convention, the first misclassified point visited.
            Default: False.
        eot_samples (int): gradients averaged per step (EOT), >= 1. Default: 1.

    Shape:
        - x: (N, C, H, W), values in [0, 1].
        - y: (N,) int64 class indices.
        - returns: (N, C, H, W) in [0, 1], ``|x_adv - x| <= eps`` pixel-wise.

    Examples:
        >>> import torch
        >>> from aad_lib.attacks import bim, kurakin_schedule, pgd
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
        >>> x, y = torch.rand(2, 1, 2, 2), torch.tensor([0, 2])
        >>> x_adv = bim(model, x, y, 8/255, *kurakin_schedule(8/255))
        >>> torch.equal(x_adv, pgd(model, x, y, 8/255, 1/255, 10, random_start=False))
        True
    """
    eps = check_eps(eps)
    check_count(steps, "steps", 0)
    if alpha is None:
        alpha = eps / steps if eps > 0 and steps > 0 else LEVEL
    return pgd(model, x, y, eps, alpha, steps, random_start=False, norm="linf", loss=loss, mode=mode,
               stop_when_fooled=stop_when_fooled, eot_samples=eot_samples)
