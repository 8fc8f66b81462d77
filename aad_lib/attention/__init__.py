"""Attention maps (Grad-CAM) that a loss can differentiate through, and their metrics."""
from .gradcam import gradcam, normalize_maps, resolve_layer
from .metrics import area_above

__all__ = ["gradcam", "normalize_maps", "resolve_layer", "area_above"]
