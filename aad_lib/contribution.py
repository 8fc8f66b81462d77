"""Feature contribution at the penultimate layer and Guided Dropout (AALP paper, Eq. 5, 7, 8).

Notation: a = the penultimate activation (the layer before the logits), one row per sample;
L_i = the cross-entropy of sample i. The contribution of feature j over a set of samples is
``c_j = mean_i |a_ij * dL_i/da_ij|`` (activation times gradient, the Grad-CAM form). Guided Dropout
keeps the features whose contribution on the current batch is above the median and drops the rest,
in training only (at evaluation the network is used whole).

``dL/da`` is taken through the head alone (a detached copy of ``a``), which is exact, because the
logits depend on ``a`` only through the head, and costs one small matrix product instead of a
backward pass through the network.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .attacks import model_mode
from .validation import AadError, check_count, check_images, check_labels


def contribution_scores(features: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """Eq. 5/7: ``c = mean_i |a_i * g_i|`` over the batch dimension, shape (D,)."""
    return (features * grad).abs().mean(dim=0)


def guided_dropout_mask(contribution: torch.Tensor, rescale: bool = False) -> torch.Tensor:
    """Eq. 8: ``m_j = 1 if c_j > median(c) else 0`` (strictly greater: ties at the median are
    dropped). With ``rescale`` the kept features are scaled by ``D / sum(m)`` as inverted dropout
    would (an option; the paper's text does not rescale)."""
    mask = (contribution > contribution.median()).to(contribution.dtype)
    if rescale:
        kept = mask.sum()
        if kept > 0:
            mask = mask * (mask.numel() / kept)
    return mask


def head_gradient(model: nn.Module, features: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``dL_i/da_i`` for every sample (L summed over the batch, so row i is sample i's own
    gradient), through ``model.head`` only; no parameter gradient is written."""
    a = features.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = F.cross_entropy(model.head(a), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, a)
    return grad


def guided_logits(model: nn.Module, x: torch.Tensor, y: torch.Tensor, rescale: bool = False
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits of ``x`` through the network trimmed by Guided Dropout (Eq. 7-8): the mask is
    computed from this batch's contributions and applied to the penultimate features before the
    head. Returns (logits, mask). Call in training only; the graph flows through the kept features."""
    a = model.penultimate(x)
    mask = guided_dropout_mask(contribution_scores(a.detach(), head_gradient(model, a, y)), rescale)
    return model.head(a * mask), mask


def dataset_contributions(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 500
                          ) -> torch.Tensor:
    """Eq. 5 over a whole set: ``c_j = mean_i |a_ij * dL_i/da_ij|`` with the model in eval mode,
    shape (D,), on the CPU. Figs. 1, 7 and 9 plot the distribution of these values."""
    check_images(x)
    check_labels(y, x.shape[0], getattr(model, "num_classes", None))
    check_count(batch_size, "batch_size", 1)
    device = next(model.parameters()).device
    total = None
    with model_mode(model, "eval"), torch.no_grad():
        for start in range(0, x.shape[0], batch_size):
            xb, yb = x[start:start + batch_size].to(device), y[start:start + batch_size].to(device)
            a = model.penultimate(xb)
            part = (a * head_gradient(model, a, yb)).abs().sum(dim=0)
            total = part if total is None else total + part
    return (total / x.shape[0]).cpu()
