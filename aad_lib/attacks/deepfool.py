"""DeepFool, L2, multi-class (Moosavi-Dezfooli, Fawzi, Frossard, CVPR 2016, Alg. 2), batched.

Each iteration linearises the classifier at the current point x_i and moves to the closest
linearised decision boundary among the candidate classes k (Eq. 8 and 9 of the paper)::

    f'_k = f_k(x_i) - f_label(x_i),   w'_k = grad f_k(x_i) - grad f_label(x_i)
    l    = argmin_k |f'_k| / ||w'_k||_2
    r_i  = (|f'_l| / ||w'_l||_2 + 1e-4) * w'_l / ||w'_l||_2       (= |f'_l| / ||w'_l||^2 * w'_l + 1e-4 * unit)
    x_{i+1} = clip_[0,1](x + (1 + overshoot) * sum_j r_j)

as in the LTS4 reference code (``deepfool.py``) that the WebP + flip authors ran: candidates
are the top ``num_candidates`` classes of the clean logits, ``overshoot`` 0.02, ``max_iter`` 50
(their script used 100), the ``+ 1e-4`` that keeps a step non-zero at a tie, and an image stops
being updated as soon as its label changes. Two differences, both deliberate: the norms carry a
``1e-8`` so a zero gradient difference cannot divide by zero, and every iterate is clipped to
[0, 1] (the reference works on normalised, unclipped tensors) so the label is checked on the
very image that is returned.
"""
from __future__ import annotations

import torch
from torch import nn

from ..validation import AadError, check_count, check_eps
from .context import check_attack_inputs, model_mode
from .pgd import MIN_ACTIVE

PERT_FLOOR = 1e-4  # the reference's ``pert + 1e-4``: a strictly positive step even at a tie
NORM_EPS = 1e-8  # added to every L2 norm it divides by


def deepfool(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None, *, num_candidates: int = 10,
             overshoot: float = 0.02, max_iter: int = 50, mode: str = "eval") -> torch.Tensor:
    """L2 DeepFool (Moosavi-Dezfooli, Fawzi, Frossard, CVPR 2016, Alg. 2): the adversarial images, in [0, 1].

    "DeepFool: a simple and accurate method to fool deep neural networks". The label each image is
    moved away from is the model's clean prediction; with ``y`` it is ``y`` instead, and an image
    the model already misclassifies is returned unchanged. An image is no longer updated once the
    model's label of it changes; one that is still not fooled after ``max_iter`` steps is returned
    at its last iterate. DeepFool is a minimal-perturbation attack: there is no eps ball, the
    result is only bounded by [0, 1]. The model is attacked in ``mode`` and left as it was;
    parameter gradients are never written. Rows of the batch are treated independently, which
    holds for any model in eval mode (BatchNorm in train mode couples the rows of a batch).

    Arguments:
        model (nn.Module): classifier returning logits; attacked in ``mode``, left as it was.
        x (torch.Tensor): clean images in [0, 1].
        y (torch.Tensor | None): labels to move away from; None: the model's clean predictions.
            Default: None.
        num_candidates (int): classes considered per image, the label and the top others of the
            clean logits, between 2 and the number of classes. Default: 10.
        overshoot (float): the total step is scaled by ``1 + overshoot``, >= 0. Default: 0.02.
        max_iter (int): linearised steps at most, >= 1. Default: 50.
        mode (str): ``"eval"``, ``"train"`` or ``"keep"``. Default: ``"eval"``.

    Shape:
        - x: (N, C, H, W), values in [0, 1].
        - y: (N,) int64 class indices, or None.
        - returns: (N, C, H, W) in [0, 1] (no eps bound).

    Examples:
        >>> import torch
        >>> from aad_lib.attacks import deepfool
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
        >>> x = torch.rand(2, 1, 2, 2)
        >>> x_adv = deepfool(model, x, num_candidates=3)
        >>> x_adv.shape, bool(x_adv.min() >= 0 and x_adv.max() <= 1)
        (torch.Size([2, 1, 2, 2]), True)
    """
    return deepfool_with_info(model, x, y, num_candidates=num_candidates, overshoot=overshoot,
                              max_iter=max_iter, mode=mode)[0]


def deepfool_with_info(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None, *,
                       num_candidates: int = 10, overshoot: float = 0.02, max_iter: int = 50,
                       mode: str = "eval") -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`deepfool` (Moosavi-Dezfooli et al., CVPR 2016, Alg. 2) plus the number of steps each image took.

    Per image, the number of linearised steps it took (int64): 0 for an image misclassified to
    begin with (only possible with ``y``), ``max_iter`` for one that was fooled by the last step
    or not at all. Returns ``(images, iterations)``.

    Arguments:
        model (nn.Module): as in :func:`deepfool`.
        x (torch.Tensor): as in :func:`deepfool`.
        y (torch.Tensor | None): as in :func:`deepfool`. Default: None.
        num_candidates (int): as in :func:`deepfool`. Default: 10.
        overshoot (float): as in :func:`deepfool`. Default: 0.02.
        max_iter (int): as in :func:`deepfool`. Default: 50.
        mode (str): as in :func:`deepfool`. Default: ``"eval"``.

    Shape:
        - x: (N, C, H, W), values in [0, 1].
        - y: (N,) int64 class indices, or None.
        - returns: images (N, C, H, W) in [0, 1] and iterations (N,) int64 in [0, max_iter].

    Examples:
        >>> import torch
        >>> from aad_lib.attacks import deepfool_with_info
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
        >>> x = torch.rand(2, 1, 2, 2)
        >>> x_adv, steps = deepfool_with_info(model, x, num_candidates=3, max_iter=5)
        >>> steps.dtype, bool(((steps >= 0) & (steps <= 5)).all())
        (torch.int64, True)
    """
    check_attack_inputs(model, x, y)
    check_count(num_candidates, "num_candidates", 2)
    overshoot = check_eps(overshoot, "overshoot")
    check_count(max_iter, "max_iter", 1)
    known = getattr(model, "num_classes", None)
    if isinstance(known, int):
        _check_candidates(num_candidates, known)

    x = x.detach()
    n = x.shape[0]
    x_cur, result, r_tot = x.clone(), x.clone(), torch.zeros_like(x)
    iterations = torch.full((n,), max_iter, dtype=torch.long, device=x.device)
    alive = torch.ones(n, dtype=torch.bool, device=x.device)
    label = candidates = None
    with model_mode(model, mode), torch.enable_grad():  # callers may sit inside torch.no_grad()
        for step in range(max_iter + 1):
            rows = _working_rows(alive)
            xa = x_cur[rows].requires_grad_(step < max_iter)
            with torch.set_grad_enabled(step < max_iter):  # the last point needs its label only
                logits = model(xa)
            if label is None:  # step 0: every row is in the batch, these are the clean logits
                _check_candidates(num_candidates, logits.shape[1])
                label = logits.detach().argmax(1) if y is None else y.to(device=x.device, dtype=torch.long)
                candidates = _candidates(logits.detach(), label, num_candidates)
            fooled = alive[rows] & (logits.detach().argmax(1) != label[rows])
            settled = rows[fooled]
            result[settled] = x_cur[settled]
            iterations[settled] = step
            alive[settled] = False
            if step == max_iter or not bool(alive.any()):
                break
            r = _linearised_step(logits, xa, label[rows], candidates[rows])
            moving = rows[alive[rows]]
            r_tot[moving] += r[alive[rows]]
            x_cur[moving] = (x[moving] + (1.0 + overshoot) * r_tot[moving]).clamp_(0.0, 1.0)
    result[alive] = x_cur[alive]
    return result, iterations


def _linearised_step(logits: torch.Tensor, xa: torch.Tensor, label: torch.Tensor,
                     candidates: torch.Tensor) -> torch.Tensor:
    """Alg. 2, lines 4-8: the step ``r_i`` to the closest linearised boundary, per row; one
    backward pass per candidate class (the gradient of ``f_k - f_label``, summed over the rows,
    is every row's own ``w'_k`` because the rows are independent)."""
    shape = (-1,) + (1,) * (xa.dim() - 1)
    f_label = logits.gather(1, label[:, None]).squeeze(1)
    best_pert = torch.full_like(f_label, float("inf")).detach()
    best_w = torch.zeros_like(xa)
    k_last = candidates.shape[1] - 1
    for k in range(1, k_last + 1):
        f_k = logits.gather(1, candidates[:, k:k + 1]).squeeze(1) - f_label
        (w_k,) = torch.autograd.grad(f_k.sum(), xa, retain_graph=k < k_last)
        pert_k = f_k.detach().abs() / (w_k.flatten(1).norm(dim=1) + NORM_EPS)
        better = pert_k < best_pert  # strict: at a tie the higher-ranked candidate wins, as in the reference
        best_pert = torch.where(better, pert_k, best_pert)
        best_w = torch.where(better.view(shape), w_k, best_w)
    scale = (best_pert + PERT_FLOOR) / (best_w.flatten(1).norm(dim=1) + NORM_EPS)
    return scale.view(shape) * best_w


def _candidates(logits: torch.Tensor, label: torch.Tensor, num_candidates: int) -> torch.Tensor:
    """Column 0: the label; columns 1..K-1: the other classes with the highest clean logits."""
    others = logits.scatter(1, label[:, None], float("-inf"))
    return torch.cat([label[:, None], others.topk(num_candidates - 1, dim=1).indices], dim=1)


def _working_rows(alive: torch.Tensor) -> torch.Tensor:
    """The rows still being updated, topped up with settled rows (results frozen) to at least
    ``MIN_ACTIVE`` rows: the same batch-size floor as PGD, so an image's result does not depend on
    which other images settled first (oneDNN computes very small batches with other kernels)."""
    rows = alive.nonzero().squeeze(1)
    missing = MIN_ACTIVE - rows.numel()
    if missing > 0 and rows.numel() < alive.numel():
        rows = torch.cat([rows, (~alive).nonzero().squeeze(1)[:missing]]).sort().values
    return rows


def _check_candidates(num_candidates: int, num_classes: int) -> None:
    if num_candidates > num_classes:
        raise AadError(f"num_candidates must be between 2 and the model's {num_classes} classes, "
                       f"got {num_candidates}.")
