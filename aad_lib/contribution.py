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
    """Feature contribution (AALP paper, Eq. 5/7): ``c = mean_i |a_i * g_i|`` over the batch dimension.

    ``a_i`` is sample i's penultimate activation and ``g_i = dL_i/da_i`` its gradient
    (:func:`head_gradient`): activation times gradient, the Grad-CAM form (module docstring).

    Arguments:
        features (torch.Tensor): penultimate activations ``a``, one row per sample.
        grad (torch.Tensor): their gradients ``dL_i/da_i``, one row per sample.

    Shape:
        - features: (N, D).
        - grad: (N, D).
        - returns: (D,), >= 0.

    Examples:
        >>> import torch
        >>> from aad_lib.contribution import contribution_scores
        >>> a = torch.tensor([[1.0, 2.0], [3.0, 0.0]])
        >>> g = torch.tensor([[1.0, -1.0], [-1.0, 5.0]])
        >>> contribution_scores(a, g)  # (|1| + |-3|) / 2, (|-2| + |0|) / 2
        tensor([2., 1.])
    """
    return (features * grad).abs().mean(dim=0)


def guided_dropout_mask(contribution: torch.Tensor, rescale: bool = False) -> torch.Tensor:
    """Guided Dropout mask (AALP paper, Eq. 8): ``m_j = 1 if c_j > median(c) else 0``.

    Strictly greater: ties at the median are dropped (for an even D, ``torch.median`` is the lower
    of the two middle values). With ``rescale`` the kept features are scaled by ``D / sum(m)`` as
    inverted dropout would (an option; the paper's text does not rescale); a mask that keeps
    nothing stays zero.

    Arguments:
        contribution (torch.Tensor): the contribution ``c_j`` of each feature
            (:func:`contribution_scores`).
        rescale (bool): scale the kept features by ``D / sum(m)``. Default: False.

    Shape:
        - contribution: (D,).
        - returns: (D,), of 0 and 1 (of 0 and ``D / sum(m)`` with ``rescale``), the dtype of
          ``contribution``.

    Examples:
        >>> import torch
        >>> from aad_lib.contribution import guided_dropout_mask
        >>> c = torch.tensor([0.1, 0.4, 0.2, 0.3])  # median 0.2
        >>> guided_dropout_mask(c), guided_dropout_mask(c, rescale=True)
        (tensor([0., 1., 0., 1.]), tensor([0., 2., 0., 2.]))
    """
    mask = (contribution > contribution.median()).to(contribution.dtype)
    if rescale:
        kept = mask.sum()
        if kept > 0:
            mask = mask * (mask.numel() / kept)
    return mask


def head_gradient(model: nn.Module, features: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``dL_i/da_i`` for every sample (AALP paper, Eq. 5), through ``model.head`` only.

    ``L_i`` is sample i's cross-entropy; L is summed over the batch, so row i is sample i's own
    gradient. Taken through the head alone, on a detached copy of ``a``: exact, because the logits
    depend on ``a`` only through the head (module docstring). No parameter gradient is written.

    Arguments:
        model (nn.Module): an :mod:`aad_lib.models` classifier (its ``head`` maps the
            penultimate features to the logits).
        features (torch.Tensor): penultimate activations ``a`` (``model.penultimate(x)``).
        y (torch.Tensor): true labels.

    Shape:
        - features: (N, D).
        - y: (N,) int64 class indices.
        - returns: (N, D), detached.

    Examples:
        >>> import torch
        >>> from aad_lib import models
        >>> from aad_lib.contribution import head_gradient
        >>> model = models.create("lenet_small", in_channels=1, size=28)
        >>> x, y = torch.rand(2, 1, 28, 28), torch.tensor([3, 7])
        >>> g = head_gradient(model, model.penultimate(x), y)
        >>> g.shape, g.requires_grad, model.head.weight.grad is None
        (torch.Size([2, 256]), False, True)
    """
    a = features.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = F.cross_entropy(model.head(a), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, a)
    return grad


def guided_logits(model: nn.Module, x: torch.Tensor, y: torch.Tensor, rescale: bool = False, groups: int = 1
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits of ``x`` through the network trimmed by Guided Dropout (AALP paper, Eq. 7-8).

    The mask is computed from this batch's contributions (:func:`contribution_scores`) and
    applied to the penultimate features before the head. Returns (logits, mask). Call in training
    only (at evaluation the network is used whole); the graph flows through the kept features.
    With ``groups`` > 1 the rows belong to that many models trained as one stack, row by row
    (row i to model ``i % groups``, :class:`aad_lib.training.stack.ModelStack`): each model gets
    the mask of its own rows, as its separate run would.

    Arguments:
        model (nn.Module): an :mod:`aad_lib.models` classifier (``penultimate`` and ``head``).
        x (torch.Tensor): images in [0, 1].
        y (torch.Tensor): true labels (the contributions need the loss).
        rescale (bool): scale the kept features by ``D / sum(m)`` (:func:`guided_dropout_mask`).
            Default: False.
        groups (int): the models whose rows alternate in ``x``, >= 1 (1: one model). Default: 1.

    Shape:
        - x: (N, C, H, W), values in [0, 1].
        - y: (N,) int64 class indices.
        - returns: logits (N, num_classes) and the mask (D,), D = ``model.num_features``; with
          ``groups`` > 1 one mask per model, (groups, D).

    Examples:
        >>> import torch
        >>> from aad_lib import models
        >>> from aad_lib.contribution import guided_logits
        >>> model = models.create("lenet_small", in_channels=1, size=28)
        >>> x, y = torch.rand(4, 1, 28, 28), torch.tensor([0, 1, 2, 3])
        >>> logits, mask = guided_logits(model, x, y)
        >>> logits.shape, mask.shape, logits.requires_grad
        (torch.Size([4, 10]), torch.Size([256]), True)
        >>> int(mask.sum()) <= model.num_features // 2  # at most the half above the median
        True
    """
    check_count(groups, "groups", 1)
    a = model.penultimate(x)
    grad = head_gradient(model, a, y)
    if groups == 1:
        mask = guided_dropout_mask(contribution_scores(a.detach(), grad), rescale)
        return model.head(a * mask), mask
    masks = torch.stack([guided_dropout_mask(contribution_scores(a.detach()[k::groups], grad[k::groups]), rescale)
                         for k in range(groups)])
    return model.head(a * masks.repeat(a.shape[0] // groups, 1)), masks


def dataset_contributions(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 500
                          ) -> torch.Tensor:
    """Feature contributions (AALP paper, Eq. 5) over a whole set: ``c_j = mean_i |a_ij * dL_i/da_ij|``.

    Computed with the model in eval mode (restored after), ``batch_size`` images at a time on the
    model's device; returned on the CPU. Figs. 1, 7 and 9 of the AALP paper plot the distribution
    of these values.

    Arguments:
        model (nn.Module): an :mod:`aad_lib.models` classifier (``penultimate`` and ``head``).
        x (torch.Tensor): images in [0, 1].
        y (torch.Tensor): true labels.
        batch_size (int): images per forward pass, >= 1. Default: 500.

    Shape:
        - x: (N, C, H, W), values in [0, 1].
        - y: (N,) int64 class indices.
        - returns: (D,) on the CPU, D = ``model.num_features``.

    Examples:
        >>> import torch
        >>> from aad_lib import models
        >>> from aad_lib.contribution import contribution_scores, dataset_contributions, head_gradient
        >>> model = models.create("lenet_small", in_channels=1, size=28)
        >>> x, y = torch.rand(5, 1, 28, 28), torch.tensor([0, 1, 2, 3, 4])
        >>> c = dataset_contributions(model, x, y, batch_size=2)
        >>> c.shape, c.device.type
        (torch.Size([256]), 'cpu')
        >>> a = model.eval().penultimate(x)  # the same as one batch of all five images
        >>> torch.allclose(c, contribution_scores(a.detach(), head_gradient(model, a, y)))
        True
    """
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
