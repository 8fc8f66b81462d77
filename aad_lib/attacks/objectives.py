"""The quantities an attack climbs: cross-entropy and the Carlini-Wagner margin.

Losses are *summed* over the batch so the per-sample gradient does not depend on batch size.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..validation import choose

Objective = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``sum_i CE(z_i, y_i)``: the loss PGD ascends (Madry et al., ICLR 2018, Eq. 2 inner max).

    Summed over the batch (module docstring), so the per-sample gradient does not depend on the
    batch size.

    Arguments:
        logits (torch.Tensor): the model's logits ``z``.
        y (torch.Tensor): true labels.

    Shape:
        - logits: (N, num_classes).
        - y: (N,) int64 class indices.
        - returns: () a scalar.

    Examples:
        >>> import torch
        >>> from aad_lib.attacks import cross_entropy
        >>> cross_entropy(torch.zeros(2, 4), torch.tensor([0, 3]))  # 2 log 4
        tensor(2.7726)
    """
    return F.cross_entropy(logits, y, reduction="sum")


def cw_margin(logits: torch.Tensor, y: torch.Tensor, kappa: float = 50.0) -> torch.Tensor:
    """``sum_i -max(z_{i,y} - max_{j != y} z_{i,j} + kappa, 0)``, the Carlini-Wagner f_6 margin (IEEE S&P 2017).

    Carlini, Wagner, "Towards Evaluating the Robustness of Neural Networks". This is the form of
    the TRADES evaluation code (``_cw_whitebox``, kappa = 50): ascending it pushes the true logit
    below the best other logit. The paper's CW-k = PGD-k on this loss.

    Arguments:
        logits (torch.Tensor): the model's logits ``z``.
        y (torch.Tensor): true labels.
        kappa (float): confidence; the margin stops counting once the true logit is ``kappa``
            below the best other one. Default: 50.0.

    Shape:
        - logits: (N, num_classes).
        - y: (N,) int64 class indices.
        - returns: () a scalar, <= 0.

    Examples:
        >>> import torch
        >>> from aad_lib.attacks import cw_margin
        >>> logits = torch.tensor([[3.0, 1.0, 0.0], [0.0, 2.0, 5.0]])
        >>> cw_margin(logits, torch.tensor([0, 2]), kappa=1.0)  # -(2 + 1) - (3 + 1)
        tensor(-7.)
    """
    true = logits.gather(1, y[:, None]).squeeze(1)
    others = logits.scatter(1, y[:, None], float("-inf")).amax(dim=1)
    return -(true - others + kappa).clamp(min=0).sum()


def kl_from(logits: torch.Tensor, p_clean: torch.Tensor) -> torch.Tensor:
    """``sum_i KL(p_clean_i || softmax(z_i))``: the TRADES attack objective (Zhang et al., ICML 2019, Eq. 5).

    Arguments:
        logits (torch.Tensor): the model's logits ``z`` at the attacked point.
        p_clean (torch.Tensor): class probabilities on the clean images (rows summing to 1).

    Shape:
        - logits: (N, num_classes).
        - p_clean: (N, num_classes).
        - returns: () a scalar, >= 0.

    Examples:
        >>> import torch
        >>> from aad_lib.attacks.objectives import kl_from
        >>> kl_from(torch.zeros(2, 4), torch.full((2, 4), 0.25))  # equal distributions
        tensor(0.)
    """
    return F.kl_div(F.log_softmax(logits, dim=1), p_clean, reduction="sum")


def get(name: str, kappa: float = 50.0) -> Objective:
    """The attack objective called ``name``: ``"ce"`` (:func:`cross_entropy`) or ``"cw"`` (:func:`cw_margin`).

    Returns a function ``objective(logits, y)``; for ``"cw"`` with margin ``kappa``.

    Arguments:
        name (str): ``"ce"`` or ``"cw"``.
        kappa (float): the CW margin's confidence (``"cw"`` only). Default: 50.0.

    Shape:
        - logits of the returned objective: (N, num_classes); y: (N,) int64.
        - its output: () a scalar.

    Examples:
        >>> import torch
        >>> from aad_lib.attacks import objectives
        >>> objectives.get("cw", kappa=1.0)(torch.tensor([[3.0, 1.0, 0.0]]), torch.tensor([0]))
        tensor(-3.)
    """
    choose(name, ("ce", "cw"), "attack loss")
    if name == "ce":
        return cross_entropy
    return lambda logits, y: cw_margin(logits, y, kappa)
