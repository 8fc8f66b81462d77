"""The training objectives of the baselines, one function per equation.

Notation: z = logits of the clean image x, z' = logits of its adversarial x', p = softmax(z).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def logit_pairing(z_clean: torch.Tensor, z_adv: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """ALP term (Kannan et al. 2018, Eq. 4): ``mean_i w_i * ||z_i - z'_i||_2^2``.

    The squared L2 distance is summed over classes and averaged over the batch; ``weights``
    (default 1) gives the adaptive form of AALP (Eq. 9).
    """
    per_sample = pair_distances(z_clean, z_adv)
    if weights is not None:
        per_sample = per_sample * weights
    return per_sample.mean()


def pair_distances(z_clean: torch.Tensor, z_adv: torch.Tensor) -> torch.Tensor:
    """``||z_i - z'_i||_2^2`` per sample: the ALP term before averaging."""
    return (z_clean - z_adv).pow(2).sum(dim=1)


def trades_kl(z_clean: torch.Tensor, z_adv: torch.Tensor) -> torch.Tensor:
    """TRADES boundary term (Zhang et al. 2019, Eq. 5): ``mean_i KL(p(x_i) || p(x'_i))``.

    Written as in the official code: ``KLDivLoss(log_softmax(z'), softmax(z), 'sum') / N``.
    """
    return F.kl_div(F.log_softmax(z_adv, dim=1), F.softmax(z_clean, dim=1), reduction="sum") / z_clean.shape[0]


def true_class_confidence(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``p_y(x)``: the softmax probability of the true class, per sample."""
    return F.softmax(logits, dim=1).gather(1, y[:, None]).squeeze(1)


def adaptive_logit_pairing(z_clean: torch.Tensor, z_adv: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Adaptive ALP (AALP paper, Eq. 9): ``mean_i p_y(x_i) * ||z_i - z'_i||_2^2`` with the clean
    true-class confidence ``p_y(x_i)`` detached (a weight, not a path for the gradient)."""
    return logit_pairing(z_clean, z_adv, true_class_confidence(z_clean.detach(), y))


def aalp_total(classification: torch.Tensor, pairing: torch.Tensor, weight: float) -> torch.Tensor:
    """Total loss (AALP paper, Eq. 10): ``L = L_cls + lambda * L_pair`` (lambda = ``weight``)."""
    return classification + weight * pairing


# ---------------------------------------------------------------- ARP (Wu et al., "Attention, Please!")
# The authors' TensorFlow code is the reference (the paper's equations are given in words):
# maps are Grad-CAMs of the true class, scaled to [0, 1] per image, at the image's resolution.

def attention_mask(maps: torch.Tensor) -> torch.Tensor:
    """``Att(x) = 1[CAM(x) > mean CAM(x)]`` per image (float, no gradient). The authors threshold
    at the batch mean; the per-image mean is used here so that one image's mask does not depend on
    which other images share its batch."""
    maps = maps.detach()
    return (maps > maps.flatten(1).mean(1).view(-1, 1, 1)).float()


def masked_images(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``x_m = x * (1 - Att(x))``: the image with its attended region removed."""
    return x * (1 - mask[:, None])


def rectification(z: torch.Tensor, z_masked: torch.Tensor) -> torch.Tensor:
    """ARP rectification ``L_r = -Dist(f(x), f(x_m))``, Dist = the mean squared difference of the
    softmax outputs (over classes and batch; the authors' ``tf.losses.mean_squared_error``).
    Minimising it makes the prediction depend on the attended region: remove it and the output
    must change."""
    return -(F.softmax(z, dim=1) - F.softmax(z_masked, dim=1)).pow(2).mean()


def preservation(maps_clean: torch.Tensor, maps_adv: torch.Tensor) -> torch.Tensor:
    """ARP preservation ``L_p = Dist(CAM(x), CAM(x'))``: the squared differences of the two maps
    summed over positions (as the authors' code), averaged over the batch."""
    return (maps_clean - maps_adv).pow(2).flatten(1).sum(1).mean()


def arp_total(classification: torch.Tensor, rectify: torch.Tensor, preserve: torch.Tensor,
              alpha: float, beta: float, gamma: float) -> torch.Tensor:
    """ARP total loss ``L = alpha L_c + beta L_r + gamma L_p`` (8:4:1 reported best)."""
    return alpha * classification + beta * rectify + gamma * preserve
