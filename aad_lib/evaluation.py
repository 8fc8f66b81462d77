"""The AALP paper's robustness table (Table 2): Clean, FGSM, PGD-10/20/40/100, CW-10/20/40/100.

Every number is kept per sample (so later analyses can split consistent/inconsistent samples)
and reported with its sample count and a 95% Wilson interval. PGD-k columns share one random
start and step size, so they are read off one PGD-max(k) trajectory (likewise CW); this gives
exactly the numbers of separate runs from the same start, for the cost of the longest.

Robust accuracy follows AutoAttack's convention (``stop_when_fooled``, the default): an image is
robust at PGD-k only if the model classifies it correctly clean and at every point of the first k
steps; the first misclassified point is its adversarial example (its ``conf:``/``pair:`` values)
and the attack spends no more gradient passes on it. ``stop_when_fooled: false`` gives the
last-iterate numbers of torchattacks/ART at the full cost.
"""
from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch
from torch import nn

from .attacks import fgsm, pgd_trajectory
from .attacks.columns import Column
from .attacks.starts import ball_start
from .eval_config import EvalConfig
from .losses import pair_distances, true_class_confidence
from .runtime import derive_seed, generator
from .intervals import wilson_interval
from .validation import AadError, check_images, check_labels


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, cfg: EvalConfig | None = None,
             progress: bool = True) -> pd.DataFrame:
    """Per-sample records of the AALP paper's robustness table (Table 2), with the model in eval mode.

    FGSM (Goodfellow et al., ICLR 2015), PGD-k on the cross-entropy and CW-k on the CW margin
    (Madry et al., ICLR 2018; Carlini and Wagner, IEEE S&P 2017) at ``cfg``'s budget; the PGD-k
    (and CW-k) columns are read off one trajectory of max(k) steps, seeded from ``cfg.seed``, with
    AutoAttack's robust-accuracy convention unless ``cfg.stop_when_fooled`` is False (module
    docstring). The model is attacked in eval mode on its own device, ``cfg.batch_size`` images
    at a time, and left in the mode it was in. Columns:

    - ``index``, ``label``, ``confidence`` (clean true-class softmax probability);
    - one boolean column per attack of :meth:`EvalConfig.columns` ("still classified correctly");
    - ``conf:<attack>``: the adversarial image's true-class probability, and ``pair:<attack>``:
      ``||z(x) - z(x')||^2``, the per-sample ALP term (AALP paper, Table 1 and Fig. 11 use both).

    Arguments:
        model (nn.Module): classifier returning logits.
        x (torch.Tensor): test images in [0, 1].
        y (torch.Tensor): their true labels.
        cfg (EvalConfig | None): the attack budget and columns; None: ``EvalConfig()``, the AALP
            paper's MNIST protocol. Default: None.
        progress (bool): show a progress bar (on a terminal only). Default: True.

    Shape:
        - x: (N, C, H, W), values in [0, 1].
        - y: (N,) int64 class indices.
        - returns: a DataFrame of N rows, one per image.

    Examples:
        >>> import torch
        >>> from aad_lib.eval_config import EvalConfig
        >>> from aad_lib.evaluation import evaluate
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
        >>> x, y = torch.rand(6, 1, 2, 2), torch.tensor([0, 1, 2, 0, 1, 2])
        >>> cfg = EvalConfig(eps=0.1, alpha=0.05, pgd_steps=[1, 2], cw_steps=[2], batch_size=4)
        >>> records = evaluate(model, x, y, cfg, progress=False)
        >>> len(records), list(records.columns[:8])
        (6, ['index', 'label', 'confidence', 'Clean', 'FGSM', 'PGD-1', 'PGD-2', 'CW-2'])
        >>> list(records.columns[8:])
        ['conf:FGSM', 'conf:PGD-1', 'conf:PGD-2', 'conf:CW-2',
         'pair:FGSM', 'pair:PGD-1', 'pair:PGD-2', 'pair:CW-2']
        >>> clean, pgd1, pgd2 = records["Clean"], records["PGD-1"], records["PGD-2"]
        >>> bool((pgd1 <= clean).all() and (pgd2 <= pgd1).all())  # AutoAttack's convention
        True
    """
    from tqdm.auto import tqdm

    cfg = cfg or EvalConfig()
    check_images(x)
    check_labels(y, x.shape[0], getattr(model, "num_classes", None))
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    g_pgd = generator(derive_seed(cfg.seed, "pgd"), device)
    g_cw = generator(derive_seed(cfg.seed, "cw"), device)
    parts: list[pd.DataFrame] = []
    try:
        for start in tqdm(range(0, x.shape[0], cfg.batch_size), desc="evaluate", disable=None if progress else True, leave=False):  # bars on a TTY only
            xb = x[start:start + cfg.batch_size].to(device)
            yb = y[start:start + cfg.batch_size].to(device)
            clean, attacked = _attacked_logits(model, xb, yb, cfg, g_pgd, g_cw)
            parts.append(_records(clean, attacked, yb.cpu(), start))
    finally:
        model.train(was_training)
    return pd.concat(parts, ignore_index=True)[_record_columns(cfg)]


def evaluate_models(models: Sequence[nn.Module], x: torch.Tensor, y: torch.Tensor, cfg: EvalConfig | None = None,
                    progress: bool = True) -> list[pd.DataFrame]:
    """:func:`evaluate` of several models of one architecture as one computation, each model's records as its own call's.

    Each model's records are those of its own :func:`evaluate` call up to floating-point rounding.
    The models are stacked (:class:`aad_lib.training.stack.ModelStack`, one vmapped forward) and
    every image is attacked once per model in one batch. Each attack starts where the separate
    run would: one random start per image from the same generator (``cfg.seed``), shared by the
    models, as every model's separate run draws the same one. With ``cfg.stop_when_fooled`` the
    settled rows are masked, never dropped (a row must stay with its model), which changes no
    result. What differs from separate runs is the stacked forward's floating-point rounding (a
    batched matrix product instead of one per model): logits agree to about 1e-6, so a record can
    differ only for an image that sits on a decision boundary or a gradient component that is
    zero to rounding. On a CPU the stack is slower than the models one after another
    (:func:`aad_lib.training.batched.stacking_pays`); it is for GPUs, where a small model's step
    is bound by kernel launches that the stack shares.

    Arguments:
        models (Sequence[nn.Module]): classifiers of one architecture (equal ``state_dict`` keys and
            shapes) on one device, returning logits; each is left in the mode it was in.
        x (torch.Tensor): test images in [0, 1].
        y (torch.Tensor): their true labels.
        cfg (EvalConfig | None): the attack budget and columns; None: ``EvalConfig()``. Default: None.
        progress (bool): show a progress bar (on a terminal only). Default: True.

    Shape:
        - x: (N, C, H, W), values in [0, 1].
        - y: (N,) int64 class indices.
        - returns: one DataFrame of N rows per model, in the order of ``models``, with the columns
          of :func:`evaluate`.

    Examples:
        >>> import torch
        >>> from aad_lib.eval_config import EvalConfig
        >>> from aad_lib.evaluation import evaluate, evaluate_models
        >>> models = [torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3)) for _ in range(2)]
        >>> x, y = torch.rand(6, 1, 2, 2), torch.tensor([0, 1, 2, 0, 1, 2])
        >>> cfg = EvalConfig(eps=0.1, alpha=0.05, pgd_steps=[1, 2], cw_steps=[2], batch_size=4)
        >>> both = evaluate_models(models, x, y, cfg, progress=False)
        >>> alone = evaluate(models[1], x, y, cfg, progress=False)
        >>> len(both), bool((both[1]["PGD-2"] == alone["PGD-2"]).all())
        (2, True)
    """
    from tqdm.auto import tqdm

    from .training.stack import ModelStack, rows_of

    models = list(models)
    if len(models) == 1:
        return [evaluate(models[0], x, y, cfg, progress)]
    cfg = cfg or EvalConfig()
    check_images(x)
    for model in models:
        check_labels(y, x.shape[0], getattr(model, "num_classes", None))
    devices = {next(m.parameters()).device for m in models}
    if len(devices) > 1:
        raise AadError(f"the models to evaluate together are on different devices ({', '.join(map(str, devices))}).")
    device = devices.pop()
    count = len(models)
    modes = [m.training for m in models]
    try:  # torch.func stacks models of one mode; the stack holds copies of the weights
        stack = ModelStack([m.eval() for m in models]).eval()
    finally:
        for model, training in zip(models, modes):
            model.train(training)
    g_pgd = generator(derive_seed(cfg.seed, "pgd"), device)
    g_cw = generator(derive_seed(cfg.seed, "cw"), device)
    parts: list[list[pd.DataFrame]] = [[] for _ in models]
    for start in tqdm(range(0, x.shape[0], cfg.batch_size), desc=f"evaluate {count} models",
                      disable=None if progress else True, leave=False):  # bars on a TTY only
        xb = x[start:start + cfg.batch_size].to(device)
        yb = y[start:start + cfg.batch_size].to(device)
        clean, attacked = _attacked_logits(stack, xb, yb, cfg, g_pgd, g_cw, copies=count)
        for k in range(count):
            parts[k].append(_records(rows_of(clean, k, count), {name: rows_of(z, k, count) for name, z in attacked.items()},
                                     yb.cpu(), start))
    return [pd.concat(p, ignore_index=True)[_record_columns(cfg)] for p in parts]


def _attacked_logits(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor, cfg: EvalConfig, g_pgd: torch.Generator,
                     g_cw: torch.Generator, copies: int = 1) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The clean logits of one batch and its logits under every attack of ``cfg`` (on the CPU). With
    ``copies`` > 1 ``model`` is a stack of that many models: every image is repeated once per model
    (row i is model i % copies's) and each attack starts from one random start per image, the draw
    each model's own run makes."""
    rows, labels = (xb, yb) if copies == 1 else (xb.repeat_interleave(copies, 0), yb.repeat_interleave(copies, 0))
    with torch.no_grad():
        clean = model(rows).cpu()
        attacked = {"FGSM": model(fgsm(model, rows, labels, cfg.eps, stop_when_fooled=cfg.stop_when_fooled)).cpu()}
    for loss, steps, gen in (("ce", cfg.pgd_steps, g_pgd), ("cw", cfg.cw_steps, g_cw)):
        if not steps:
            continue
        start = None  # one model: pgd_trajectory draws it
        if copies > 1 and cfg.random_start and cfg.eps > 0:
            start = ball_start(xb, cfg.eps, "linf", gen).repeat_interleave(copies, 0)
        logits, _ = pgd_trajectory(model, rows, labels, cfg.eps, cfg.alpha, steps, cfg.random_start, loss=loss,
                                   kappa=cfg.kappa, generator=gen, stop_when_fooled=cfg.stop_when_fooled, start=start)
        attacked.update({str(Column("PGD" if loss == "ce" else "CW", k)): v for k, v in logits.items()})
    return clean, attacked


def _record_columns(cfg: EvalConfig) -> list[str]:
    """The records' columns in their order: index, label, clean confidence, one verdict per column,
    then ``conf:`` and ``pair:`` per attack."""
    attacks = cfg.columns()[1:]
    return ["index", "label", "confidence", *cfg.columns(), *[f"conf:{a}" for a in attacks], *[f"pair:{a}" for a in attacks]]


def _records(clean: torch.Tensor, attacked: dict[str, torch.Tensor], y: torch.Tensor, start: int) -> pd.DataFrame:
    columns: dict[str, object] = {"index": range(start, start + len(y)), "label": y.numpy(),
                                  "confidence": true_class_confidence(clean, y).numpy(),
                                  "Clean": (clean.argmax(1) == y).numpy()}
    for name, z in attacked.items():
        columns[name] = (z.argmax(1) == y).numpy()
        columns[f"conf:{name}"] = true_class_confidence(z, y).numpy()
        columns[f"pair:{name}"] = pair_distances(clean, z).numpy()
    return pd.DataFrame(columns)


def summarize(records: pd.DataFrame, columns: list[str]) -> dict[str, dict[str, float]]:
    """Accuracy, sample count and 95% Wilson interval (Wilson, JASA 1927) per column of the robustness table.

    Fractions in [0, 1]; the interval is :func:`aad_lib.intervals.wilson_interval`. Returns
    ``{column: {"accuracy", "n", "ci_low", "ci_high"}}``.

    Arguments:
        records (pd.DataFrame): per-sample records with one boolean column per attack (those of
            :func:`evaluate`), at least one row.
        columns (list[str]): the columns to summarise.

    Examples:
        >>> import pandas as pd
        >>> from aad_lib.evaluation import summarize
        >>> records = pd.DataFrame({"Clean": [True, True, True, False], "FGSM": [True, False, False, False]})
        >>> s = summarize(records, ["Clean", "FGSM"])
        >>> clean = s["Clean"]
        >>> clean["accuracy"], clean["n"], round(clean["ci_low"], 3), round(clean["ci_high"], 3)
        (0.75, 4, 0.301, 0.954)
        >>> s["FGSM"]["accuracy"]
        0.25
    """
    out = {}
    n = len(records)
    for col in columns:
        k = int(records[col].sum())
        lo, hi = wilson_interval(k, n)
        out[col] = {"accuracy": k / n, "n": n, "ci_low": lo, "ci_high": hi}
    return out
