"""Where an attack starts: a random point of the eps ball (PGD, Madry et al.) or the clean image
plus a little Gaussian noise (TRADES). Kept apart from the attack loops so that a caller can draw
the start itself and hand it to :func:`~aad_lib.attacks.pgd` / :func:`~aad_lib.attacks.trades_attack`
(``start=``): stacked training (:mod:`aad_lib.training.stack`) draws each model's start from that
model's own generator, exactly as the model's separate run would."""
from __future__ import annotations

import torch


def ball_start(x: torch.Tensor, eps: float, norm: str = "linf", generator: torch.Generator | None = None
               ) -> torch.Tensor:
    """PGD's random start (Madry et al., ICLR 2018, Sec. 5): a random point of the eps ball around ``x``, in [0, 1].

    L-inf: ``x + U(-eps, eps)`` per pixel; L2: a uniform random direction at radius
    ``U(0, 1) * eps`` (as torchattacks' PGDL2), then clipped to [0, 1]. Draws from ``generator``
    only (the global generator when None), in the order the attack loops always drew.

    Arguments:
        x (torch.Tensor): clean images in [0, 1].
        eps (float): radius of the ball, >= 0 (pixel units).
        norm (str): ``"linf"`` or ``"l2"``. Default: ``"linf"``.
        generator (torch.Generator | None): source of the draws; None: the global one. Default: None.

    Shape:
        - x: (N, C, H, W), values in [0, 1].
        - returns: (N, C, H, W) in [0, 1], within ``eps`` of ``x`` in the chosen norm.

    Examples:
        >>> import torch
        >>> from aad_lib.attacks.starts import ball_start
        >>> x = torch.full((2, 1, 2, 2), 0.5)
        >>> s = ball_start(x, 0.1, generator=torch.Generator().manual_seed(0))
        >>> bool((s - x).abs().max() <= 0.1), torch.equal(s, ball_start(x, 0.1, generator=torch.Generator().manual_seed(0)))
        (True, True)
    """
    if norm == "linf":
        delta = torch.empty_like(x).uniform_(-eps, eps, generator=generator)
    else:
        delta = torch.empty_like(x).normal_(generator=generator)
        n = delta.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
        r = torch.empty_like(n).uniform_(0, 1, generator=generator)
        delta *= r / n * eps
    return (x + delta).clamp_(0.0, 1.0)


def trades_start(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """The start of the TRADES attack (Zhang et al., ICML 2019, Alg. 1): ``clip_[0,1](x + 0.001 * N(0, I))``.

    As in the official ``trades_loss``.

    Arguments:
        x (torch.Tensor): clean images in [0, 1].
        generator (torch.Generator | None): source of the noise; None: the global one. Default: None.

    Shape:
        - x: (N, C, H, W), values in [0, 1].
        - returns: (N, C, H, W) in [0, 1].

    Examples:
        >>> import torch
        >>> from aad_lib.attacks.starts import trades_start
        >>> x = torch.full((2, 1, 2, 2), 0.5)
        >>> bool((trades_start(x, torch.Generator().manual_seed(0)) - x).abs().max() < 0.01)
        True
    """
    noise = torch.empty_like(x).normal_(generator=generator).mul_(0.001)
    return (x + noise).clamp_(0.0, 1.0)
