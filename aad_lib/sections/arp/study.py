"""Per-sample measurements behind the ARP paper's three observations and its defense table
(notebook 04). Everything here returns tidy pandas frames, one row per image (and iteration),
so the notebook only groups, tests and plots.

Maps: Grad-CAM of the *true* class at the model's ``cam_layer`` (the authors' choice: the
ground-truth class logit). Ranking metrics (completeness, deviation, regions) use the map before
its ReLU (``relu=False``), which orders cells as the authors' softmax over cells does; the
entropy uses the ReLU map (a distribution needs non-negative mass).
"""
from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import torch
from torch import nn

from ...attacks import iterated_step_ll, least_likely, r_step_ll, step_ll
from ...evaluation import summarize
from ...validation import AadError, check_images
from ...attention.attack import attention_deviation_attack
from ...attention.gradcam import gradcam
from ...attention.metrics import cells, completeness, connected_regions, deviation_iou, spatial_entropy, top_k_mask

Attack = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def stroke_masks(x: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Ground-truth object masks for digit images: the stroke pixels (any channel above
    ``threshold``). MNIST's analogue of ARP's ILSVRC bounding boxes (:mod:`aad_lib.imagenet_boxes`)."""
    check_images(x)
    masks = (x > threshold).any(dim=1)
    if (masks.flatten(1).sum(1) == 0).any():
        raise AadError(f"some images have no pixel above {threshold}; lower attention.stroke_threshold.")
    return masks


def map_statistics(model: nn.Module, x: torch.Tensor, y: torch.Tensor, fraction: float = 0.125,
                   batch_size: int = 500) -> dict[str, torch.Tensor]:
    """True-class maps and their scatter: ``raw`` (pre-ReLU, layer resolution), ``regions`` (8-connected
    regions of the top ``fraction`` of cells) and ``entropy`` (normalised spatial entropy)."""
    raw = torch.cat([gradcam(model, xb, yb, relu=False).cpu() for xb, yb in zip(x.split(batch_size), y.split(batch_size))])
    k = cells(raw, fraction)
    return {"raw": raw, "regions": connected_regions(top_k_mask(raw, k)), "entropy": spatial_entropy(raw.clamp_min(0))}


def attack_records(model: nn.Module, x: torch.Tensor, y: torch.Tensor, masks: torch.Tensor, attack: Attack,
                   fraction: float = 0.125) -> pd.DataFrame:
    """One row per image: clean correctness, the attack's success (a clean-correct image turned
    wrong), the clean map's completeness against ``masks``, the clean-vs-adversarial deviation IoU,
    and scatter (regions, entropy) of both maps (observations 1 and 2)."""
    with torch.no_grad():
        clean_pred = model(x).argmax(1)
    x_adv = attack(model, x, y)
    with torch.no_grad():
        adv_pred = model(x_adv).argmax(1)
    clean, adv = map_statistics(model, x, y, fraction), map_statistics(model, x_adv, y, fraction)
    correct = (clean_pred == y).cpu()
    return pd.DataFrame({
        "sample": range(len(y)), "clean_correct": correct.numpy(),
        "success": (correct & (adv_pred != y).cpu()).numpy(),
        "completeness": completeness(clean["raw"], masks.cpu()).numpy(),
        "deviation_iou": deviation_iou(clean["raw"], adv["raw"], fraction).numpy(),
        "regions_clean": clean["regions"].numpy(), "regions_adv": adv["regions"].numpy(),
        "entropy_clean": clean["entropy"].numpy(), "entropy_adv": adv["entropy"].numpy(),
    })


def iteration_records(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float, iterations: int,
                      fraction: float = 0.125) -> pd.DataFrame:
    """Iterated Step-LL, one step at a time (observation 3): per image and iteration t = 1..T the
    attack's success so far at the t-th iterate, its deviation IoU from the clean map, and the
    scatter of its map. ``y_LL`` is fixed from the clean image, as in the iterated attack."""
    y_ll = least_likely(model, x)
    with torch.no_grad():
        correct = (model(x).argmax(1) == y).cpu()
    clean = map_statistics(model, x, y, fraction)
    rows, x_t = [], x
    for t in range(1, iterations + 1):
        x_t = iterated_step_ll(model, x, y, eps, alpha, 1, start=x_t, y_ll=y_ll)
        with torch.no_grad():
            wrong = (model(x_t).argmax(1) != y).cpu()
        stats = map_statistics(model, x_t, y, fraction)
        rows.append(pd.DataFrame({
            "iteration": t, "sample": range(len(y)), "clean_correct": correct.numpy(),
            "success": (correct & wrong).numpy(),
            "deviation_iou": deviation_iou(clean["raw"], stats["raw"], fraction).numpy(),
            "regions": stats["regions"].numpy(), "entropy": stats["entropy"].numpy()}))
    return pd.concat(rows, ignore_index=True)


def defense_attacks(eps: float, alpha: float, iter_steps: int, attention_steps: int = 3, seed: int = 0
                    ) -> dict[str, Attack]:
    """The ARP defense table's attack columns (besides PGD/CW from the evaluation), each under the
    evaluation's convention (an image the model already gets wrong stays wrong): Step-LL and
    R+Step-LL at ``eps``, iterated Step-LL (``iter_steps`` steps of ``alpha``, stopping on the first
    fooling iterate) and the authors' attention-deviation attack (``attention_steps`` steps of eps/4)."""
    generator = torch.Generator().manual_seed(seed)

    def r_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return r_step_ll(model, x, y, eps, generator=generator.manual_seed(seed), stop_when_fooled=True)

    return {
        "Step-LL": lambda m, x, y: step_ll(m, x, y, eps, stop_when_fooled=True),
        "R+Step-LL": r_step,
        f"Iter-LL-{iter_steps}": lambda m, x, y: iterated_step_ll(m, x, y, eps, alpha, iter_steps, stop_when_fooled=True),
        f"Attention-{attention_steps}": lambda m, x, y: attention_deviation_attack(m, x, y, eps, eps / 4, attention_steps),
    }


def defense_records(model: nn.Module, x: torch.Tensor, y: torch.Tensor, attacks: dict[str, Attack],
                    batch_size: int = 500) -> pd.DataFrame:
    """Per image, correct or not clean and under each attack (an attacked image counts correct only
    if it is also correct clean)."""
    out: dict[str, list[torch.Tensor]] = {"Clean": [], **{name: [] for name in attacks}}
    for xb, yb in zip(x.split(batch_size), y.split(batch_size)):
        with torch.no_grad():
            clean = model(xb).argmax(1) == yb
        out["Clean"].append(clean.cpu())
        for name, attack in attacks.items():
            x_adv = attack(model, xb, yb)
            with torch.no_grad():
                out[name].append((clean & (model(x_adv).argmax(1) == yb)).cpu())
    return pd.DataFrame({name: torch.cat(parts).numpy() for name, parts in out.items()})


def defense_summary(model: nn.Module, x: torch.Tensor, y: torch.Tensor, attacks: dict[str, Attack],
                    evaluated: pd.DataFrame, evaluated_columns: list[str], batch_size: int = 500
                    ) -> dict[str, dict[str, float]]:
    """One model's row of the defense table: :func:`defense_records` for ``attacks`` joined with
    ``evaluated_columns`` of its evaluation records (the same images, in order), summarised as
    accuracy, n and Wilson interval per column."""
    if len(evaluated) != len(y):
        raise AadError(f"the evaluation records hold {len(evaluated)} images, the table {len(y)}; "
                       "use the evaluated images (evaluate.samples).")
    own = defense_records(model, x, y, attacks, batch_size)
    for column in evaluated_columns:
        own[column] = evaluated[column].to_numpy()
    return summarize(own, list(own.columns))


def attention_summary(model: nn.Module, x: torch.Tensor, y: torch.Tensor, x_adv: torch.Tensor, masks: torch.Tensor,
                      fraction: float = 0.125) -> dict[str, float]:
    """Means over images of what ARP trains for: completeness of the clean maps, clean-vs-
    adversarial deviation IoU, and the entropy of both maps."""
    clean, adv = map_statistics(model, x, y, fraction), map_statistics(model, x_adv, y, fraction)
    return {"completeness (clean)": completeness(clean["raw"], masks.cpu()).mean().item(),
            "IoU clean vs adv": deviation_iou(clean["raw"], adv["raw"], fraction).mean().item(),
            "entropy clean": clean["entropy"].mean().item(), "entropy adv": adv["entropy"].mean().item()}
