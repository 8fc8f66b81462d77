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
    """sum_i CE(z_i, y_i): the loss PGD ascends (Madry et al. 2018, Eq. 2 inner max)."""
    return F.cross_entropy(logits, y, reduction="sum")


def cw_margin(logits: torch.Tensor, y: torch.Tensor, kappa: float = 50.0) -> torch.Tensor:
    """sum_i -max(z_{i,y} - max_{j != y} z_{i,j} + kappa, 0), the Carlini-Wagner f_6 margin.

    This is the form of the TRADES evaluation code (``_cw_whitebox``, kappa = 50): ascending it
    pushes the true logit below the best other logit. The paper's CW-k = PGD-k on this loss.
    """
    true = logits.gather(1, y[:, None]).squeeze(1)
    others = logits.scatter(1, y[:, None], float("-inf")).amax(dim=1)
    return -(true - others + kappa).clamp(min=0).sum()


def kl_from(logits: torch.Tensor, p_clean: torch.Tensor) -> torch.Tensor:
    """sum_i KL(p_clean_i || softmax(z_i)): the TRADES attack objective (Zhang et al. 2019, Eq. 5)."""
    return F.kl_div(F.log_softmax(logits, dim=1), p_clean, reduction="sum")


def get(name: str, kappa: float = 50.0) -> Objective:
    """``"ce"`` or ``"cw"`` (with margin ``kappa``)."""
    choose(name, ("ce", "cw"), "attack loss")
    if name == "ce":
        return cross_entropy
    return lambda logits, y: cw_margin(logits, y, kappa)
