"""Attention maps (Grad-CAM) that a loss can differentiate through, their metrics (ARP's
completeness, deviation and scatter), ground-truth masks and the attention-deviation attack."""
from .attack import attention_deviation_attack
from .gradcam import gradcam, gradcam_and_logits, normalize_maps, resolve_layer
from .metrics import (area_above, cells, completeness, connected_regions, deviation_iou, iou, spatial_entropy,
                      top_k_mask)

__all__ = ["gradcam", "gradcam_and_logits", "normalize_maps", "resolve_layer", "area_above", "cells",
           "completeness", "connected_regions", "deviation_iou", "iou", "spatial_entropy", "top_k_mask",
           "attention_deviation_attack"]
