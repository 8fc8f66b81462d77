"""The measurements of notebook 05 as functions of a classifier, images and defenses: what each
defense does to image quality and clean accuracy, the grey-box table the papers report, the same
attacks made adaptive (BPDA/EOT, :mod:`aad_lib.defenses.adaptive`), the gap, and the attention of
flipped adversarial images (the WebP + flip authors' argument).

Counting. An image is *robust* to a defense under an attack when the defended classifier labels
both the clean image and the attack's image correctly. For a random defense (ComDefend's test
noise) that is measured ``draws`` times with fresh noise and the per-image value is the share of
draws where it held; a table cell is the mean over images (expected accuracy), and its Wilson
interval treats the rounded count as binomial.

Grey-box images are the attack's *last iterate* on the undefended classifier (the papers run a
fixed number of steps and hand the result to the defense). Adaptive attacks stop at the first
point that fools the defended pipeline (the robust-accuracy convention of the evaluation stage):
a defense is attacked on exactly what it outputs.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from ...attacks import bim, deepfool, fgsm, pgd
from ...attacks.columns import Column, names
from ...attacks.context import model_mode
from ...attacks.settings import AttackSettings
from ...attention import gradcam
from ...attention.metrics import deviation_iou
from ...crosscheck import robust_under_all
from ...intervals import wilson_interval
from ...integrity import Flag, audit, transfer_beats_whitebox, zero_or_nonfinite_gradients
from ...params import Params
from ...run_bootstrap import two_level_difference
from ...runtime import derive_seed, generator
from ...validation import AadError, check_count
from ...defenses.adaptive import Defense, adaptive, deployed, eot_samples, is_random, label
from ...defenses.comdefend import ComDefend
from ...defenses.quality import psnr, ssim
from ...defenses.transforms import encoded_bytes, hflip, make


@dataclass(frozen=True)
class CompressionAttacks:
    """The attacks of both tables (``compression`` params): L-inf FGSM, BIM-``bim_steps``, PGD and CW
    with the budget ``attack`` (eps, step, steps, CW kappa), and L2 DeepFool (minimal perturbation,
    no eps: ``overshoot``, at most ``max_iter`` steps)."""

    attack: AttackSettings
    bim_steps: int
    overshoot: float
    max_iter: int

    @classmethod
    def from_params(cls, params: Params) -> CompressionAttacks:
        c = params.compression
        return cls(AttackSettings(c.eps, c.alpha, c.steps, kappa=params.evaluate.kappa), c.bim_steps,
                   c.deepfool.overshoot, c.deepfool.max_iter)

    @property
    def eps(self) -> float:
        return self.attack.eps

    def columns(self) -> list[str]:
        return names([Column("FGSM"), Column("BIM", self.bim_steps), Column("PGD", self.attack.steps),
                      Column("CW", self.attack.steps), Column("DeepFool")])

    def bounded(self) -> list[str]:
        """The columns with an eps ball (all but DeepFool): the worst case of a defense is over these."""
        return self.columns()[:4]


def defense_suite(params: Params, purifiers: dict[str, ComDefend]) -> dict[str, Defense]:
    """label -> defense in table order: no defense, the ``compression.defenses`` transforms, then
    the trained ComDefend variants (``purifiers``: variant -> model)."""
    suite: dict[str, Defense] = {"no defense": make("none")}
    for spec in params.compression.defenses:
        t = make(**spec)
        suite[t.label] = t
    for purifier in purifiers.values():
        suite[label(purifier)] = purifier
    return suite


def attack(column: str, model: nn.Module, x: torch.Tensor, y: torch.Tensor, s: CompressionAttacks, seed: int, *,
           adaptive_run: bool = False, eot: int = 1) -> torch.Tensor:
    """The images of one table column. Grey-box (``adaptive_run=False``): the last iterate on
    ``model`` (the classifier). Adaptive: first fooling point on ``model`` (the adaptive defended
    model), ``eot`` gradients per step (DeepFool linearises one pass and takes none)."""
    kind = Column.parse(column).kind
    stop = adaptive_run
    a = s.attack
    if kind == "FGSM":
        return fgsm(model, x, y, a.eps, stop_when_fooled=stop, eot_samples=eot)
    if kind == "BIM":
        return bim(model, x, y, a.eps, steps=s.bim_steps, stop_when_fooled=stop, eot_samples=eot)
    if kind in ("PGD", "CW"):
        return pgd(model, x, y, a.eps, a.alpha, a.steps, loss="ce" if kind == "PGD" else "cw", kappa=a.kappa,
                   generator=generator(derive_seed(seed, column), x.device), stop_when_fooled=stop, eot_samples=eot)
    if kind == "DeepFool":  # the reference code's 10 candidate classes, or all of them when there are fewer
        with torch.no_grad(), model_mode(model, "eval"):
            classes = model(x[:1]).shape[1]
        return deepfool(model, x, y, num_candidates=min(10, classes), overshoot=s.overshoot, max_iter=s.max_iter)
    raise AadError(f"unknown attack column {column!r}; valid: {s.columns()}.")


def correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor, draws: int = 1, seed: int = 0,
            batch_size: int = 500) -> torch.Tensor:
    """Per draw and image, whether ``model`` labels the image correctly: a (draws, N) float CPU
    tensor of 0/1. Draw d seeds the global generator with ``derive_seed(seed, "draw", d)`` first,
    so the noise of a random defense is fresh per draw and the same on every run (a deterministic
    model gives identical rows)."""
    check_count(draws, "draws", 1)
    hits = torch.zeros(draws, x.shape[0])
    with torch.no_grad(), model_mode(model, "eval"):
        for d in range(draws):
            torch.manual_seed(derive_seed(seed, "draw", d))
            for i in range(0, x.shape[0], batch_size):
                hits[d, i:i + batch_size] = (model(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).float().cpu()
    return hits


def robust(clean: torch.Tensor, adversarial: torch.Tensor) -> torch.Tensor:
    """Per image, the share of draws in which both the clean and the adversarial image were labelled
    correctly (:func:`correct` results; the two passes of a draw use independent noise)."""
    return (clean * adversarial).mean(dim=0)


def _records(model: nn.Module, x: torch.Tensor, y: torch.Tensor, adversarial: dict[str, torch.Tensor],
             draws: int, seed: int) -> pd.DataFrame:
    clean = correct(model, x, y, draws, seed)
    row = {"Clean": clean.mean(dim=0)}
    row.update({c: robust(clean, correct(model, a, y, draws, derive_seed(seed, c))) for c, a in adversarial.items()})
    return pd.DataFrame({k: v.numpy() for k, v in row.items()})


def greybox_records(model: nn.Module, x: torch.Tensor, y: torch.Tensor, defenses: dict[str, Defense],
                    s: CompressionAttacks, draws: int = 1, seed: int = 0,
                    progress: Callable[[str], None] | None = None) -> tuple[dict[str, pd.DataFrame], dict[str, torch.Tensor]]:
    """The papers' protocol: each attack computed once on the classifier, then every defense
    applied. Returns (label -> per-image records with ``Clean`` and one column per attack, the
    adversarial images per column)."""
    adversarial = {}
    for column in s.columns():
        if progress:
            progress(f"grey-box {column}")
        adversarial[column] = attack(column, model, x, y, s, seed)
    records = {name: _records(deployed(model, d), x, y, adversarial, draws if is_random(d) else 1, seed)
               for name, d in defenses.items()}
    return records, adversarial


def adaptive_records(model: nn.Module, x: torch.Tensor, y: torch.Tensor, defenses: dict[str, Defense],
                     s: CompressionAttacks, eot: int = 8, draws: int = 1, seed: int = 0,
                     progress: Callable[[str], None] | None = None) -> tuple[dict[str, pd.DataFrame], dict[str, dict[str, torch.Tensor]]]:
    """White-box attacks on each defended pipeline (BPDA where it is not differentiable, EOT with
    ``eot`` gradients where it is random), scored on the deployed defense: the eps-bounded columns
    only (DeepFool, unbounded, ends wherever the label flips, so its white-box version says nothing
    about a defense; it stays in the grey-box table, where Yin et al. (WebP + flip) used it). Returns
    (label -> per-image records as :func:`greybox_records`, label -> column -> adversarial images)."""
    records, images = {}, {}
    for name, defense in defenses.items():
        target, k = adaptive(model, defense), eot_samples(defense, eot)
        images[name] = {}
        for column in s.bounded():
            if progress:
                progress(f"adaptive {column} on {name}")
            torch.manual_seed(derive_seed(seed, "attack", name, column))  # the noise the attacker sees
            images[name][column] = attack(column, target, x, y, s, seed, adaptive_run=True, eot=k)
        records[name] = _records(deployed(model, defense), x, y, images[name], draws if is_random(defense) else 1, seed)
    return records, images


def accuracy_table(records: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Percent robust per defense (rows) and column."""
    return pd.DataFrame({name: 100 * r.mean() for name, r in records.items()}).T


def uncertainty_table(records: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Each cell as ``acc [low, high]``: the 95% Wilson interval over the n images."""
    out = {}
    for name, r in records.items():
        n = len(r)
        cells = {}
        for column in r.columns:
            lo, hi = wilson_interval(int(round(float(r[column].sum()))), n)
            cells[column] = f"{100 * r[column].mean():.1f} [{100 * lo:.1f}, {100 * hi:.1f}]"
        out[name] = cells
    return pd.DataFrame(out).T


def worst_case(records: pd.DataFrame, columns: list[str]) -> pd.Series:
    """Per image, robust to every one of ``columns`` (the minimum over them)."""
    return records[columns].min(axis=1)


def side_by_side(grey: dict[str, pd.DataFrame], adapt: dict[str, pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    """Per defense: grey-box and adaptive accuracy per column, their gap (grey-box minus adaptive,
    points) and the worst case over ``columns`` under each protocol."""
    rows = {}
    for name in grey:
        g, a = grey[name], adapt[name]
        row = {"Clean": 100 * g["Clean"].mean()}
        for c in columns:
            row[f"{c} grey-box"] = 100 * g[c].mean()
            row[f"{c} adaptive"] = 100 * a[c].mean()
            row[f"{c} gap"] = row[f"{c} grey-box"] - row[f"{c} adaptive"]
        row["worst grey-box"] = 100 * worst_case(g, columns).mean()
        row["worst adaptive"] = 100 * worst_case(a, columns).mean()
        row["worst gap"] = row["worst grey-box"] - row["worst adaptive"]
        rows[name] = row
    return pd.DataFrame(rows).T


def verdicts(grey: dict[str, pd.DataFrame], adapt: dict[str, pd.DataFrame], columns: list[str],
             baseline: str = "no defense") -> pd.DataFrame:
    """Which defenses add robustness under which protocol. A defense *helps* under a protocol
    when its worst-case accuracy over ``columns`` has a 95% Wilson interval entirely above the
    undefended classifier's under the same protocol. Verdict: ``survives adaptive attacks``
    (helps under both), ``holds only against the grey-box protocol`` (helps grey-box, not
    adaptive), ``does not help`` (neither). The baseline's worst cases close every row, so that
    each row reads alone (the report's verdict index compares the two intervals)."""
    def interval(r: pd.DataFrame) -> tuple[float, float, float]:
        w = worst_case(r, columns)
        lo, hi = wilson_interval(int(round(float(w.sum()))), len(w))
        return 100 * w.mean(), 100 * lo, 100 * hi

    if baseline not in grey:
        raise AadError(f"the baseline {baseline!r} is not among the defenses {list(grey)}.")
    base = {"grey-box": interval(grey[baseline]), "adaptive": interval(adapt[baseline])}
    rows = {}
    for name in grey:
        if name == baseline:
            continue
        row: dict[str, Any] = {}
        helps = {}
        for protocol, r in (("grey-box", grey[name]), ("adaptive", adapt[name])):
            acc, lo, hi = interval(r)
            row[f"worst {protocol}"] = f"{acc:.1f} [{lo:.1f}, {hi:.1f}]"
            helps[protocol] = lo > base[protocol][2]
        row["verdict"] = ("survives adaptive attacks" if helps["adaptive"] else
                          "holds only against the grey-box protocol" if helps["grey-box"] else "does not help")
        for protocol, (acc, lo, hi) in base.items():
            row[f"{baseline} worst {protocol}"] = f"{acc:.1f} [{lo:.1f}, {hi:.1f}]"
        rows[name] = row
    return pd.DataFrame(rows).T


def greybox_runs(runs: list[tuple[nn.Module, dict[str, ComDefend]]], params: Params, x: torch.Tensor,
                 y: torch.Tensor, s: CompressionAttacks, draws: int = 1, seed: int = 0,
                 progress: Callable[[str], None] | None = None) -> dict[str, list[pd.DataFrame]]:
    """The grey-box protocol once per training run: run r is a classifier and the ComDefend purifiers
    trained with its seed (``runs``: (classifier, variant -> purifier) per run), every defense of
    :func:`defense_suite`, the same images and attack seed. Returns label -> the per-image records
    of :func:`greybox_records`, one table per run (a random defense's cells: the share of ``draws``
    noise draws, so its test-time noise is inside every image's value)."""
    found: dict[str, list[pd.DataFrame]] = {}
    for r, (classifier, purifiers) in enumerate(runs):
        if progress:
            progress(f"grey-box, training run {r + 1} of {len(runs)}")
        records, _ = greybox_records(classifier, x, y, defense_suite(params, purifiers), s, draws, seed)
        for name, table in records.items():
            found.setdefault(name, []).append(table)
    return found


def worst_case_differences(runs: dict[str, list[pd.DataFrame]], columns: list[str], baseline: str = "no defense",
                           n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Per defense, its worst-case accuracy over ``columns`` minus the undefended classifier's (points),
    from :func:`greybox_runs`' records: mean over runs, and the 95% two-level bootstrap interval over
    training runs and images (:func:`aad_lib.run_bootstrap.two_level_difference`; run r of the
    defense is paired with run r of the baseline only through the shared images). Columns: both
    worst cases, ``difference``, ``ci_low``, ``ci_high``, ``p_value``, ``n``, ``seeds_a`` (the
    defense's runs), ``seeds_b`` (the baseline's)."""
    if baseline not in runs:
        raise AadError(f"the baseline {baseline!r} is not among the defenses {list(runs)}.")

    worst = {name: np.stack([worst_case(r, columns).to_numpy(dtype=float) for r in found])
             for name, found in runs.items()}
    base = worst[baseline]
    return pd.DataFrame({name: {"worst grey-box": 100 * w.mean(), f"{baseline} worst grey-box": 100 * base.mean(),
                                **two_level_difference(w, base, n_boot, seed).scaled(100).as_row()}
                         for name, w in worst.items() if name != baseline}).T


def audit_defenses(model: nn.Module, x: torch.Tensor, y: torch.Tensor, defenses: dict[str, Defense],
                   adapt: dict[str, pd.DataFrame], grey: dict[str, pd.DataFrame], s: CompressionAttacks, *,
                   checks_steps: int = 10, autoattack_steps: int = 100, seed: int = 0, targeted: bool = False
                   ) -> tuple[dict[str, list[Flag]], pd.DataFrame, pd.DataFrame]:
    """The integrity audit of every row of the adaptive table, on the first ``len(y)`` images: on
    the *adaptive* model, the four gradient-masking checks and the AutoAttack cross-check against
    our adaptive PGD & CW (:func:`aad_lib.integrity.audit`: APGD-CE, then with ``targeted``
    APGD-T, whose nine targeted runs per survivor through a codec or ComDefend cost about ten
    times APGD-CE on a CPU); whether the grey-box images (a transfer attack) beat the adaptive
    attack; and, on the *deployed* model, the share of images with no input gradient at all (what
    a naive white-box attack meets: gradient masking).
    A random defense's image counts as robust when it held in at least half the draws.
    Returns (label -> flags, the cross-check table, the checks table)."""
    n = len(y)
    ours = [c for c in s.bounded() if Column.parse(c).kind in ("PGD", "CW")]
    flags, rows, checks = {}, {}, []
    for name, defense in defenses.items():
        evaluated = (adapt[name] >= 0.5).iloc[:n]
        f, rows[name] = audit(adaptive(model, defense), x, y, evaluated, ours, s.attack.with_steps(checks_steps),
                              autoattack_steps, seed, targeted)
        whitebox = torch.tensor(robust_under_all(evaluated, ours, n))
        transfer = torch.tensor((grey[name][ours] >= 0.5).iloc[:n].all(axis=1).to_numpy())
        f.append(transfer_beats_whitebox(whitebox, transfer))
        naive = zero_or_nonfinite_gradients(deployed(model, defense), x, y)
        naive.check = "deployed pipeline: " + naive.check
        naive.raised = False  # expected for a codec; shown, not held against the BPDA numbers
        naive.meaning = "what a naive white-box attack sees (no BPDA): shown for reference, not a flag"
        flags[name] = f
        checks += [{"defense": name, "check": g.check, "value": g.value, "threshold": g.threshold,
                    "raised": g.raised, "if raised": g.meaning} for g in [*f, naive]]
    return flags, pd.DataFrame(rows).T, pd.DataFrame(checks).set_index(["defense", "check"])


def deepfool_norms(x: torch.Tensor, x_adv: torch.Tensor) -> torch.Tensor:
    """Per image, the L2 size of the DeepFool perturbation (pixels in [0, 1])."""
    return (x_adv - x).flatten(1).norm(dim=1).cpu()


# ---------------------------------------------------------------- part 1: quality

def quality_row(model: nn.Module, x: torch.Tensor, y: torch.Tensor, defense: Defense,
                x_adv: torch.Tensor | None = None, draws: int = 1, seed: int = 0) -> dict[str, float]:
    """What one defense does to the clean images: mean PSNR and SSIM of ``defense(x)`` against
    ``x``, clean accuracy of the defended classifier and, with ``x_adv``, its grey-box accuracy
    there (percent)."""
    m = deployed(model, defense)
    torch.manual_seed(derive_seed(seed, "quality"))
    with torch.no_grad():
        out = m.transform(x)
    row = {"PSNR (dB)": psnr(out, x).mean().item(), "SSIM": ssim(out, x).mean().item()}
    r = _records(m, x, y, {} if x_adv is None else {"grey-box accuracy": x_adv}, draws if is_random(defense) else 1, seed)
    row["clean accuracy"] = 100 * r["Clean"].mean()
    if x_adv is not None:
        row["grey-box accuracy"] = 100 * r["grey-box accuracy"].mean()
    return row


def quality_sweep(model: nn.Module, x: torch.Tensor, y: torch.Tensor, codecs: list[str], qualities: list[int],
                  x_adv: torch.Tensor | None = None) -> pd.DataFrame:
    """Part 1: per codec pipeline (``webp``, ``jpeg``, ``flip+webp``, ``webp+flip``) and quality,
    :func:`quality_row` plus the mean encoded size in bytes (of the image the codec sees)."""
    rows = []
    for codec in codecs:
        for q in qualities:
            t = make(codec, quality=q)
            row = {"codec": codec, "quality": q, **quality_row(model, x, y, t, x_adv)}
            seen = hflip(x) if codec == "flip+webp" else x
            row["bytes"] = encoded_bytes(seen, "jpeg" if codec == "jpeg" else "webp", q).float().mean().item()
            rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- part 4: attention and the flip

def flip_attention(model: nn.Module, x: torch.Tensor, y: torch.Tensor, x_adv: torch.Tensor,
                   fraction: float = 0.125) -> pd.DataFrame:
    """The WebP + flip authors' argument, measured: per image, the true-class Grad-CAM IoU (top
    ``fraction`` of cells, as ARP's deviation) between the clean image and (a) the adversarial
    image, (b) the flipped adversarial image, its map flipped back so the cells align; and whether
    the classifier labels (a) and (b) correctly. If the flip restored attention, (b) would be
    closer to the clean map than (a)."""
    clean = gradcam(model, x, y)
    adv = gradcam(model, x_adv, y)
    flipped = gradcam(model, hflip(x_adv), y).flip(-1)
    flipped_clean = gradcam(model, hflip(x), y).flip(-1)
    with torch.no_grad(), model_mode(model, "eval"):
        ok_adv = model(x_adv).argmax(1) == y
        ok_flip = model(hflip(x_adv)).argmax(1) == y
    return pd.DataFrame({
        "IoU clean vs adversarial": deviation_iou(clean, adv, fraction).cpu().numpy(),
        "IoU clean vs flipped adversarial": deviation_iou(clean, flipped, fraction).cpu().numpy(),
        "IoU clean vs flipped clean": deviation_iou(clean, flipped_clean, fraction).cpu().numpy(),
        "correct on adversarial": ok_adv.cpu().numpy(),
        "correct on flipped adversarial": ok_flip.cpu().numpy(),
    })


def code_stability(purifier: ComDefend, x: torch.Tensor, draws: int = 8, seed: int = 0) -> float:
    """How random ComDefend's test-time purification is: the mean share of code bits that differ
    from the first draw, over ``draws - 1`` more draws of the test noise."""
    check_count(draws, "draws", 2)
    with torch.no_grad():
        code = purifier.encode(x)
        bits = [purifier.binarize(code, False, generator(derive_seed(seed, "bits", d), x.device)) for d in range(draws)]
    return float(torch.stack([(b != bits[0]).float().mean() for b in bits[1:]]).mean())


def code_margins(classifier: nn.Module, purifier: ComDefend, x: torch.Tensor, y: torch.Tensor, x_adv: torch.Tensor,
                 draws: int = 1, seed: int = 0, sigmas: tuple[float, ...] = (0.0, 20.0)) -> dict[str, float]:
    """How close ComDefend's code sits to its threshold, and what that does to grey-box images
    ``x_adv`` (made on ``classifier``): the share of code logits within 1 and 3 of the threshold
    on ``x`` (what test noise of std ~1 or a small input change flips) and within 1 on ``x_adv``;
    the share of code bits the perturbation flips (same noise draw); how much of the perturbation
    survives purification, ``|purify(x_adv) - purify(x)|`` over ``|x_adv - x|`` (L2, mean over
    images; above 1 the purifier amplifies it); and the grey-box accuracy (percent, ``draws`` noise
    draws) with the trained ``test_sigma`` and with each of ``sigmas`` (the same networks)."""
    with torch.no_grad():
        code, code_adv = purifier.encode(x), purifier.encode(x_adv)
        bits = purifier.binarize(code, False, generator(derive_seed(seed, "bits"), x.device))
        bits_adv = purifier.binarize(code_adv, False, generator(derive_seed(seed, "bits"), x.device))
        out = purifier.purify(x, generator(derive_seed(seed, "purify"), x.device))
        out_adv = purifier.purify(x_adv, generator(derive_seed(seed, "purify"), x.device))
    size = (x_adv - x).flatten(1).norm(dim=1).clamp_min(1e-12)
    row = {"code logits within 1 of the threshold": float((code.abs() < 1).float().mean()),
           "within 3": float((code.abs() < 3).float().mean()),
           "within 1, adversarial images": float((code_adv.abs() < 1).float().mean()),
           "bits the attack flips": float((bits != bits_adv).float().mean()),
           "perturbation after / before purification": float(((out_adv - out).flatten(1).norm(dim=1) / size).mean())}
    trained = purifier.test_sigma
    try:
        for sigma in (trained, *sigmas):
            purifier.test_sigma = sigma
            defended = deployed(classifier, purifier)
            clean = correct(defended, x, y, draws, seed)
            row[f"grey-box accuracy %, test_sigma {sigma:g}"] = 100 * float(robust(clean, correct(defended, x_adv, y, draws,
                                                                                                   derive_seed(seed, "margin"))).mean())
    finally:
        purifier.test_sigma = trained
    return row


def purifier_table(logs: dict[str, pd.DataFrame], purifiers: dict[str, ComDefend], x: torch.Tensor, draws: int,
                   seed: int = 0) -> pd.DataFrame:
    """One row per ComDefend variant: epochs and minutes of training (its log), final training MSE,
    test PSNR, the share of code bits the test noise changes over ``draws`` draws on ``x``
    (:func:`code_stability`) and the parameter count."""
    return pd.DataFrame({v: {"epochs": int(log["epoch"].iloc[-1]), "train minutes": log["seconds"].sum() / 60,
                             "final training MSE": log["loss_mse"].iloc[-1], "test PSNR (dB)": log["test_psnr"].iloc[-1],
                             "bits changed by the test noise": code_stability(purifiers[v], x, draws, seed),
                             "parameters": sum(p.numel() for p in purifiers[v].parameters())}
                         for v, log in logs.items()}).T


__all__ = ["CompressionAttacks", "defense_suite", "attack", "correct", "robust", "greybox_records",
           "adaptive_records", "accuracy_table", "uncertainty_table", "worst_case", "side_by_side", "verdicts",
           "greybox_runs", "worst_case_differences", "code_margins",
           "audit_defenses", "deepfool_norms", "quality_row", "quality_sweep", "flip_attention", "code_stability", "purifier_table"]
