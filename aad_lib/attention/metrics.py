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
    """Attended area (AALP paper, Fig. 2 discussion): the share of positions near each map's maximum.

    Per map, the fraction of positions whose value is at least ``threshold`` times the map's
    maximum: the size of the "strongly related area" of a Grad-CAM. An all-zero map has area 0.

    Arguments:
        maps (torch.Tensor): non-negative attention maps (Grad-CAMs), one per image.
        threshold (float): the fraction of the map's maximum a position must reach. Default: 0.5.

    Shape:
        - maps: (N, h, w).
        - returns: (N,) fractions in [0, 1].

    Examples:
        >>> import torch
        >>> from aad_lib.attention.metrics import area_above
        >>> maps = torch.tensor([[[0.0, 1.0], [0.5, 0.2]], [[0.0, 0.0], [0.0, 0.0]]])
        >>> area_above(maps).tolist(), area_above(maps, threshold=0.1).tolist()
        ([0.5, 0.0], [0.75, 0.0])
    """
    normalized = normalize_maps(maps)
    return (normalized >= threshold).flatten(1).float().mean(1) * (maps.flatten(1).amax(1) > 0)


def top_k_mask(maps: torch.Tensor, k: int | torch.Tensor) -> torch.Tensor:
    """Boolean masks of the ``k`` highest positions of each map: the top cells that ARP's metrics compare.

    The metrics of Wu et al., "Attention, Please!" (Sec. 3) keep a map's top cells. ``k`` is an
    int or one count per map. Ties go to the earlier position (row-major), so the mask is a
    function of the map alone.

    Arguments:
        maps (torch.Tensor): floating attention maps without NaN, one per image.
        k (int | torch.Tensor): positions to keep, in [0, h * w]: one count for every map, or one
            per map.

    Shape:
        - maps: (N, h, w).
        - k: an int, a 0-dim tensor or (N,) counts.
        - returns: (N, h, w) boolean.

    Examples:
        >>> import torch
        >>> from aad_lib.attention.metrics import top_k_mask
        >>> maps = torch.tensor([[[0.1, 0.9], [0.9, 0.2]]])
        >>> top_k_mask(maps, 1).tolist()  # a tie: the earlier position wins
        [[[False, True], [False, False]]]
        >>> top_k_mask(torch.cat([maps, maps]), torch.tensor([0, 3])).sum((1, 2)).tolist()
        [0, 3]
    """
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
    """Intersection over union of two boolean masks per image (1.0 when both are empty), as ARP's metrics use it.

    The overlap measure of ARP's completeness and deviation (Wu et al., "Attention, Please!",
    Sec. 3).

    Arguments:
        a (torch.Tensor): boolean masks.
        b (torch.Tensor): boolean masks of the shape of ``a``.

    Shape:
        - a: (N, H, W) boolean.
        - b: (N, H, W) boolean.
        - returns: (N,) in [0, 1].

    Examples:
        >>> import torch
        >>> from aad_lib.attention.metrics import iou
        >>> a = torch.tensor([[[True, True], [False, False]], [[False, False], [False, False]]])
        >>> b = torch.tensor([[[True, False], [True, False]], [[False, False], [False, False]]])
        >>> iou(a, b)  # 1 shared of 3; two empty masks
        tensor([0.3333, 1.0000])
    """
    if a.shape != b.shape or a.dtype != torch.bool or b.dtype != torch.bool:
        raise AadError(f"iou needs two boolean masks of one shape, got {a.dtype}{tuple(a.shape)} and "
                       f"{b.dtype}{tuple(b.shape)}.")
    inter = (a & b).flatten(1).sum(1).float()
    union = (a | b).flatten(1).sum(1).float()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


def completeness(maps: torch.Tensor, gt_masks: torch.Tensor) -> torch.Tensor:
    """ARP's attention completeness (Wu et al., "Attention, Please!", Sec. 3): top cells vs the object.

    Keep the top-N positions of each map, N = the area of its ground-truth mask, and return their
    IoU with that mask (1 = the attention covers exactly the object). Maps are bilinearly
    upsampled to the mask's size first.

    Arguments:
        maps (torch.Tensor): attention maps, one per image, at any resolution.
        gt_masks (torch.Tensor): boolean ground-truth object masks.

    Shape:
        - maps: (N, h, w).
        - gt_masks: (N, H, W) boolean.
        - returns: (N,) in [0, 1].

    Examples:
        >>> import torch
        >>> from aad_lib.attention.metrics import completeness
        >>> maps = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])  # attention on the top-left cell
        >>> gt = torch.zeros(1, 4, 4, dtype=torch.bool)
        >>> gt[0, :2, :2] = True  # the object: the top-left quarter
        >>> completeness(maps, gt), completeness(maps, gt.flip(1, 2))
        (tensor([1.]), tensor([0.]))
    """
    if gt_masks.dtype != torch.bool or gt_masks.dim() != 3:
        raise AadError(f"gt_masks must be boolean (N, H, W), got {gt_masks.dtype}{tuple(gt_masks.shape)}.")
    maps = _upsample(maps, tuple(gt_masks.shape[-2:]))
    return iou(top_k_mask(maps, gt_masks.flatten(1).sum(1)), gt_masks)


def deviation_iou(clean_maps: torch.Tensor, adv_maps: torch.Tensor, fraction: float = 0.125) -> torch.Tensor:
    """ARP's attention deviation (Wu et al., "Attention, Please!", Sec. 3): clean vs adversarial top cells.

    IoU of the top ``fraction`` of cells (:func:`cells`) of the clean map and of the adversarial
    map at the layer's own resolution (the authors keep 8 of Inception's 64 cells, a fraction of
    1/8). Low IoU = attention moved.

    Arguments:
        clean_maps (torch.Tensor): attention maps of the clean images.
        adv_maps (torch.Tensor): attention maps of their adversarial images, same shape.
        fraction (float): the share of cells kept, in (0, 1]. Default: 0.125.

    Shape:
        - clean_maps: (N, h, w).
        - adv_maps: (N, h, w).
        - returns: (N,) in [0, 1].

    Examples:
        >>> import torch
        >>> from aad_lib.attention.metrics import deviation_iou
        >>> clean = torch.zeros(1, 4, 4)
        >>> clean[0, 0, :2] = 1.0  # top 2 of 16 cells: the first two of row 0
        >>> deviation_iou(clean, clean), deviation_iou(clean, clean.flip(1))
        (tensor([1.]), tensor([0.]))
    """
    if clean_maps.shape != adv_maps.shape:
        raise AadError(f"clean and adversarial maps differ in shape: {tuple(clean_maps.shape)} vs {tuple(adv_maps.shape)}.")
    k = cells(clean_maps, fraction)
    return iou(top_k_mask(clean_maps, k), top_k_mask(adv_maps, k))


def cells(maps: torch.Tensor, fraction: float) -> int:
    """How many cells the top ``fraction`` of a map holds, at least one (ARP's attention deviation).

    ``max(1, round(fraction * h * w))``, the cells :func:`deviation_iou` keeps; the authors of
    Wu et al., "Attention, Please!" keep 8 of Inception's 64 cells.

    Arguments:
        maps (torch.Tensor): the maps (only their last two sizes are read).
        fraction (float): the share of cells, in (0, 1].

    Shape:
        - maps: (N, h, w).
        - returns: an int in [1, h * w].

    Examples:
        >>> import torch
        >>> from aad_lib.attention.metrics import cells
        >>> cells(torch.zeros(1, 8, 8), 0.125), cells(torch.zeros(1, 2, 2), 0.01)
        (8, 1)
    """
    if not 0 < fraction <= 1:
        raise AadError(f"fraction must lie in (0, 1], got {fraction!r}.")
    h, w = maps.shape[-2:]
    return max(1, round(fraction * h * w))


def connected_regions(masks: torch.Tensor) -> torch.Tensor:
    """ARP's scatter, counted (Wu et al., "Attention, Please!", Sec. 3): the 8-connected regions of each mask.

    The number of 8-connected regions of each boolean mask (e.g. the top cells of a map, from
    :func:`top_k_mask`). scipy's labelling does it; torch has no connected-component operator.

    Arguments:
        masks (torch.Tensor): boolean masks.

    Shape:
        - masks: (N, H, W) boolean.
        - returns: (N,) int64 counts, on the CPU.

    Examples:
        >>> import torch
        >>> from aad_lib.attention.metrics import connected_regions
        >>> masks = torch.tensor([[[1, 0, 1], [0, 0, 0], [1, 1, 0]],
        ...                       [[1, 0, 0], [0, 1, 0], [0, 0, 1]]], dtype=torch.bool)
        >>> connected_regions(masks)  # a diagonal is one region
        tensor([3, 1])
    """
    if masks.dtype != torch.bool or masks.dim() != 3:
        raise AadError(f"masks must be boolean (N, H, W), got {masks.dtype}{tuple(masks.shape)}.")
    # imported here: scipy.ndimage costs 0.4 s, and the training and evaluation stages (60 processes
    # per dvc repro) import this module through the ARP recipe without ever counting regions
    from scipy import ndimage

    structure = np.ones((3, 3), dtype=bool)
    counts = [ndimage.label(m, structure=structure)[1] for m in masks.cpu().numpy()]
    return torch.tensor(counts, dtype=torch.long)


def spatial_entropy(maps: torch.Tensor) -> torch.Tensor:
    """ARP's scatter, smooth (Wu et al., "Attention, Please!", Sec. 3): the normalised entropy of each map.

    The entropy of the non-negative map read as a distribution over cells (negative values count
    as 0), divided by log(cells) so it lies in [0, 1] (0 = one cell, 1 = uniform). An all-zero
    map, which attends nowhere, is given 1 (as spread as it gets).

    Arguments:
        maps (torch.Tensor): floating attention maps without NaN, one per image.

    Shape:
        - maps: (N, h, w).
        - returns: (N,) in [0, 1].

    Examples:
        >>> import torch
        >>> from aad_lib.attention.metrics import spatial_entropy
        >>> maps = torch.zeros(3, 2, 2)
        >>> maps[0, 0] = 1.0  # two of four cells: log 2 / log 4
        >>> maps[1] = 1.0  # uniform; maps[2] stays all zero
        >>> [round(v, 4) for v in spatial_entropy(maps).tolist()]
        [0.5, 1.0, 1.0]
    """
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
