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
    """The layer Grad-CAM (Selvaraju et al., ICCV 2017) reads: module ``layer`` (dotted) or ``cam_layer``.

    ``cam_layer`` is the last convolutional block of an :mod:`aad_lib.models` classifier. A model
    without one needs ``layer``; an unknown name is an error that lists the model's module names
    (with a did-you-mean hint).

    Arguments:
        model (nn.Module): the classifier.
        layer (str | None): a dotted module name of ``model``; None: ``model.cam_layer``.
            Default: None.

    Examples:
        >>> from aad_lib import models
        >>> from aad_lib.attention.gradcam import resolve_layer
        >>> model = models.create("lenet_small", in_channels=1, size=28)
        >>> model.cam_layer, type(resolve_layer(model)).__name__, resolve_layer(model, "head") is model.head
        ('body.conv', 'Sequential', True)
    """
    name = layer or getattr(model, "cam_layer", "")
    if not name:
        raise AadError(f"{type(model).__name__} names no cam_layer; pass layer= (one of its module names).")
    modules = dict(model.named_modules())
    return modules[choose(name, [n for n in modules if n], "layer")]


def gradcam_and_logits(model: nn.Module, x: torch.Tensor, target: torch.Tensor | None = None,
                       layer: str | None = None, *, create_graph: bool = False,
                       size: tuple[int, int] | None = None, mode: str = "eval", relu: bool = True
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Grad-CAM (Selvaraju et al., ICCV 2017; AALP paper Eq. 6) maps of ``x`` for class ``target`` and the logits.

    Selvaraju, Cogswell, Das, Vedantam, Parikh, Batra, "Grad-CAM: Visual Explanations from Deep
    Networks via Gradient-based Localization". ``L^c = ReLU(sum_k alpha_k^c A^k)`` with
    ``alpha_k^c = mean_{i,j} d y^c / d A^k_{ij}`` (module docstring), for class ``target``
    (default: the predicted class). The logits are those of the same forward pass (a loss on both
    needs one forward, not two).

    Maps have shape (N, h, w) at the layer's resolution, or (N, *size) bilinearly upsampled; not
    normalised. ``relu=False`` returns the weighted sum before the ReLU: it ranks positions as
    the ARP authors' softmax over cells does (a monotone map), without the ties at zero that the
    ReLU creates, which top-k metrics need. ``create_graph=True`` keeps maps and logits
    differentiable (for a loss on attention); otherwise both are detached. The model runs in
    ``mode`` ("eval", "train" or "keep") and is restored after; no parameter gradient is written.

    Arguments:
        model (nn.Module): the classifier; its layer ``layer`` (or ``cam_layer``) must be
            convolutional, with (N, K, h, w) activations, and used by the forward pass.
        x (torch.Tensor): images in [0, 1].
        target (torch.Tensor | None): the class of each image whose logit is explained; None:
            the predicted class. Default: None.
        layer (str | None): dotted module name (:func:`resolve_layer`); None: the model's
            ``cam_layer``. Default: None.
        create_graph (bool): keep maps and logits differentiable. Default: False.
        size (tuple[int, int] | None): ``(H, W)`` to upsample the maps to (bilinear); None: the
            layer's resolution. Default: None.
        mode (str): ``"eval"``, ``"train"`` or ``"keep"``, the model's mode for the pass.
            Default: ``"eval"``.
        relu (bool): apply the ReLU of Grad-CAM. Default: True.

    Shape:
        - x: (N, C, H, W), values in [0, 1].
        - target: (N,) int64 class indices.
        - returns: maps (N, h, w) (or (N, *size)), not normalised, and logits (N, num_classes).

    Examples:
        >>> import torch
        >>> from aad_lib import models
        >>> from aad_lib.attention.gradcam import gradcam_and_logits
        >>> model = models.create("lenet_small", in_channels=1, size=28)
        >>> x = torch.rand(2, 1, 28, 28)
        >>> maps, logits = gradcam_and_logits(model, x)  # the predicted classes; body.conv is 7 x 7
        >>> maps.shape, logits.shape, bool((maps >= 0).all()), maps.requires_grad
        (torch.Size([2, 7, 7]), torch.Size([2, 10]), True, False)
        >>> maps, _ = gradcam_and_logits(model, x, torch.tensor([3, 7]), size=(28, 28), create_graph=True)
        >>> maps.shape, maps.requires_grad
        (torch.Size([2, 28, 28]), True)
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
    """Grad-CAM maps only (Selvaraju et al., ICCV 2017): non-negative unless ``relu=False``.

    The maps of :func:`gradcam_and_logits`, without the logits.

    Arguments:
        model (nn.Module): the classifier (see :func:`gradcam_and_logits`).
        x (torch.Tensor): images in [0, 1].
        target (torch.Tensor | None): the class of each image whose logit is explained; None:
            the predicted class. Default: None.
        layer (str | None): as in :func:`gradcam_and_logits`. Default: None.
        create_graph (bool): keep the maps differentiable. Default: False.
        size (tuple[int, int] | None): as in :func:`gradcam_and_logits`. Default: None.
        mode (str): as in :func:`gradcam_and_logits`. Default: ``"eval"``.
        relu (bool): as in :func:`gradcam_and_logits`. Default: True.

    Shape:
        - x, target: as in :func:`gradcam_and_logits`.
        - returns: (N, h, w) at the layer's resolution, or (N, *size); not normalised.

    Examples:
        >>> import torch
        >>> from aad_lib import attention, models
        >>> model, x = models.create("lenet_small", in_channels=1, size=28), torch.rand(2, 1, 28, 28)
        >>> maps = attention.gradcam(model, x, size=(28, 28))
        >>> maps.shape, bool((maps >= 0).all())
        (torch.Size([2, 28, 28]), True)
        >>> torch.equal(attention.gradcam(model, x), attention.gradcam(model, x, relu=False).clamp_min(0))
        True
    """
    return gradcam_and_logits(model, x, target, layer, create_graph=create_graph, size=size, mode=mode,
                              relu=relu)[0]


def normalize_maps(maps: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Each map scaled to [0, 1] by its own maximum (an all-zero map stays zero), as ARP's maps are.

    The maps of ARP's losses (Wu et al., "Attention, Please!") are Grad-CAMs (Selvaraju et al.,
    ICCV 2017) scaled to [0, 1] per image; :func:`~aad_lib.attention.metrics.area_above` uses the
    same scaling. Meant for non-negative maps (Grad-CAM's ReLU): negative values stay negative.

    Arguments:
        maps (torch.Tensor): one map per image.
        eps (float): the smallest divisor, so that an all-zero map stays zero. Default: 1e-12.

    Shape:
        - maps: (N, ...), e.g. (N, h, w).
        - returns: the shape of ``maps``, each map's maximum 1 (or all zero).

    Examples:
        >>> import torch
        >>> from aad_lib.attention.gradcam import normalize_maps
        >>> normalize_maps(torch.tensor([[[0.0, 2.0], [1.0, 4.0]], [[0.0, 0.0], [0.0, 0.0]]])).tolist()
        [[[0.0, 0.5], [0.25, 1.0]], [[0.0, 0.0], [0.0, 0.0]]]
    """
    peak = maps.flatten(1).amax(1).clamp_min(eps).view(-1, *([1] * (maps.dim() - 1)))
    return maps / peak
