"""The field's standard robustness number: AutoAttack "standard" (Croce and Hein, ICML 2020,
"Reliable evaluation of adversarial robustness with an ensemble of diverse parameter-free
attacks"), L-inf, as the maintained torchattacks package implements its four attacks, kept per
image like every other evaluation column and summarised under RobustBench's field names.

The ensemble runs as the reference implementation (fra31/auto-attack, ``version='standard'``)
runs it: only the images the model classifies correctly are attacked, first by APGD-CE, then the
survivors by APGD-T (DLR loss, the 9 most likely other classes as targets), FAB-T (the same
targets) and Square (5,000 queries); an image is robust only if it is correct clean and survives
all four. The published settings (:data:`PUBLISHED`: 100 iterations, one restart, Square's
``p_init`` 0.8) are set explicitly, because ``torchattacks.AutoAttack(version='standard')`` leaves
APGD, APGD-T and FAB at its classes' default of 10 iterations.

torchattacks is a peer, not a dependency of ``aad_lib`` (it pins an old ``requests``): ``make
setup`` installs it without its dependencies; without it :func:`torchattacks_module` says how.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from .attacks import model_mode
from .intervals import wilson_interval
from .losses import pair_distances, true_class_confidence
from .validation import AadError, check_count, check_eps, check_images, check_labels

COLUMN = "AutoAttack"  # the records' column (and ``conf:``/``pair:``/``by:`` beside it)
VERSION = "standard"
NORM = "Linf"
ATTACKS = ("APGD-CE", "APGD-T", "FAB-T", "Square")  # in the order they run
PACKAGE = "torchattacks"
MIN_CLASSES = 4  # the DLR loss of APGD-T compares the largest logit with the third and fourth
INSTALL = "`.venv/bin/python -m pip install --no-deps torchattacks==3.5.1` (make setup does this)"


@dataclass(frozen=True)
class Settings:
    """The budget of AutoAttack's four attacks (Croce and Hein 2020, Sec. 4); the defaults are its ``standard`` version.

    :data:`PUBLISHED` is ``Settings()``, the budget of the reference implementation's
    ``version='standard'`` (fra31/auto-attack); anything else is for tests and is named in the summary.

    Arguments:
        steps (int): iterations of APGD-CE, of APGD-T and of FAB-T per target class, >= 1. Default: 100.
        restarts (int): restarts of each attack, >= 1. Default: 1.
        targets (int): target classes of APGD-T and FAB-T (capped at the model's classes - 1), >= 1. Default: 9.
        queries (int): Square's query budget, >= 1. Default: 5000.
        p_init (float): Square's initial share of changed pixels, in (0, 1]. Default: 0.8.

    Examples:
        >>> from aad_lib.autoattack import PUBLISHED, Settings
        >>> PUBLISHED.steps, PUBLISHED.targets, PUBLISHED.queries
        (100, 9, 5000)
        >>> Settings(steps=0)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        aad_lib.validation.AadError: AutoAttack steps must be ...
    """

    steps: int = 100
    restarts: int = 1
    targets: int = 9
    queries: int = 5000
    p_init: float = 0.8

    def __post_init__(self) -> None:
        for name in ("steps", "restarts", "targets", "queries"):
            check_count(getattr(self, name), f"AutoAttack {name}", 1)
        if not 0 < self.p_init <= 1:
            raise AadError(f"AutoAttack p_init must lie in (0, 1], got {self.p_init!r}.")


PUBLISHED = Settings()


def checked_classes(model: nn.Module, x: torch.Tensor, y: torch.Tensor, missing: str) -> int:
    """The checks every torchattacks-driven attack here starts with: ``x`` images in [0, 1], ``y``
    labels of ``x`` within ``model.num_classes``; returns that count, or raises ``missing`` when the
    model does not say it (APGD-T and FAB-T need it).

    Arguments:
        model (nn.Module): the classifier, with a ``num_classes`` attribute.
        x (torch.Tensor): images in [0, 1].
        y (torch.Tensor): their labels.
        missing (str): the error message when ``model.num_classes`` is absent.

    Shape:
        - x: (N, C, H, W), values in [0, 1].
        - y: (N,) int64 class indices.

    Examples:
        >>> import torch
        >>> from aad_lib.autoattack import checked_classes
        >>> model = torch.nn.Linear(4, 3)
        >>> model.num_classes = 3
        >>> checked_classes(model, torch.rand(2, 1, 2, 2), torch.tensor([0, 2]), "needs num_classes")
        3
    """
    check_images(x)
    num_classes = getattr(model, "num_classes", None)
    check_labels(y, x.shape[0], num_classes)
    if num_classes is None:
        raise AadError(missing)
    return num_classes


def torchattacks_module(purpose: str = "AutoAttack") -> ModuleType:
    """The installed torchattacks package, whose attacks AutoAttack (Croce and Hein 2020) runs here; a clear error without it.

    Without the package: an :class:`~aad_lib.validation.AadError` that names ``purpose`` and the
    install command of the Makefile (:data:`INSTALL`).

    Arguments:
        purpose (str): what needs the package, for the message. Default: ``"AutoAttack"``.

    Examples:
        >>> from aad_lib.autoattack import torchattacks_module
        >>> torchattacks_module().__name__
        'torchattacks'
    """
    try:
        import torchattacks
    except ImportError as err:
        raise AadError(f"{purpose} needs the torchattacks package, which is not installed: {INSTALL}.") from err
    return torchattacks


def _suite(ta: ModuleType, model: nn.Module, eps: float, num_classes: int, seed: int,
           settings: Settings) -> list[Any]:
    """torchattacks' four attacks as its ``AutoAttack(version='standard', norm='Linf')`` builds
    them, with ``settings``' budget."""
    targets = min(settings.targets, num_classes - 1)
    common = {"norm": NORM, "eps": eps, "seed": seed, "n_restarts": settings.restarts}
    apgd_t = ta.APGDT(model, steps=settings.steps, n_classes=num_classes, **common)
    fab_t = ta.FAB(model, steps=settings.steps, multi_targeted=True, n_classes=num_classes, **common)
    apgd_t.n_target_classes = fab_t.n_target_classes = targets  # torchattacks sets every other class
    return [ta.APGD(model, steps=settings.steps, loss="ce", **common), apgd_t, fab_t,
            ta.Square(model, n_queries=settings.queries, p_init=settings.p_init, **common)]


def standard_records(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, seed: int = 0,
                     batch_size: int = 500, settings: Settings = PUBLISHED, progress: bool = True) -> pd.DataFrame:
    """Per image, robust or not under AutoAttack ``standard`` at L-inf radius ``eps`` (Croce and Hein 2020, Sec. 4).

    APGD-CE, APGD-T, FAB-T and Square run in turn on the images still classified correctly, with
    the model in eval mode, ``batch_size`` images at a time, every attack seeded with ``seed``.
    Columns: ``Clean`` (correct clean), ``AutoAttack`` (correct clean and under all four attacks),
    ``conf:AutoAttack`` (true-class probability of the adversarial image: the first one that fools
    the model, else the last attack's), ``pair:AutoAttack`` (``||z(x) - z(x')||^2``, the per-image
    ALP term) and ``by:AutoAttack`` (the attack that broke the image; ``Clean`` when it was wrong
    clean, empty when robust). The model's mode, its parameters' ``requires_grad`` and the global
    random state are restored afterwards; the adversarial images are checked to lie in the eps
    ball and in [0, 1].

    Arguments:
        model (nn.Module): classifier returning logits, with a ``num_classes`` attribute (>= 4).
        x (torch.Tensor): images in [0, 1], on the model's device.
        y (torch.Tensor): their labels.
        eps (float): L-inf radius, >= 0 (pixel units).
        seed (int): the seed of every attack's random start. Default: 0.
        batch_size (int): images attacked at a time, >= 1. Default: 500.
        settings (Settings): the attacks' budget. Default: :data:`PUBLISHED` (``standard``).
        progress (bool): show a progress bar (on a terminal only). Default: True.

    Shape:
        - x: (N, C, H, W), values in [0, 1].
        - y: (N,) int64 class indices.
        - returns: a DataFrame of N rows, one per image.

    Examples:
        >>> import torch
        >>> from aad_lib.autoattack import Settings, standard_records
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 4))
        >>> model.num_classes = 4
        >>> x, y = torch.rand(6, 1, 2, 2), torch.tensor([0, 1, 2, 3, 1, 2])
        >>> r = standard_records(model, x, y, 0.1, settings=Settings(steps=2, queries=5), progress=False)
        >>> list(r.columns)
        ['Clean', 'AutoAttack', 'conf:AutoAttack', 'pair:AutoAttack', 'by:AutoAttack']
        >>> bool((r["AutoAttack"] <= r["Clean"]).all()), set(r["by:AutoAttack"]) <= {"", "Clean", "APGD-CE", "APGD-T", "FAB-T", "Square"}
        (True, True)
    """
    from tqdm.auto import tqdm

    num_classes = checked_classes(model, x, y, "AutoAttack needs model.num_classes (APGD-T and FAB-T target the "
                                                 "most likely other classes).")
    eps, batch_size = check_eps(eps), check_count(batch_size, "batch_size", 1)
    if num_classes < MIN_CLASSES:
        raise AadError(f"AutoAttack standard needs at least {MIN_CLASSES} classes (APGD-T's DLR loss reads the "
                       f"{MIN_CLASSES} largest logits); this model has {num_classes}: leave it out of "
                       "evaluate.autoattack.models.")
    ta = torchattacks_module("the AutoAttack evaluation column")
    parts = []
    grads = [p.requires_grad for p in model.parameters()]
    devices = [x.device] if x.device.type == "cuda" else []
    bar = tqdm(total=len(ATTACKS) * -(-x.shape[0] // batch_size), desc="AutoAttack", disable=None if progress else True,
               leave=False)
    try:
        with model_mode(model, "eval"), torch.random.fork_rng(devices=devices):
            model.requires_grad_(False)  # FAB calls backward(): input gradients only, no parameter .grad
            suite = _suite(ta, model, eps, num_classes, seed, settings)
            for start in range(0, x.shape[0], batch_size):
                parts.append(_attack_batch(model, suite, x[start:start + batch_size], y[start:start + batch_size], eps, bar))
    finally:
        bar.close()
        for p, flag in zip(model.parameters(), grads):
            p.requires_grad_(flag)
    return pd.concat(parts, ignore_index=True)


def _attack_batch(model: nn.Module, suite: list[Any], x: torch.Tensor, y: torch.Tensor, eps: float, bar: Any) -> pd.DataFrame:
    with torch.no_grad():
        clean_logits = model(x)
    clean = clean_logits.argmax(1) == y
    robust = clean.clone()
    by = np.where(clean.cpu().numpy(), "", "Clean").astype(object)
    x_adv = x.clone()
    for name, attack in zip(ATTACKS, suite):
        rows = robust.nonzero().squeeze(1)
        if rows.numel():
            adv = attack(x[rows], y[rows]).detach()
            with torch.no_grad():
                fooled = model(adv).argmax(1) != y[rows]
            x_adv[rows] = adv
            robust[rows[fooled]] = False
            by[rows[fooled].cpu().numpy()] = name
        bar.update(1)
        bar.set_postfix(robust=int(robust.sum()))
    if (x_adv - x).abs().amax().item() > eps + 1e-6 or x_adv.min().item() < 0 or x_adv.max().item() > 1:
        raise AadError(f"AutoAttack returned images outside the eps {eps} ball or [0, 1]: the {PACKAGE} installation is "
                       "not the one this column was written for.")
    with torch.no_grad():
        adv_logits = model(x_adv)
    yc, clean_logits, adv_logits = y.cpu(), clean_logits.cpu(), adv_logits.cpu()
    return pd.DataFrame({"Clean": clean.cpu().numpy(), COLUMN: robust.cpu().numpy(),
                         f"conf:{COLUMN}": true_class_confidence(adv_logits, yc).numpy(),
                         f"pair:{COLUMN}": pair_distances(clean_logits, adv_logits).numpy(), f"by:{COLUMN}": by})


def robustbench_summary(records: pd.DataFrame, eps: float, seed: int, settings: Settings = PUBLISHED) -> dict[str, Any]:
    """The AutoAttack entry of an evaluation summary in RobustBench's field names (Croce et al., NeurIPS 2021 Datasets and Benchmarks).

    As ``robustbench.eval.benchmark`` reports them: ``clean_acc`` and ``autoattack_acc`` as fractions in [0, 1] (as ``benchmark`` returns them), on the ``n`` images
    of ``records`` that carry the column (rows where it is empty were not attacked), with the
    95% Wilson interval of ``autoattack_acc``, ``eps``, ``norm``, ``version``, the attacks, their
    ``seed`` and budget, and the package that ran them with its version.

    Arguments:
        records (pd.DataFrame): rows with boolean ``Clean`` and ``AutoAttack`` columns (those of
            :func:`standard_records`, or evaluation records with the column on their first rows).
        eps (float): the radius the column was computed at.
        seed (int): the attacks' seed.
        settings (Settings): the budget it was computed with. Default: :data:`PUBLISHED`.

    Examples:
        >>> import pandas as pd
        >>> from aad_lib.autoattack import robustbench_summary
        >>> records = pd.DataFrame({"Clean": [True, True, False, True], "AutoAttack": [True, False, False, None]})
        >>> s = robustbench_summary(records, 0.3, 0)
        >>> s["n"], round(s["clean_acc"], 3), round(s["autoattack_acc"], 3), s["version"], s["package"]
        (3, 0.667, 0.333, 'standard', 'torchattacks')
    """
    attacked = records[records[COLUMN].notna()]
    n = len(attacked)
    if not n:
        raise AadError(f"no record carries the {COLUMN} column: nothing to summarise.")
    robust = attacked[COLUMN].astype(bool)
    clean = attacked["Clean"].astype(bool)
    if (robust & ~clean).any():
        raise AadError(f"{int((robust & ~clean).sum())} records are robust under {COLUMN} but wrong clean: "
                       "these records were not written by aad_lib.autoattack.")
    k = int(robust.sum())
    lo, hi = wilson_interval(k, n)
    return {"clean_acc": int(clean.sum()) / n, "autoattack_acc": k / n, "ci_low": lo, "ci_high": hi, "n": n,
            "eps": eps, "norm": NORM, "version": VERSION, "attacks": list(ATTACKS), "seed": seed,
            "settings": dataclasses.asdict(settings), "package": PACKAGE,
            "package_version": torchattacks_module("the AutoAttack summary").__version__}
