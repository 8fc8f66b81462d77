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


def mask_note(ctx: Context) -> str | None:
    """One sentence on the object masks when they are not a real ground truth: the stroke masks
    (pixels above ``attention.stroke_threshold``) are the object only for bright shapes on a dark
    background, as digits are; for colour images it says how to read the attention numbers. None
    for grey images and for ILSVRC bounding boxes."""
    if ctx.params.attention.analysis_data == "imagenet" or ctx.x.shape[1] == 1:
        return None
    return (f"The object masks here are the pixels above attention.stroke_threshold = "
            f"{ctx.params.attention.stroke_threshold} in any channel, a ground truth only for bright objects on a dark "
            "background (as digits are): on these colour images, read completeness and the IoU with the mask as "
            "attention on bright pixels, not on the object.")
