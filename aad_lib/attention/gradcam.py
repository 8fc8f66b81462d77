"""Grad-CAM (Selvaraju et al. 2017; AALP paper Eq. 6; ARP's attention maps).

``L^c = ReLU(sum_k alpha_k^c A^k)``, ``alpha_k^c = mean_{i,j} d y^c / d A^k_{ij}``, with ``A`` the
activation of a convolutional layer and ``y^c`` the logit of class c.

Written here rather than taken from a library (pytorch-grad-cam, captum) because the ARP defense
needs the map *inside* a loss: with ``create_graph=True`` the map is a differentiable function of
the input and the weights, which hook-based libraries that detach their gradients do not give.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..attacks import model_mode
from ..validation import AadError, check_images, check_labels, choose


def resolve_layer(model: nn.Module, layer: str | None = None) -> nn.Module:
    """The module named ``layer`` (dotted), or the model's ``cam_layer`` (its last conv block)."""
    name = layer or getattr(model, "cam_layer", "")
    if not name:
        raise AadError(f"{type(model).__name__} names no cam_layer; pass layer= (one of its module names).")
    modules = dict(model.named_modules())
    return modules[choose(name, [n for n in modules if n], "layer")]


def gradcam_and_logits(model: nn.Module, x: torch.Tensor, target: torch.Tensor | None = None,
                       layer: str | None = None, *, create_graph: bool = False,
                       size: tuple[int, int] | None = None, mode: str = "eval", relu: bool = True
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Grad-CAM maps of ``x`` for class ``target`` (default: the predicted class) and the logits
    of the same forward pass (a loss on both needs one forward, not two).

    Maps have shape (N, h, w) at the layer's resolution, or (N, *size) bilinearly upsampled; not
    normalised. ``relu=False`` returns the weighted sum before the ReLU: it ranks positions as
    the ARP authors' softmax over cells does (a monotone map), without the ties at zero that the
    ReLU creates, which top-k metrics need. ``create_graph=True`` keeps maps and logits
    differentiable (for a loss on attention); otherwise both are detached. The model runs in
    ``mode`` ("eval", "train" or "keep") and is restored after; no parameter gradient is written.
    """
    check_images(x)
    if target is not None:
        check_labels(target, x.shape[0], getattr(model, "num_classes", None))
    module = resolve_layer(model, layer)
    captured: list[torch.Tensor] = []
    handle = module.register_forward_hook(lambda _m, _i, out: captured.append(out))
    try:
        with model_mode(model, mode), torch.enable_grad():
            logits = model(x)
            if not captured:
                raise AadError(f"layer {layer or getattr(model, 'cam_layer', '')!r} was not used by the forward pass.")
            activation = captured[-1]
            if target is None:
                target = logits.argmax(1)
            score = logits.gather(1, target[:, None]).sum()
            (grad,) = torch.autograd.grad(score, activation, create_graph=create_graph)
            weights = grad.mean(dim=(2, 3), keepdim=True)
            cam = (weights * activation).sum(dim=1)
            if relu:
                cam = F.relu(cam)
    finally:
        handle.remove()
    if size is not None:
        cam = F.interpolate(cam[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
    return (cam, logits) if create_graph else (cam.detach(), logits.detach())


def gradcam(model: nn.Module, x: torch.Tensor, target: torch.Tensor | None = None, layer: str | None = None,
            *, create_graph: bool = False, size: tuple[int, int] | None = None, mode: str = "eval",
            relu: bool = True) -> torch.Tensor:
    """Grad-CAM maps only (see :func:`gradcam_and_logits`): non-negative unless ``relu=False``."""
    return gradcam_and_logits(model, x, target, layer, create_graph=create_graph, size=size, mode=mode,
                              relu=relu)[0]


def normalize_maps(maps: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Each map scaled to [0, 1] by its own maximum (an all-zero map stays zero)."""
    peak = maps.flatten(1).amax(1).clamp_min(eps).view(-1, *([1] * (maps.dim() - 1)))
    return maps / peak
