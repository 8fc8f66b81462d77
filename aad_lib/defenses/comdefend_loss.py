"""The ComDefend training objective (Jia, Wei, Cao, Foroosh, "ComDefend: An Efficient Image
Compression Model to Defend Adversarial Examples", CVPR 2019, Sec. 3.3), in a module of its own so
that the equation is separate from the networks in :mod:`aad_lib.defenses.comdefend`."""
from __future__ import annotations

import torch

from ..validation import AadError, check_eps


def comdefend_loss(x: torch.Tensor, reconstruction: torch.Tensor, b: torch.Tensor, lam: float = 1e-4
                   ) -> tuple[torch.Tensor, dict[str, float]]:
    """ComDefend training loss as the authors' code computes it (``Train_comdefend_TF.py``,
    ``Train_comdefend_Torch.py``): ``mean((y - x)^2) + lam * mean(b^2)`` with ``y`` the
    reconstruction and ``b`` the noisy soft bits, lambda = 1e-4 (research note, ComDefend section).
    The penalty acts on the bits after the sigmoid, so it favours 0 bits (a sparser code).
    Returns the loss and its parts ``mse``, ``code`` (= mean(b^2)) and ``loss`` as floats.
    """
    check_eps(lam, "lam")
    if reconstruction.shape != x.shape:
        raise AadError(f"reconstruction shape {tuple(reconstruction.shape)} differs from the images' "
                       f"{tuple(x.shape)}.")
    mse = (reconstruction - x).pow(2).mean()
    code = b.pow(2).mean()
    loss = mse + lam * code
    return loss, {"mse": mse.item(), "code": code.item(), "loss": loss.item()}
