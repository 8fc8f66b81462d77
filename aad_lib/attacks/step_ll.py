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
from .pgd import _check, _run, _StepSettings


def least_likely(model: nn.Module, x: torch.Tensor, mode: str = "eval") -> torch.Tensor:
    """``y_LL = argmin_c f_c(x)``, the target of every Step-LL attack (Kurakin et al., ICLR 2017, Eq. 3).

    The class the model finds least likely on ``x``, computed without a graph in ``mode``; the
    model's own mode is restored afterwards.

    Arguments:
        model (nn.Module): classifier returning logits.
        x (torch.Tensor): images in [0, 1].
        mode (str): ``"eval"``, ``"train"`` or ``"keep"``. Default: ``"eval"``.

    Shape:
        - x: (N, C, H, W), values in [0, 1].
        - returns: (N,) int64 class indices, on ``x``'s device.

    Examples:
        >>> import torch
        >>> from aad_lib.attacks import least_likely
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
        >>> x = torch.rand(2, 1, 2, 2)
        >>> bool((least_likely(model, x) == model(x).argmin(1)).all())
        True
    """
    with torch.no_grad(), model_mode(model, mode):
        return model(x).argmin(1)


def towards_least_likely(logits: torch.Tensor, y_ll: torch.Tensor) -> torch.Tensor:
    """The objective the Step-LL family ascends (Kurakin et al., ICLR 2017, Eq. 3): ``-sum_i CE(z_i, y_LL,i)``.

    Summed over the batch (as every objective in :mod:`.objectives`), so the per-sample gradient
    does not depend on the batch size.

    Arguments:
        logits (torch.Tensor): the model's logits ``z``.
        y_ll (torch.Tensor): the least likely classes, :func:`least_likely`.

    Shape:
        - logits: (N, num_classes).
        - y_ll: (N,) int64 class indices.
        - returns: () a scalar.

    Examples:
        >>> import torch
        >>> from aad_lib.attacks.step_ll import towards_least_likely
        >>> towards_least_likely(torch.zeros(2, 4), torch.tensor([1, 3]))  # -2 log 4
        tensor(-2.7726)
    """
    return -F.cross_entropy(logits, y_ll, reduction="sum")


def step_ll(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None, eps: float, *, mode: str = "eval",
            stop_when_fooled: bool = False) -> torch.Tensor:
    """Step-LL (Kurakin et al., ICLR 2017, Eq. 3): ``clip_[0,1](x - eps * sign(grad_x CE(f(x), y_LL)))``.

    One step of :func:`iterated_step_ll` of size ``eps`` from the clean image; ``eps == 0``
    returns a copy of ``x``. ``y`` (true labels) is only needed for ``stop_when_fooled`` (an image
    the model already misclassifies is returned unchanged).

    Arguments:
        model (nn.Module): classifier returning logits; attacked in ``mode``, left as it was.
        x (torch.Tensor): clean images in [0, 1].
        y (torch.Tensor | None): true labels, or None (then ``stop_when_fooled`` must be False).
        eps (float): L-inf radius and step size, >= 0 (pixel units).
        mode (str): ``"eval"``, ``"train"`` or ``"keep"``. Default: ``"eval"``.
        stop_when_fooled (bool): return a misclassified clean image unchanged. Default: False.

    Shape:
        - x: (N, C, H, W), values in [0, 1].
        - y: (N,) int64 class indices, or None.
        - returns: (N, C, H, W) in [0, 1], ``|x_adv - x| <= eps`` pixel-wise.

    Examples:
        >>> import torch
        >>> from aad_lib.attacks import step_ll
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
        >>> x = torch.rand(2, 1, 2, 2)
        >>> x_adv = step_ll(model, x, None, eps=8/255)
        >>> x_adv.shape, bool((x_adv - x).abs().max() <= 8/255 + 1e-6)
        (torch.Size([2, 1, 2, 2]), True)
    """
    if check_eps(eps) == 0:
        check_attack_inputs(model, x, y)
        return x.detach().clone()
    return iterated_step_ll(model, x, y, eps, eps, 1, mode=mode, stop_when_fooled=stop_when_fooled)


def r_step_ll(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None, eps: float, alpha: float | None = None,
              *, generator: torch.Generator | None = None, mode: str = "eval",
              stop_when_fooled: bool = False) -> torch.Tensor:
    """R+Step-LL (Tramèr et al., ICLR 2018, Eq. 7): a random sign step ``alpha``, then Step-LL of ``eps - alpha``.

    ``x0 = x + alpha * sign(N(0, I))`` (clipped to [0, 1]), then Step-LL of size ``eps - alpha``
    from ``x0`` (``alpha = eps / 2`` by default, as there); ``y_LL`` is the least likely class of
    the clean image. ``eps == 0`` returns a copy of ``x``.

    Arguments:
        model (nn.Module): classifier returning logits; attacked in ``mode``, left as it was.
        x (torch.Tensor): clean images in [0, 1].
        y (torch.Tensor | None): true labels, only needed for ``stop_when_fooled``.
        eps (float): L-inf radius, >= 0 (pixel units).
        alpha (float | None): size of the random step, ``0 <= alpha < eps``; None: ``eps / 2``.
            Default: None.
        generator (torch.Generator | None): source of the random step; None: the global one.
            Default: None.
        mode (str): ``"eval"``, ``"train"`` or ``"keep"``. Default: ``"eval"``.
        stop_when_fooled (bool): settle an image at the first misclassified point (the random
            start included). Default: False.

    Shape:
        - x: (N, C, H, W), values in [0, 1].
        - y: (N,) int64 class indices, or None.
        - returns: (N, C, H, W) in [0, 1], ``|x_adv - x| <= eps`` pixel-wise.

    Examples:
        >>> import torch
        >>> from aad_lib.attacks import r_step_ll
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
        >>> x = torch.rand(2, 1, 2, 2)
        >>> x_adv = r_step_ll(model, x, None, eps=8/255, generator=torch.Generator().manual_seed(0))
        >>> x_adv.shape, bool((x_adv - x).abs().max() <= 8/255 + 1e-6)
        (torch.Size([2, 1, 2, 2]), True)
    """
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
    settings = _StepSettings(eps=eps, alpha=eps - alpha, steps=1, norm="linf", objective=towards_least_likely,
                             mode=mode)
    return _run(model, x, least_likely(model, x, mode), start, settings,
                labels=y if stop_when_fooled else None, check_clean=True)


def iterated_step_ll(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None, eps: float, alpha: float,
                     steps: int, *, start: torch.Tensor | None = None, y_ll: torch.Tensor | None = None,
                     mode: str = "eval", stop_when_fooled: bool = False) -> torch.Tensor:
    """Iterative least-likely class method (Kurakin et al., ICLR 2017, Eq. 4): PGD descending ``CE(f(x), y_LL)``.

    ``steps`` steps ``x_{t+1} = Proj_{B(x,eps) ∩ [0,1]}(x_t - alpha * sign(grad CE(f(x_t), y_LL)))``
    from ``start`` (default ``x``), ``y_LL`` from the clean image unless given. Calling it one
    step at a time from the previous result (same ``y_ll``) gives the same iterates as one call.

    Arguments:
        model (nn.Module): classifier returning logits; attacked in ``mode``, left as it was.
        x (torch.Tensor): clean images in [0, 1], the centre of the ball.
        y (torch.Tensor | None): true labels, only needed for ``stop_when_fooled``.
        eps (float): L-inf radius, >= 0 (pixel units).
        alpha (float): step size, > 0.
        steps (int): number of steps, >= 0.
        start (torch.Tensor | None): the first iterate; None: ``x``. Default: None.
        y_ll (torch.Tensor | None): the target classes; None: :func:`least_likely` of ``x``.
            Default: None.
        mode (str): ``"eval"``, ``"train"`` or ``"keep"``. Default: ``"eval"``.
        stop_when_fooled (bool): settle an image at the first misclassified point (judged against
            ``y``). Default: False.

    Shape:
        - x, start: (N, C, H, W), values in [0, 1].
        - y, y_ll: (N,) int64 class indices, or None.
        - returns: (N, C, H, W) in [0, 1], ``|x_adv - x| <= eps`` pixel-wise.

    Examples:
        >>> import torch
        >>> from aad_lib.attacks import iterated_step_ll
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
        >>> x = torch.rand(2, 1, 2, 2)
        >>> once = iterated_step_ll(model, x, None, eps=8/255, alpha=2/255, steps=2)
        >>> one = iterated_step_ll(model, x, None, eps=8/255, alpha=2/255, steps=1)
        >>> torch.equal(once, iterated_step_ll(model, x, None, 8/255, 2/255, 1, start=one))
        True
    """
    if stop_when_fooled and y is None:
        raise AadError("stop_when_fooled needs the true labels y.")
    check_count(steps, "steps", 0)
    eps = _check(model, x, y, eps, alpha, steps, "linf")
    target = least_likely(model, x, mode) if y_ll is None else y_ll
    begin = x if start is None else start
    settings = _StepSettings(eps=eps, alpha=alpha, steps=steps, norm="linf", objective=towards_least_likely,
                             mode=mode)
    return _run(model, x, target, begin, settings, labels=y if stop_when_fooled else None,
                check_clean=begin is not x)
