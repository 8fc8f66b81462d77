"""The attention-deviation attack of the ARP authors' code: push the Grad-CAM map of the true
class away from where the clean image's attention was, inside the eps ball.

Loss (ascended): ``mean_ij |M_ij - CAM'(x')_ij|`` with ``M = 1[CAM(x) > 0.2 max CAM(x)]`` the
clean attention region and ``CAM'`` the adversarial map scaled to [0, 1]; the authors run three
sign steps. It needs the map's gradient w.r.t. the input, hence the differentiable Grad-CAM.
"""
from __future__ import annotations

import torch
from torch import nn

from ..attacks.pgd import _bounds, _check, _step  # the same projection as every other attack
from .gradcam import gradcam, normalize_maps


def attention_deviation_attack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float,
                               steps: int = 3, *, region_threshold: float = 0.2, layer: str | None = None,
                               mode: str = "eval") -> torch.Tensor:
    """``steps`` steps ``x_{t+1} = Proj(x_t + alpha * sign(grad_x mean|M - CAM'(x_t)|))``, the
    maps taken for the true class ``y``. Returns the last iterate (in the eps ball and [0, 1])."""
    eps = _check(model, x, y, eps, alpha, steps, "linf")
    x = x.detach()
    region = (normalize_maps(gradcam(model, x, y, layer, mode=mode)) > region_threshold).float()
    lo, hi = _bounds(x, eps, "linf")
    x_adv = x.clone()
    for _ in range(steps):
        with torch.enable_grad():  # callers may sit inside torch.no_grad()
            xa = x_adv.requires_grad_(True)
            cam = normalize_maps(gradcam(model, xa, y, layer, create_graph=True, mode=mode))
            (grad,) = torch.autograd.grad((region - cam).abs().flatten(1).mean(1).sum(), xa)
        x_adv = _step(x, xa.detach(), grad, eps, alpha, "linf", lo, hi)
    return x_adv.detach()
