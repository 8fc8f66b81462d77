"""Numbers that summarise attention maps (the ARP section adds completeness and deviation)."""
from __future__ import annotations

import torch

from .gradcam import normalize_maps


def area_above(maps: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Per map, the fraction of positions whose value is at least ``threshold`` times the map's
    maximum: the size of the "strongly related area" (AALP paper, Fig. 2 discussion). An all-zero
    map has area 0."""
    normalized = normalize_maps(maps)
    return (normalized >= threshold).flatten(1).float().mean(1) * (maps.flatten(1).amax(1) > 0)
