"""The images the ARP attention analysis reads, with their ground-truth object masks."""
from __future__ import annotations

import torch

from ...notebooks import Context
from .imagenet_boxes import load_val_with_boxes
from .study import stroke_masks


def attention_inputs(ctx: Context) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Images, labels and ground-truth object masks for the ARP analysis (``attention`` params):
    the evaluated test images with their stroke masks, or ILSVRC validation images with the union
    of their bounding boxes (Wu et al., "Attention, Please!")."""
    a = ctx.params.attention
    if a.analysis_data == "eval":
        return ctx.x, ctx.y, stroke_masks(ctx.x, a.stroke_threshold)
    i = a.imagenet
    data = load_val_with_boxes(i.images, i.annotations, i.synsets, size=i.size, n=i.samples)
    return data.x.to(ctx.device), data.y.to(ctx.device), data.masks.to(ctx.device)
