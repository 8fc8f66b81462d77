"""Sanity checks of a robustness evaluation, in the spirit of AutoAttack's ``checks.py`` (Croce
and Hein 2020) and of Carlini et al.'s "On Evaluating Adversarial Robustness" (2019, Sec. 5):
symptoms that an attack is being fooled (gradient masking) rather than the model being robust.

Each check returns a :class:`Flag` with the measured value, the threshold it is held to and, when
raised, what it suggests. None of them proves robustness; a raised flag says the accuracy next to
it is probably an overestimate.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from .attacks.settings import AttackSettings
from .attacks import model_mode, pgd
from .crosscheck import COLUMNS, compare_with_ours, robust_under_all
from .validation import check_count, check_eps, check_images, check_labels


@dataclass
class Flag:
    """One check: ``raised`` when ``value`` is on the wrong side of ``threshold``."""

    check: str
    value: float
    threshold: float
    raised: bool
    meaning: str


def above(value: float, threshold: float) -> bool:
    """Whether a check's ``value`` lies above its ``threshold``. Values are shares and differences
    of shares of n images, so a tie is common (one digit of 50 is exactly a 2-point threshold) and
    float error must not break it: 0.50 - 0.48 > 0.02 in floats."""
    return value > threshold + 1e-9


def zero_or_nonfinite_gradients(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                                threshold: float = 0.1) -> Flag:
    """Share of images whose input gradient of the cross-entropy is all zero or not finite.
    Raised above ``threshold``: gradient attacks get no signal there (saturated softmax,
    quantisation, non-differentiable preprocessing), so their failure means nothing."""
    check_images(x)
    check_labels(y, x.shape[0], getattr(model, "num_classes", None))
    with model_mode(model, "eval"), torch.enable_grad():
        xr = x.detach().requires_grad_(True)
        loss = F.cross_entropy(model(xr), y, reduction="sum")
        # a pipeline that cuts the graph (a codec, a purifier under no_grad) has no input gradient at all
        (grad,) = torch.autograd.grad(loss, xr, allow_unused=True) if loss.requires_grad else (None,)
    grad = torch.zeros_like(x) if grad is None else grad
    flat = grad.flatten(1)
    bad = (~torch.isfinite(flat).all(dim=1)) | (flat.abs().amax(dim=1) == 0)
    share = bad.float().mean().item()
    return Flag("zero or non-finite input gradients", share, threshold, above(share, threshold),
                "gradient attacks get no signal on these images; try BPDA/EOT or a gradient-free attack")


def large_eps_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int = 20,
                       eps: float = 1.0, threshold: float = 0.02,
                       generator: torch.Generator | None = None) -> Flag:
    """Accuracy under PGD-``steps`` with an eps that allows any image (1.0 on [0, 1] pixels).
    Raised above ``threshold``: an unbounded attack that cannot reach 0% is not following the
    gradient (Carlini et al. 2019, Sec. 5.2: "verify that unbounded attacks succeed")."""
    check_count(steps, "steps", 1)
    check_eps(eps)
    x_adv = pgd(model, x, y, eps, eps / 4, steps, generator=generator, stop_when_fooled=True)
    acc = _accuracy(model, x_adv, y)
    return Flag(f"accuracy at eps {eps:g} (PGD-{steps})", acc, threshold, above(acc, threshold),
                "the attack cannot break images even without a budget: its gradients are masked or it is misconfigured")


def noise_beats_whitebox(model: nn.Module, x: torch.Tensor, y: torch.Tensor, whitebox_correct: torch.Tensor,
                         eps: float, draws: int = 10, threshold: float = 0.01,
                         generator: torch.Generator | None = None) -> Flag:
    """Share of images that random sign noise of size ``eps`` (``draws`` draws, any draw counts)
    misclassifies although the white-box attack (``whitebox_correct``, per image) did not. Raised
    above ``threshold``: a blind attack must never beat a gradient attack of the same budget."""
    check_images(x)
    check_count(draws, "draws", 1)
    eps = check_eps(eps)
    fooled = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
    with torch.no_grad(), model_mode(model, "eval"):
        for _ in range(draws):
            sign = torch.randint(0, 2, x.shape, generator=generator, device=x.device).to(x.dtype).mul_(2).sub_(1)
            fooled |= model((x + eps * sign).clamp_(0, 1)).argmax(1) != y
    wins = (fooled & whitebox_correct.to(x.device).bool()).float().mean().item()
    return Flag(f"random noise beats the white-box attack ({draws} draws)", wins, threshold, above(wins, threshold),
                "the white-box attack misses examples blind noise finds: gradient masking or too few steps")


def more_steps_raise_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float,
                              steps: int, threshold: float = 0.01,
                              generator_seed: int = 0) -> Flag:
    """Last-iterate accuracy of PGD-``steps`` minus that of PGD-``4 * steps`` from the same start.
    Raised when four times the steps *raise* accuracy by more than ``threshold``: the attack
    oscillates or its loss surface is shattered. (Under the evaluation's stopping convention
    accuracy cannot rise with steps by construction, so the last iterate is what is checked.)"""
    accs = []
    for k in (steps, 4 * steps):
        g = torch.Generator(device=x.device).manual_seed(generator_seed)
        accs.append(_accuracy(model, pgd(model, x, y, eps, alpha, k, generator=g), y))
    rise = accs[1] - accs[0]
    return Flag(f"PGD-{4 * steps} last iterate above PGD-{steps}", rise, threshold, above(rise, threshold),
                "more iterations should never help the model: the attack is not converging")


def transfer_beats_whitebox(whitebox_robust: torch.Tensor, transfer_robust: torch.Tensor,
                            threshold: float = 0.01) -> Flag:
    """Share of images a transfer attack (images computed on another model, e.g. the undefended
    classifier: the grey-box protocol) breaks although the white-box attack on this model did not.
    Raised above ``threshold``: the white-box gradients are worse than a surrogate's (Carlini et
    al. 2019, Sec. 5.3), i.e. masked or badly approximated (a weak BPDA)."""
    wins = (transfer_robust.bool() == 0) & whitebox_robust.bool()
    share = wins.float().mean().item()
    return Flag("transfer (grey-box) beats the white-box attack", share, threshold, above(share, threshold),
                "the white-box gradient is worse than a surrogate's: masked, or a poor BPDA approximation")


def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad(), model_mode(model, "eval"):
        return (model(x).argmax(1) == y).float().mean().item()


def run_checks(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float, steps: int,
               whitebox_correct: torch.Tensor, seed: int = 0) -> list[Flag]:
    """All four checks on one model at the evaluation's budget: input gradients, PGD-20 at eps 1,
    random sign noise of size ``eps`` against the white-box result (``whitebox_correct`` per image,
    read from the evaluation records), and last-iterate PGD-``4 steps`` against PGD-``steps``."""
    return [zero_or_nonfinite_gradients(model, x, y),
            large_eps_accuracy(model, x, y, generator=torch.Generator(device=x.device).manual_seed(seed)),
            noise_beats_whitebox(model, x, y, whitebox_correct, eps,
                                 generator=torch.Generator(device=x.device).manual_seed(seed)),
            more_steps_raise_accuracy(model, x, y, eps, alpha, steps, generator_seed=seed)]


def raised_summary(flags: list[Flag]) -> str:
    """The raised checks of one model in words, for a table cell ("none" when all pass)."""
    raised = [f.check for f in flags if f.raised]
    return "; ".join(raised) if raised else "none"


def weaker_than_autoattack(ours: float, autoattack: float, n: int, attacks: str = "APGD-CE+T",
                           threshold: float = 0.02) -> Flag:
    """Our strongest attack's accuracy minus AutoAttack's (``attacks``: APGD-CE then APGD-T) on the
    same images. Raised above ``threshold``: an independent attack breaks images ours does not, so
    our column overestimates robustness for this model."""
    gap = ours - autoattack
    return Flag(f"AutoAttack ({attacks}) below our strongest attack ({n} images)", gap, threshold, above(gap, threshold),
                "our PGD/CW miss adversarial examples an independent attack finds: report the AutoAttack number")


def standard_above_audit(above_points: float, n: int, threshold: float = 0.01) -> Flag:
    """The full AutoAttack ``standard`` column's accuracy minus the audit's APGD-CE(+T) accuracy on
    the same ``n`` images (``above_points``, percentage points). Raised above ``threshold`` (one
    image in 100): the ensemble runs APGD-CE and APGD-T first (Croce and Hein 2020), so it can lie
    above them only by the luck of other random starts; more means the column was computed on
    other images, another model state or a weaker budget."""
    share = above_points / 100
    return Flag(f"AutoAttack standard above the APGD audit ({n} images)", share, threshold, above(share, threshold),
                "the AutoAttack column is weaker than two of its own attacks: it was not computed as published")


def audit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, evaluated: pd.DataFrame, our_columns: list[str],
          attack: AttackSettings, autoattack_steps: int = 100, seed: int = 0,
          targeted: bool = True) -> tuple[list[Flag], dict[str, float]]:
    """Everything a table row is checked with, on the first ``len(y)`` evaluated images: the four
    gradient-masking checks (:func:`run_checks` at the budget ``attack``: the white-box reference
    is ``our_columns`` of the evaluation records, robust under all of them; more steps =
    PGD-``4 attack.steps`` vs PGD-``attack.steps``) and the AutoAttack cross-check at ``attack.eps``
    against the same columns, whose gap is the fifth flag; where the records carry the AutoAttack
    ``standard`` column (:mod:`aad_lib.autoattack`), a sixth: it must not lie above the audit's
    APGD (:func:`standard_above_audit`). Returns (flags, the cross-check row of
    :func:`aad_lib.crosscheck.compare_with_ours`)."""
    row = compare_with_ours(model, x, y, evaluated, our_columns, attack.eps, autoattack_steps, seed, targeted)
    ours = torch.tensor(robust_under_all(evaluated, our_columns, len(y)), device=x.device)
    flags = run_checks(model, x, y, attack.eps, attack.alpha, attack.steps, ours, seed)
    flags.append(weaker_than_autoattack(row["ours"] / 100, (row["ours"] - row["gap (points)"]) / 100, row["n"],
                                        "APGD-CE+T" if targeted else "APGD-CE"))
    if "standard above audit (points)" in row:
        flags.append(standard_above_audit(row["standard above audit (points)"], row["AutoAttack standard n"]))
    return flags, row
