"""FGSM and PGD (L-inf and L2, cross-entropy or CW margin), batched, on any device.

One loop serves all of them: FGSM is one PGD step of size eps from the clean image, and
:func:`pgd_trajectory` runs the same loop while recording the logits after step k for several k
at once (PGD-10/20/40/100 are prefixes of one PGD-100 run when they share the start and the step
size).

Two result semantics:

- ``stop_when_fooled=False`` (default, as torchattacks and ART): the last iterate.
- ``stop_when_fooled=True`` (AutoAttack's robust-accuracy convention): an image counts as broken
  as soon as any point the attack visits (the clean image, the random start, any iterate) is
  misclassified; that point is its result and it costs no further gradient passes. Accuracy under
  this semantics can only fall with more steps, and is never above clean accuracy. Settled images
  leave the batch; the batch never shrinks below ``MIN_ACTIVE`` rows (settled images ride along,
  their results frozen) because oneDNN computes batches of fewer than ~12 rows with other kernels
  whose last bits differ, and the result must not depend on which images settled first.

Where the settled images leave is a cost question, not a numbers one: every settled image is
masked at once (its result frozen, :class:`_ActiveBatch`), and the batch is compacted (and the loop
asked whether anything is left) every ``SYNC_EVERY[device]`` steps. Both need the device to report
back to Python: free on a CPU, where it happens every step as before, while on CUDA each report
drains the GPU's queue of kernels (per-step compaction made the robustness table 2.1x slower than
attacking one by one on an H200), so there it happens every 8th step and settled images ride
along in between. The results are the same either way (tests/test_attack_details.py).

A model whose rows belong to several models (a stack of models, rows interleaved:
:class:`aad_lib.training.stack.ModelStack`, which says so with ``rows_stay_in_place = True``) is
never compacted: its settled rows are masked and ride along to the end, so that every row stays
with its model.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..validation import AadError, check_count, check_eps, check_positive, choose
from . import objectives
from .context import check_attack_inputs, model_mode
from .starts import ball_start, trades_start

Recorder = Callable[[int, torch.Tensor], None]
MIN_ACTIVE = 16
# steps between compactions / "anything left?" checks, by device type (module docstring); other types: 1
SYNC_EVERY = {"cpu": 1, "cuda": 8}


@dataclass(frozen=True)
class _StepSettings:
    """The settings of one run of the PGD loop, already validated (see :func:`_check`).

    ``eps``: radius of the ball; ``alpha``: step size; ``steps``: number of steps; ``norm``:
    ``"linf"`` or ``"l2"``; ``objective``: what each step ascends, ``objective(logits, target)``
    (:mod:`.objectives`); ``mode``: the model's mode during the run; ``eot_samples``: gradients
    averaged per step (EOT, see :func:`pgd`).
    """

    eps: float
    alpha: float
    steps: int
    norm: str
    objective: objectives.Objective
    mode: str
    eot_samples: int = 1


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *, loss: str = "ce",
         mode: str = "eval", stop_when_fooled: bool = False, eot_samples: int = 1) -> torch.Tensor:
    """Fast gradient sign method (Goodfellow et al., ICLR 2015): ``clip_[0,1](x + eps * sign(grad_x L))``.

    Goodfellow, Shlens, Szegedy, "Explaining and Harnessing Adversarial Examples". One PGD step
    of size ``eps`` from the clean image (:func:`pgd` with ``steps=1``, ``alpha=eps``, no random
    start). With ``stop_when_fooled`` an image the model already misclassifies is returned
    unchanged; ``eot_samples`` averages that many gradients (EOT, see :func:`pgd`).

    Arguments:
        model (nn.Module): classifier returning logits; attacked in ``mode``, left as it was.
        x (torch.Tensor): clean images in [0, 1].
        y (torch.Tensor): true labels.
        eps (float): L-inf radius and step size, >= 0 (pixel units).
        loss (str): ``"ce"`` (cross-entropy) or ``"cw"`` (CW margin, kappa 50). Default: ``"ce"``.
        mode (str): ``"eval"``, ``"train"`` or ``"keep"``, the model's mode during the attack.
            Default: ``"eval"``.
        stop_when_fooled (bool): return a misclassified clean image unchanged (AutoAttack's
            convention, module docstring). Default: False.
        eot_samples (int): gradients averaged per step (EOT), >= 1. Default: 1.

    Shape:
        - x: (N, C, H, W), values in [0, 1].
        - y: (N,) int64 class indices.
        - returns: (N, C, H, W) in [0, 1], ``|x_adv - x| <= eps`` pixel-wise.

    Examples:
        >>> import torch
        >>> from aad_lib.attacks import fgsm
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
        >>> x, y = torch.rand(2, 1, 2, 2), torch.tensor([0, 2])
        >>> x_adv = fgsm(model, x, y, eps=8/255)
        >>> x_adv.shape, bool((x_adv - x).abs().max() <= 8/255 + 1e-6)
        (torch.Size([2, 1, 2, 2]), True)
    """
    # at eps 0 any positive step lands back on x after the projection; alpha=eps would be refused
    return pgd(model, x, y, eps=eps, alpha=eps if eps > 0 else 1.0, steps=1, random_start=False, loss=loss,
               mode=mode, stop_when_fooled=stop_when_fooled, eot_samples=eot_samples)


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float, steps: int,
        random_start: bool = True, norm: str = "linf", loss: str = "ce", *, kappa: float = 50.0,
        generator: torch.Generator | None = None, mode: str = "eval",
        stop_when_fooled: bool = False, eot_samples: int = 1, start: torch.Tensor | None = None) -> torch.Tensor:
    """Projected gradient descent, L-inf or L2 (Madry et al., ICLR 2018, Eq. 2).

    Madry, Makelov, Schmidt, Tsipras, Vladu, "Towards Deep Learning Models Resistant to
    Adversarial Attacks".

    L-inf: ``x_{t+1} = Proj_{B(x,eps) ∩ [0,1]}(x_t + alpha * sign(grad))``; L2: the step is the
    gradient scaled to unit L2 norm and the projection rescales delta onto the L2 ball.
    ``random_start`` draws the start uniformly in the L-inf ball; for L2 it draws a uniform random
    direction at radius ``U(0, 1) * eps``, as torchattacks' PGDL2 does (denser near the centre
    than a uniform draw over the ball, which would take radius ``U^(1/d) * eps``). ``loss="cw"``
    ascends the CW margin (the paper's CW-k). Returns the last iterate, or with
    ``stop_when_fooled`` the first misclassified point visited (module docstring). The model is
    attacked in ``mode`` ("eval" by default) and left exactly as it was; parameter
    gradients are not touched.

    ``eot_samples`` > 1 is Expectation over Transformation (Athalye, Engstrom, Ilyas, Kwok, ICML
    2018; Athalye et al. 2018, Sec. 4.3) for a model with randomness in its forward pass (a
    randomised defense): each step ascends ``(1/k) sum_s grad_x L(model_s(x_t), y)``, the mean of
    ``k`` gradients of independent forward passes (the draws come from the model's own random
    source). With ``stop_when_fooled`` an image settles when the first draw of a step fools it.

    Arguments:
        model (nn.Module): classifier returning logits; attacked in ``mode``, left as it was.
        x (torch.Tensor): clean images in [0, 1].
        y (torch.Tensor): true labels.
        eps (float): radius of the ball, >= 0 (pixel units).
        alpha (float): step size, > 0.
        steps (int): number of steps, >= 0 (0: the start itself).
        random_start (bool): start from a random point of the ball. Default: True.
        norm (str): ``"linf"`` or ``"l2"``. Default: ``"linf"``.
        loss (str): ``"ce"`` (cross-entropy) or ``"cw"`` (CW margin). Default: ``"ce"``.
        kappa (float): confidence of the CW margin (``loss="cw"`` only). Default: 50.0.
        generator (torch.Generator | None): source of the random start; None: the global one.
            Default: None.
        mode (str): ``"eval"``, ``"train"`` or ``"keep"``, the model's mode during the attack.
            Default: ``"eval"``.
        stop_when_fooled (bool): AutoAttack's convention, the first misclassified point visited
            (module docstring). Default: False.
        eot_samples (int): gradients averaged per step (EOT), >= 1. Default: 1.
        start (torch.Tensor | None): the first iterate, drawn by the caller (e.g.
            :func:`~aad_lib.attacks.starts.ball_start` from each model's own generator in stacked
            training); ``random_start`` and ``generator`` are then unused. None: the attack
            draws it. Default: None.

    Shape:
        - x: (N, C, H, W), values in [0, 1].
        - y: (N,) int64 class indices.
        - start: (N, C, H, W) in [0, 1], within the ball, or None.
        - returns: (N, C, H, W) in [0, 1], within ``eps`` of ``x`` in the chosen norm.

    Examples:
        >>> import torch
        >>> from aad_lib.attacks import pgd
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
        >>> x, y = torch.rand(2, 1, 2, 2), torch.tensor([0, 2])
        >>> x_adv = pgd(model, x, y, eps=8/255, alpha=2/255, steps=3)
        >>> x_adv.shape, bool((x_adv - x).abs().max() <= 8/255 + 1e-6)
        (torch.Size([2, 1, 2, 2]), True)
        >>> l2 = pgd(model, x, y, eps=0.5, alpha=0.1, steps=3, norm="l2", loss="cw")
        >>> bool((l2 - x).flatten(1).norm(dim=1).max() <= 0.5 + 1e-6)
        True
    """
    eps = _check(model, x, y, eps, alpha, steps, norm)
    samples = check_count(eot_samples, "eot_samples", 1)
    if start is None:
        start = ball_start(x, eps, norm, generator) if random_start and eps > 0 else x
    else:
        _check_start(start, x)
    settings = _StepSettings(eps=eps, alpha=alpha, steps=steps, norm=norm,
                             objective=objectives.get(loss, kappa), mode=mode, eot_samples=samples)
    return _run(model, x, y, start, settings, labels=y if stop_when_fooled else None,
                check_clean=start is not x)


def pgd_trajectory(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float,
                   checkpoints: Sequence[int], random_start: bool = True, norm: str = "linf", loss: str = "ce",
                   *, kappa: float = 50.0, generator: torch.Generator | None = None,
                   mode: str = "eval", stop_when_fooled: bool = False,
                   start: torch.Tensor | None = None) -> tuple[dict[int, torch.Tensor], torch.Tensor]:
    """One PGD run (Madry et al., ICLR 2018, Eq. 2) of ``max(checkpoints)`` steps, logits at each checkpoint.

    For each k in ``checkpoints`` the logits of the result after k steps (detached, on the CPU):
    the k-th iterate, or with ``stop_when_fooled`` the first misclassified point among the first
    k. Identical to separate ``pgd(..., steps=k)`` runs from the same generator state, at the cost
    of the longest one (less with ``stop_when_fooled``: settled images stop costing passes).
    Returns (logits per k, result).

    Arguments:
        model (nn.Module): classifier returning logits; attacked in ``mode``, left as it was.
        x (torch.Tensor): clean images in [0, 1].
        y (torch.Tensor): true labels.
        eps (float): radius of the ball, >= 0 (pixel units).
        alpha (float): step size, > 0.
        checkpoints (Sequence[int]): step counts k >= 0 to record (at least one; duplicates and
            order do not matter).
        random_start (bool): start from a random point of the ball. Default: True.
        norm (str): ``"linf"`` or ``"l2"``. Default: ``"linf"``.
        loss (str): ``"ce"`` (cross-entropy) or ``"cw"`` (CW margin). Default: ``"ce"``.
        kappa (float): confidence of the CW margin (``loss="cw"`` only). Default: 50.0.
        generator (torch.Generator | None): source of the random start; None: the global one.
            Default: None.
        mode (str): ``"eval"``, ``"train"`` or ``"keep"``. Default: ``"eval"``.
        stop_when_fooled (bool): AutoAttack's convention (module docstring). Default: False.
        start (torch.Tensor | None): the start, drawn by the caller (e.g. one draw shared by the
            models of a stack); None: as ``random_start`` says. Default: None.

    Shape:
        - x: (N, C, H, W), values in [0, 1].
        - y: (N,) int64 class indices.
        - start: (N, C, H, W) in [0, 1], within the ball, or None.
        - returns: a dict ``{k: (N, num_classes) logits on the CPU}`` and the result after
          ``max(checkpoints)`` steps, (N, C, H, W) in [0, 1].

    Examples:
        >>> import torch
        >>> from aad_lib.attacks import pgd_trajectory
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
        >>> x, y = torch.rand(2, 1, 2, 2), torch.tensor([0, 2])
        >>> logits, x_adv = pgd_trajectory(model, x, y, 8/255, 2/255, checkpoints=[1, 3])
        >>> sorted(logits), logits[3].shape, x_adv.shape
        ([1, 3], torch.Size([2, 3]), torch.Size([2, 1, 2, 2]))
    """
    ks = sorted({check_count(int(k), "checkpoint", 0) for k in checkpoints})
    if not ks:
        raise AadError("checkpoints must name at least one step count.")
    logits_at: dict[int, torch.Tensor] = {}

    def record(step: int, logits: torch.Tensor) -> None:
        if step in ks:
            logits_at[step] = logits.detach().to("cpu", copy=True)

    eps = _check(model, x, y, eps, alpha, ks[-1], norm)
    if start is None:
        start = ball_start(x, eps, norm, generator) if random_start and eps > 0 else x
    else:
        _check_start(start, x)
    settings = _StepSettings(eps=eps, alpha=alpha, steps=ks[-1], norm=norm,
                             objective=objectives.get(loss, kappa), mode=mode)
    x_adv = _run(model, x, y, start, settings, record=record, labels=y if stop_when_fooled else None,
                 check_clean=start is not x)
    return logits_at, x_adv


def trades_attack(model: nn.Module, x: torch.Tensor, eps: float, alpha: float, steps: int, *,
                  generator: torch.Generator | None = None, mode: str = "eval",
                  start: torch.Tensor | None = None) -> torch.Tensor:
    """The TRADES inner maximisation (Zhang et al., ICML 2019, Alg. 1): PGD on ``KL(p(x) || p(x'))``.

    Zhang, Yu, Jiao, Xing, El Ghaoui, Jordan, "Theoretically Principled Trade-off between
    Robustness and Accuracy". L-inf PGD on ``KL(p(x) || p(x'))`` from ``x + 0.001 * N(0, I)``,
    as in the official ``trades_loss``. No labels: the target is the model's own clean prediction
    ``p(x)``.

    Arguments:
        model (nn.Module): classifier returning logits; attacked in ``mode``, left as it was.
        x (torch.Tensor): clean images in [0, 1].
        eps (float): L-inf radius, >= 0 (pixel units).
        alpha (float): step size, > 0.
        steps (int): number of steps, >= 0.
        generator (torch.Generator | None): source of the start noise; None: the global one.
            Default: None.
        mode (str): ``"eval"``, ``"train"`` or ``"keep"``. Default: ``"eval"``.
        start (torch.Tensor | None): the noisy start, drawn by the caller
            (:func:`~aad_lib.attacks.starts.trades_start`); ``generator`` is then unused. None: the
            attack draws it. Default: None.

    Shape:
        - x: (N, C, H, W), values in [0, 1].
        - start: (N, C, H, W) in [0, 1], or None.
        - returns: (N, C, H, W) in [0, 1], ``|x_adv - x| <= eps`` pixel-wise.

    Examples:
        >>> import torch
        >>> from aad_lib.attacks import trades_attack
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
        >>> x = torch.rand(2, 1, 2, 2)
        >>> x_adv = trades_attack(model, x, eps=8/255, alpha=2/255, steps=3)
        >>> x_adv.shape, bool((x_adv - x).abs().max() <= 8/255 + 1e-6)
        (torch.Size([2, 1, 2, 2]), True)
    """
    eps = _check(model, x, None, eps, alpha, steps, "linf")
    with torch.no_grad(), model_mode(model, mode):
        p_clean = torch.softmax(model(x), dim=1)
    if start is None:
        start = trades_start(x, generator)
    else:
        _check_start(start, x)
    if steps == 0:  # no step projects the start: the noise alone may leave a small ball (eps < ~0.004)
        return torch.max(torch.min(start, x + eps), x - eps)
    settings = _StepSettings(eps=eps, alpha=alpha, steps=steps, norm="linf", objective=objectives.kl_from,
                             mode=mode)
    return _run(model, x, p_clean, start, settings)


def _check(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None, eps: float, alpha: float,
           steps: int, norm: str) -> float:
    check_attack_inputs(model, x, y)
    check_count(steps, "steps", 0)
    check_positive(alpha, "alpha")
    choose(norm, ("linf", "l2"), "norm")
    return check_eps(eps)


def _run(model: nn.Module, x: torch.Tensor, target: torch.Tensor, start: torch.Tensor,
         settings: _StepSettings, *, record: Recorder | None = None, labels: torch.Tensor | None = None,
         check_clean: bool = False) -> torch.Tensor:
    """The PGD loop every attack here shares, ``settings.steps`` steps from ``start`` around ``x``,
    ascending ``settings.objective(logits, target)``; inputs are already validated.

    ``record(k, logits)`` gets the whole batch's result logits after step k. With ``labels`` an
    image settles at the first misclassified point (the clean image first if ``check_clean``).
    ``settings.eot_samples`` gradients are averaged per step (see :func:`pgd`).
    """
    x, target = x.detach(), target.detach()
    if labels is None and record is None:
        return _plain(model, x, target, start, settings)
    state = _ActiveBatch(x, target, start, labels, settings, SYNC_EVERY.get(x.device.type, 1),
                         compact_rows=not getattr(model, "rows_stay_in_place", False))
    step = -1
    with model_mode(model, settings.mode), torch.enable_grad():  # callers may sit inside torch.no_grad()
        if labels is not None and check_clean:
            with torch.no_grad():
                state.observe(model(x), x)
            state.compact()
        while not state.done:
            step += 1
            if step == settings.steps:  # the last iterate: its logits only
                with torch.no_grad():
                    state.observe(model(state.x_adv), state.x_adv)
                if record is not None:
                    record(step, state.logits)
                break
            xa = state.x_adv.requires_grad_(True)
            logits = model(xa)
            state.observe(logits.detach(), xa.detach())
            if record is not None:
                record(step, state.logits)
            if state.done:
                break
            grad = _expected_gradient(model, xa, logits, state.target, settings.objective,
                                      settings.eot_samples)
            state.x_adv = xa.detach()
            grad = state.compact(grad)
            state.x_adv = _step(state.x, state.x_adv, grad, settings.eps, settings.alpha, settings.norm,
                                state.lo, state.hi)
    if record is not None:
        for k in range(step + 1, settings.steps + 1):  # every image settled early: the results are final
            record(k, state.logits)
    return state.finish()


def _plain(model: nn.Module, x: torch.Tensor, target: torch.Tensor, start: torch.Tensor,
           settings: _StepSettings) -> torch.Tensor:
    """The hot loop (training attacks, plain PGD): the last iterate, no bookkeeping."""
    x_adv = start.detach().clone()
    lo, hi = _bounds(x, settings.eps, settings.norm)
    with model_mode(model, settings.mode), torch.enable_grad():
        for _ in range(settings.steps):
            x_adv.requires_grad_(True)
            grad = _expected_gradient(model, x_adv, model(x_adv), target, settings.objective,
                                      settings.eot_samples)
            x_adv = _step(x, x_adv.detach(), grad, settings.eps, settings.alpha, settings.norm, lo, hi)
    return x_adv.detach()


def _expected_gradient(model: nn.Module, xa: torch.Tensor, logits: torch.Tensor, target: torch.Tensor,
                       objective: objectives.Objective, samples: int) -> torch.Tensor:
    """``grad_x objective`` at ``xa`` from the forward pass ``logits``; with ``samples`` > 1 the mean
    over that pass and ``samples - 1`` further forward passes (EOT)."""
    (grad,) = torch.autograd.grad(objective(logits, target), xa)
    for _ in range(samples - 1):
        (more,) = torch.autograd.grad(objective(model(xa), target), xa)
        grad = grad + more
    return grad / samples if samples > 1 else grad


def _bounds(x: torch.Tensor, eps: float, norm: str) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """L-inf: the eps ball and [0, 1] intersected once, so each step needs one clamp."""
    if norm != "linf":
        return None, None
    return (x - eps).clamp_(min=0.0), (x + eps).clamp_(max=1.0)


def _step(x: torch.Tensor, x_adv: torch.Tensor, grad: torch.Tensor, eps: float, alpha: float, norm: str,
          lo: torch.Tensor | None, hi: torch.Tensor | None) -> torch.Tensor:
    """One ascent step and projection; ``x_adv`` (detached) is updated in place for L-inf."""
    if norm == "linf":
        x_adv.add_(grad.sign(), alpha=alpha)  # not sign_(): autograd may hand back an expanded (stride-0) gradient
        return torch.clamp(x_adv, lo, hi, out=x_adv)
    return _l2_step(x, x_adv, grad, eps, alpha)


class _ActiveBatch:
    """Book-keeping of :func:`_run`: the active rows (``rows``; ``alive`` marks those not yet
    settled, the others ride along), the per-row tensors of the active batch, and the result
    image and logits of every row of the full batch."""

    def __init__(self, x: torch.Tensor, target: torch.Tensor, start: torch.Tensor,
                 labels: torch.Tensor | None, settings: _StepSettings, sync_every: int = 1,
                 compact_rows: bool = True):
        n = x.shape[0]
        self.sync_every, self.observed, self.compact_rows = sync_every, 0, compact_rows
        self.labels = labels
        self.result = start.detach().clone()
        self.logits: torch.Tensor | None = None
        self.rows = torch.arange(n, device=x.device)
        self.alive = torch.ones(n, dtype=torch.bool, device=x.device)
        self.x, self.target, self.x_adv = x, target, start.detach().clone()
        self.lo, self.hi = _bounds(x, settings.eps, settings.norm)
        self.done = False

    def observe(self, logits: torch.Tensor, visited: torch.Tensor) -> None:
        """The active batch's logits at ``visited``: record them, settle the alive rows they fool."""
        if self.logits is None:
            self.logits = logits.new_empty(self.result.shape[0], logits.shape[1])
        if self.labels is None:
            self.logits[self.rows] = logits
            return
        # masks, not boolean indexing: selecting rows by a mask would make the device report back
        alive = self.alive.view(-1, *([1] * (logits.dim() - 1)))
        self.logits[self.rows] = torch.where(alive, logits, self.logits[self.rows])
        fooled = self.alive & (logits.argmax(1) != self.labels[self.rows])
        where = fooled.view(-1, *([1] * (visited.dim() - 1)))
        self.result[self.rows] = torch.where(where, visited, self.result[self.rows])
        self.alive = self.alive & ~fooled
        self.observed += 1
        if self._sync_now():
            self.done = not bool(self.alive.any())

    def _sync_now(self) -> bool:
        return self.observed % self.sync_every == 0

    def compact(self, grad: torch.Tensor | None = None) -> torch.Tensor | None:
        """Drop settled rows from the active batch, keeping at least ``MIN_ACTIVE`` rows (settled
        ones ride along, results frozen); ``grad`` of the active batch is compacted alike. Only
        every ``sync_every``-th observation, and never when the rows must stay in place (module docstring)."""
        if not self.compact_rows or self.labels is None or self.rows.numel() <= MIN_ACTIVE or not self._sync_now():
            return grad
        n_rows, n_alive = self.rows.numel(), int(self.alive.sum())
        if n_alive == n_rows:
            return grad
        keep = self.alive.clone()
        if n_alive < MIN_ACTIVE:
            keep[(~self.alive).nonzero().squeeze(1)[:MIN_ACTIVE - n_alive]] = True
        self.rows, self.alive = self.rows[keep], self.alive[keep]
        self.x, self.target, self.x_adv = self.x[keep], self.target[keep], self.x_adv[keep]
        if self.lo is not None:
            self.lo, self.hi = self.lo[keep], self.hi[keep]
        return None if grad is None else grad[keep]

    def finish(self) -> torch.Tensor:
        """First fooling point of each settled row, the last iterate of the others."""
        self.result[self.rows[self.alive]] = self.x_adv.detach()[self.alive]
        return self.result


def _check_start(start: torch.Tensor, x: torch.Tensor) -> None:
    """A start given by the caller must be an image batch of ``x``'s shape, dtype and device."""
    if not isinstance(start, torch.Tensor) or start.shape != x.shape or start.dtype != x.dtype or start.device != x.device:
        raise AadError(f"start must be a tensor like x ({x.dtype} {tuple(x.shape)} on {x.device}), got "
                       f"{getattr(start, 'dtype', type(start).__name__)} {tuple(getattr(start, 'shape', ()))}.")


def _l2_step(x: torch.Tensor, x_adv: torch.Tensor, grad: torch.Tensor, eps: float, alpha: float) -> torch.Tensor:
    shape = (-1,) + (1,) * (x.dim() - 1)
    grad = grad / (grad.flatten(1).norm(dim=1).view(shape) + 1e-10)
    delta = x_adv + alpha * grad - x
    factor = (eps / delta.flatten(1).norm(dim=1).clamp_min(1e-12)).clamp(max=1.0)
    return (x + delta * factor.view(shape)).clamp_(0.0, 1.0)
