"""The ComDefend training objective (Jia, Wei, Cao, Foroosh, "ComDefend: An Efficient Image
Compression Model to Defend Adversarial Examples", CVPR 2019, Sec. 3.3), in a module of its own so
that the equation is separate from the networks in :mod:`aad_lib.defenses.comdefend`."""
from __future__ import annotations

import torch

from ..validation import AadError, check_eps


def comdefend_loss(x: torch.Tensor, reconstruction: torch.Tensor, b: torch.Tensor, lam: float = 1e-4
                   ) -> tuple[torch.Tensor, dict[str, float]]:
    """ComDefend training loss (Jia et al., CVPR 2019, Sec. 3.3): ``mean((y - x)^2) + lam * mean(b^2)``.

    As the authors' code computes it (``Train_comdefend_TF.py``, ``Train_comdefend_Torch.py``),
    with ``y`` the reconstruction and ``b`` the noisy soft bits, lambda = 1e-4 (research note,
    ComDefend section). The penalty acts on the bits after the sigmoid, so it favours 0 bits (a
    sparser code). Returns the loss and its parts ``mse``, ``code`` (= mean(b^2)) and ``loss`` as
    floats.

    Arguments:
        x (torch.Tensor): the clean images.
        reconstruction (torch.Tensor): RecCNN's output ``y``, same shape as ``x``.
        b (torch.Tensor): the noisy soft bits.
        lam (float): weight of the code penalty, >= 0. Default: 1e-4.

    Shape:
        - x, reconstruction: (N, C, H, W), values in [0, 1].
        - b: (N, code_channels, H, W), values in (0, 1).
        - returns: () the loss (with its graph) and a dict of three floats.

    Examples:
        >>> import torch
        >>> from aad_lib.defenses import comdefend_loss
        >>> x = torch.zeros(1, 1, 2, 2)
        >>> loss, parts = comdefend_loss(x, x + 0.5, torch.ones(1, 4, 2, 2), lam=0.5)
        >>> loss, parts
        (tensor(0.7500), {'mse': 0.25, 'code': 1.0, 'loss': 0.75})
    """
    check_eps(lam, "lam")
    if reconstruction.shape != x.shape:
        raise AadError(f"reconstruction shape {tuple(reconstruction.shape)} differs from the images' "
                       f"{tuple(x.shape)}.")
    mse = (reconstruction - x).pow(2).mean()
    code = b.pow(2).mean()
    loss = mse + lam * code
    return loss, {"mse": mse.item(), "code": code.item(), "loss": loss.item()}
