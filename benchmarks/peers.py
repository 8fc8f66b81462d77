"""The peer libraries' attacks on the same model and inputs: torchattacks (FGSM, PGD) and the
Adversarial Robustness Toolbox (PGD). Each adapter returns a zero-argument callable, or a reason
why the peer is unavailable (it is an optional install: ``pip install -e .[peers]``)."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

Op = Callable[[], object]


def torchattacks_ops(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float,
                     steps: int) -> dict[str, Op] | str:
    """torchattacks' FGSM and PGD (random start, L-inf, cross-entropy), as users call them."""
    try:
        import torchattacks
    except ImportError as err:
        return f"torchattacks not installed ({err})"
    fgsm = torchattacks.FGSM(model, eps=eps)
    pgd = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=True)
    return {"FGSM": lambda: fgsm(x, y), f"PGD-{steps}": lambda: pgd(x, y)}


def art_ops(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float,
            steps: int) -> dict[str, Op] | str:
    """ART's ``ProjectedGradientDescentPyTorch`` (one random start, L-inf) with a
    ``PyTorchClassifier`` on the model's device; inputs go in as NumPy arrays, as ART requires."""
    try:
        from art.attacks.evasion import ProjectedGradientDescentPyTorch
        from art.estimators.classification import PyTorchClassifier
    except ImportError as err:
        return f"ART not installed ({err})"
    device = next(model.parameters()).device
    classifier = PyTorchClassifier(model=model, loss=nn.CrossEntropyLoss(), input_shape=tuple(x.shape[1:]),
                                   nb_classes=model.num_classes, clip_values=(0.0, 1.0),
                                   device_type="gpu" if device.type == "cuda" else "cpu")
    attack = ProjectedGradientDescentPyTorch(classifier, norm=np.inf, eps=eps, eps_step=alpha, max_iter=steps,
                                             num_random_init=1, batch_size=x.shape[0], verbose=False)
    x_np, y_np = x.cpu().numpy(), y.cpu().numpy()
    return {f"PGD-{steps}": lambda: attack.generate(x_np, y_np)}
