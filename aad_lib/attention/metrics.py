"""Numbers that summarise attention maps: attended area (AALP), and the ARP paper's completeness,
deviation and scatter (Wu et al., "Attention, Please!", Sec. 3; the authors' analysis code).

All metrics take maps of shape (N, h, w) and work per image. Rankings break ties by position
(``torch.topk`` on a stable sort), so a metric never depends on the batch an image sits in.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..validation import AadError
from .gradcam import normalize_maps


def area_above(maps: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Per map, the fraction of positions whose value is at least ``threshold`` times the map's
    maximum: the size of the "strongly related area" (AALP paper, Fig. 2 discussion). An all-zero
    map has area 0."""
    normalized = normalize_maps(maps)
    return (normalized >= threshold).flatten(1).float().mean(1) * (maps.flatten(1).amax(1) > 0)


def top_k_mask(maps: torch.Tensor, k: int | torch.Tensor) -> torch.Tensor:
    """Boolean masks of the ``k`` highest positions of each map (``k`` an int or one count per
    map). Ties go to the earlier position (row-major), so the mask is a function of the map alone."""
    _check_maps(maps)
    n, h, w = maps.shape
    ks = torch.as_tensor(k, device=maps.device).expand(n) if not torch.is_tensor(k) or k.dim() == 0 else k.to(maps.device)
    if ks.shape != (n,) or (ks < 0).any() or (ks > h * w).any():
        raise AadError(f"k must be one count in [0, {h * w}] or one per map, got {k!r}.")
    order = torch.sort(maps.flatten(1), dim=1, descending=True, stable=True).indices
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(h * w, device=maps.device).expand(n, -1).contiguous())
    return (rank < ks[:, None]).view(n, h, w)


def iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Intersection over union of two boolean masks per image (1.0 when both are empty)."""
    if a.shape != b.shape or a.dtype != torch.bool or b.dtype != torch.bool:
        raise AadError(f"iou needs two boolean masks of one shape, got {a.dtype}{tuple(a.shape)} and "
                       f"{b.dtype}{tuple(b.shape)}.")
    inter = (a & b).flatten(1).sum(1).float()
    union = (a | b).flatten(1).sum(1).float()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


def completeness(maps: torch.Tensor, gt_masks: torch.Tensor) -> torch.Tensor:
    """ARP's attention completeness: keep the top-N positions of each map, N = the area of its
    ground-truth mask, and return their IoU with that mask (1 = the attention covers exactly the
    object). Maps are bilinearly upsampled to the mask's size first."""
    if gt_masks.dtype != torch.bool or gt_masks.dim() != 3:
        raise AadError(f"gt_masks must be boolean (N, H, W), got {gt_masks.dtype}{tuple(gt_masks.shape)}.")
    maps = _upsample(maps, tuple(gt_masks.shape[-2:]))
    return iou(top_k_mask(maps, gt_masks.flatten(1).sum(1)), gt_masks)


def deviation_iou(clean_maps: torch.Tensor, adv_maps: torch.Tensor, fraction: float = 0.125) -> torch.Tensor:
    """ARP's attention deviation: IoU of the top ``fraction`` of cells of the clean map and of the
    adversarial map at the layer's own resolution (the authors keep 8 of Inception's 64 cells,
    a fraction of 1/8). Low IoU = attention moved."""
    if clean_maps.shape != adv_maps.shape:
        raise AadError(f"clean and adversarial maps differ in shape: {tuple(clean_maps.shape)} vs {tuple(adv_maps.shape)}.")
    k = cells(clean_maps, fraction)
    return iou(top_k_mask(clean_maps, k), top_k_mask(adv_maps, k))


def cells(maps: torch.Tensor, fraction: float) -> int:
    """How many cells the top ``fraction`` of a map holds (at least one)."""
    if not 0 < fraction <= 1:
        raise AadError(f"fraction must lie in (0, 1], got {fraction!r}.")
    h, w = maps.shape[-2:]
    return max(1, round(fraction * h * w))


def connected_regions(masks: torch.Tensor) -> torch.Tensor:
    """Scatter, counted: the number of 8-connected regions of each boolean mask (e.g. the top
    cells of a map). scipy's labelling does it; torch has no connected-component operator."""
    if masks.dtype != torch.bool or masks.dim() != 3:
        raise AadError(f"masks must be boolean (N, H, W), got {masks.dtype}{tuple(masks.shape)}.")
    # imported here: scipy.ndimage costs 0.4 s, and the training and evaluation stages (60 processes
    # per dvc repro) import this module through the ARP recipe without ever counting regions
    from scipy import ndimage

    structure = np.ones((3, 3), dtype=bool)
    counts = [ndimage.label(m, structure=structure)[1] for m in masks.cpu().numpy()]
    return torch.tensor(counts, dtype=torch.long)


def spatial_entropy(maps: torch.Tensor) -> torch.Tensor:
    """Scatter, smooth: the entropy of the non-negative map read as a distribution over cells,
    divided by log(cells) so it lies in [0, 1] (0 = one cell, 1 = uniform). An all-zero map,
    which attends nowhere, is given 1 (as spread as it gets)."""
    _check_maps(maps)
    flat = maps.flatten(1).clamp_min(0)
    total = flat.sum(1, keepdim=True)
    p = flat / total.clamp_min(1e-12)
    h = -(p * torch.log(p.clamp_min(1e-12))).sum(1) / math.log(flat.shape[1])
    return torch.where(total[:, 0] > 0, h, torch.ones_like(h))


def _upsample(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    _check_maps(maps)
    if tuple(maps.shape[-2:]) == size:
        return maps
    return F.interpolate(maps[:, None].float(), size=size, mode="bilinear", align_corners=False)[:, 0]


def _check_maps(maps: torch.Tensor) -> None:
    if not isinstance(maps, torch.Tensor) or maps.dim() != 3 or not maps.is_floating_point():
        raise AadError(f"maps must be a floating tensor (N, h, w), got {getattr(maps, 'dtype', type(maps).__name__)}"
                       f"{tuple(getattr(maps, 'shape', ()))}.")
    if torch.isnan(maps).any():
        raise AadError("maps contain NaN.")
