"""The training objectives of the baselines, one function per equation.

Notation: z = logits of the clean image x, z' = logits of its adversarial x', p = softmax(z).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def logit_pairing(z_clean: torch.Tensor, z_adv: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """ALP term (Kannan et al. 2018, Eq. 4): ``mean_i w_i * ||z_i - z'_i||_2^2``.

    Kannan, Kurakin, Goodfellow, "Adversarial Logit Pairing", arXiv 1803.06373, 2018. The squared
    L2 distance is summed over classes and averaged over the batch; ``weights`` (default 1) gives
    the adaptive form of AALP (AALP paper, Eq. 9; see :func:`adaptive_logit_pairing`).

    Arguments:
        z_clean (torch.Tensor): logits ``z`` of the clean images.
        z_adv (torch.Tensor): logits ``z'`` of their adversarial images.
        weights (torch.Tensor | None): per-sample weights ``w_i``; None: 1 for every sample.
            Default: None.

    Shape:
        - z_clean, z_adv: (N, K) logits of K classes.
        - weights: (N,).
        - returns: a scalar (0-dim tensor).

    Examples:
        >>> import torch
        >>> from aad_lib.losses import logit_pairing
        >>> z, z_adv = torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.zeros(2, 2)
        >>> logit_pairing(z, z_adv)  # (1 + 4) / 2
        tensor(2.5000)
        >>> logit_pairing(z, z_adv, weights=torch.tensor([1.0, 0.5]))  # (1 + 0.5 * 4) / 2
        tensor(1.5000)
    """
    per_sample = pair_distances(z_clean, z_adv)
    if weights is not None:
        per_sample = per_sample * weights
    return per_sample.mean()


def pair_distances(z_clean: torch.Tensor, z_adv: torch.Tensor) -> torch.Tensor:
    """``||z_i - z'_i||_2^2`` per sample: the ALP term (Kannan et al. 2018, Eq. 4) before averaging.

    The evaluation keeps it per sample (the ``pair:<attack>`` columns of
    :func:`aad_lib.evaluation.evaluate`).

    Arguments:
        z_clean (torch.Tensor): logits ``z`` of the clean images.
        z_adv (torch.Tensor): logits ``z'`` of their adversarial images.

    Shape:
        - z_clean, z_adv: (N, K) logits of K classes.
        - returns: (N,).

    Examples:
        >>> import torch
        >>> from aad_lib.losses import pair_distances
        >>> pair_distances(torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.zeros(2, 2))
        tensor([1., 4.])
    """
    return (z_clean - z_adv).pow(2).sum(dim=1)


def trades_kl(z_clean: torch.Tensor, z_adv: torch.Tensor) -> torch.Tensor:
    """TRADES boundary term (Zhang et al., ICML 2019, Eq. 5): ``mean_i KL(p(x_i) || p(x'_i))``.

    Zhang, Yu, Jiao, Xing, El Ghaoui, Jordan, "Theoretically Principled Trade-off between
    Robustness and Accuracy". Written as in the official code:
    ``KLDivLoss(log_softmax(z'), softmax(z), 'sum') / N``.

    Arguments:
        z_clean (torch.Tensor): logits ``z`` of the clean images.
        z_adv (torch.Tensor): logits ``z'`` of their adversarial images.

    Shape:
        - z_clean, z_adv: (N, K) logits of K classes.
        - returns: a scalar (0-dim tensor), >= 0.

    Examples:
        >>> import torch
        >>> from aad_lib.losses import trades_kl
        >>> z, z_adv = torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([[0.0, 0.0], [1.0, 0.0]])
        >>> p, q = z.softmax(1), z_adv.softmax(1)
        >>> torch.allclose(trades_kl(z, z_adv), (p * (p / q).log()).sum(1).mean())
        True
    """
    return F.kl_div(F.log_softmax(z_adv, dim=1), F.softmax(z_clean, dim=1), reduction="sum") / z_clean.shape[0]


def true_class_confidence(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``p_y(x)``: the softmax probability of the true class, per sample (the weight of AALP paper, Eq. 9).

    Arguments:
        logits (torch.Tensor): the model's logits.
        y (torch.Tensor): true labels.

    Shape:
        - logits: (N, K) logits of K classes.
        - y: (N,) int64 class indices.
        - returns: (N,) probabilities in [0, 1].

    Examples:
        >>> import torch
        >>> from aad_lib.losses import true_class_confidence
        >>> true_class_confidence(torch.tensor([[0.0, 0.0], [0.0, 100.0]]), torch.tensor([0, 1]))
        tensor([0.5000, 1.0000])
    """
    return F.softmax(logits, dim=1).gather(1, y[:, None]).squeeze(1)


def adaptive_logit_pairing(z_clean: torch.Tensor, z_adv: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Adaptive ALP (AALP paper, Eq. 9): ``mean_i p_y(x_i) * ||z_i - z'_i||_2^2``.

    The clean true-class confidence ``p_y(x_i)`` (:func:`true_class_confidence`) is detached: a
    weight, not a path for the gradient. The ALP term it weights is :func:`logit_pairing`
    (Kannan et al. 2018, Eq. 4).

    Arguments:
        z_clean (torch.Tensor): logits ``z`` of the clean images.
        z_adv (torch.Tensor): logits ``z'`` of their adversarial images.
        y (torch.Tensor): true labels.

    Shape:
        - z_clean, z_adv: (N, K) logits of K classes.
        - y: (N,) int64 class indices.
        - returns: a scalar (0-dim tensor).

    Examples:
        >>> import torch
        >>> from aad_lib.losses import adaptive_logit_pairing
        >>> z = torch.zeros(2, 2, requires_grad=True)  # p_y = 0.5 for both samples
        >>> z_adv, y = torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.tensor([0, 1])
        >>> loss = adaptive_logit_pairing(z, z_adv, y)  # 0.5 * (1 + 4) / 2
        >>> loss.item()
        1.25
        >>> loss.backward()  # the gradient of the weighted distances only: p_y is a constant
        >>> z.grad
        tensor([[-0.5000,  0.0000],
                [ 0.0000, -1.0000]])
    """
    return logit_pairing(z_clean, z_adv, true_class_confidence(z_clean.detach(), y))


def aalp_total(classification: torch.Tensor, pairing: torch.Tensor, weight: float) -> torch.Tensor:
    """Total loss (AALP paper, Eq. 10): ``L = L_cls + lambda * L_pair`` (lambda = ``weight``).

    Arguments:
        classification (torch.Tensor): the classification loss ``L_cls``.
        pairing (torch.Tensor): the pairing term ``L_pair``, e.g. :func:`adaptive_logit_pairing`.
        weight (float): lambda, the weight of the pairing term.

    Shape:
        - classification, pairing, returns: scalars (0-dim tensors).

    Examples:
        >>> import torch
        >>> from aad_lib.losses import aalp_total
        >>> aalp_total(torch.tensor(0.5), torch.tensor(2.0), weight=0.25)
        tensor(1.)
    """
    return classification + weight * pairing


# ---------------------------------------------------------------- ARP (Wu et al., "Attention, Please!")
# The authors' TensorFlow code is the reference (the paper's equations are given in words):
# maps are Grad-CAMs of the true class, scaled to [0, 1] per image, at the image's resolution.

def attention_mask(maps: torch.Tensor) -> torch.Tensor:
    """ARP's attention mask (Wu et al., "Attention, Please!"): ``Att(x) = 1[CAM(x) > mean CAM(x)]`` per image.

    Wu, Sang, Xu, Zhang, Yu et al., "Attention, Please! Adversarial Defense via Activation
    Rectification and Preservation", ACM TOMM 2023. The paper's equations are given in words; the
    authors' TensorFlow code is the reference. The mask is float and carries no gradient. The
    authors threshold at the batch mean; the per-image mean is used here so that one image's mask
    does not depend on which other images share its batch.

    Arguments:
        maps (torch.Tensor): Grad-CAMs of the true class, scaled to [0, 1] per image, at the
            image's resolution.

    Shape:
        - maps: (N, H, W).
        - returns: (N, H, W) of 0.0 and 1.0, detached.

    Examples:
        >>> import torch
        >>> from aad_lib.losses import attention_mask
        >>> attention_mask(torch.tensor([[[0.0, 1.0], [0.2, 0.6]]])).tolist()  # the mean is 0.45
        [[[0.0, 1.0], [0.0, 1.0]]]
    """
    maps = maps.detach()
    return (maps > maps.flatten(1).mean(1).view(-1, 1, 1)).float()


def masked_images(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """ARP's masked image (Wu et al., "Attention, Please!"): ``x_m = x * (1 - Att(x))``.

    The image with its attended region removed, every channel alike.

    Arguments:
        x (torch.Tensor): images in [0, 1].
        mask (torch.Tensor): the attention masks ``Att(x)`` of :func:`attention_mask`.

    Shape:
        - x: (N, C, H, W), values in [0, 1].
        - mask: (N, H, W) of 0.0 and 1.0.
        - returns: (N, C, H, W) in [0, 1].

    Examples:
        >>> import torch
        >>> from aad_lib.losses import masked_images
        >>> x_m = masked_images(torch.ones(1, 3, 2, 2), torch.tensor([[[0.0, 1.0], [0.0, 1.0]]]))
        >>> x_m.shape, x_m[0, 2].tolist()
        (torch.Size([1, 3, 2, 2]), [[1.0, 0.0], [1.0, 0.0]])
    """
    return x * (1 - mask[:, None])


def rectification(z: torch.Tensor, z_masked: torch.Tensor) -> torch.Tensor:
    """ARP rectification (Wu et al., "Attention, Please!"): ``L_r = -Dist(f(x), f(x_m))``.

    Dist is the mean squared difference of the softmax outputs (over classes and batch; the
    authors' ``tf.losses.mean_squared_error``). Minimising it makes the prediction depend on the
    attended region: remove it and the output must change.

    Arguments:
        z (torch.Tensor): logits ``f(x)`` of the images.
        z_masked (torch.Tensor): logits ``f(x_m)`` of the masked images (:func:`masked_images`).

    Shape:
        - z: (N, K) logits of K classes.
        - z_masked: (N, K).
        - returns: a scalar (0-dim tensor), <= 0.

    Examples:
        >>> import torch
        >>> from aad_lib.losses import rectification
        >>> rectification(torch.tensor([[0.0, 0.0]]), torch.tensor([[100.0, 0.0]]))  # (0.5^2 + 0.5^2) / 2
        tensor(-0.2500)
    """
    return -(F.softmax(z, dim=1) - F.softmax(z_masked, dim=1)).pow(2).mean()


def preservation(maps_clean: torch.Tensor, maps_adv: torch.Tensor) -> torch.Tensor:
    """ARP preservation (Wu et al., "Attention, Please!"): ``L_p = Dist(CAM(x), CAM(x'))``.

    Dist: the squared differences of the two maps summed over positions (as the authors' code),
    averaged over the batch.

    Arguments:
        maps_clean (torch.Tensor): Grad-CAMs of the clean images.
        maps_adv (torch.Tensor): Grad-CAMs of their adversarial images.

    Shape:
        - maps_clean: (N, H, W).
        - maps_adv: (N, H, W).
        - returns: a scalar (0-dim tensor), >= 0.

    Examples:
        >>> import torch
        >>> from aad_lib.losses import preservation
        >>> preservation(torch.ones(2, 2, 2), torch.zeros(2, 2, 2))  # 4 positions, each off by 1
        tensor(4.)
    """
    return (maps_clean - maps_adv).pow(2).flatten(1).sum(1).mean()


def arp_total(classification: torch.Tensor, rectify: torch.Tensor, preserve: torch.Tensor,
              alpha: float, beta: float, gamma: float) -> torch.Tensor:
    """ARP total loss (Wu et al., "Attention, Please!"): ``L = alpha L_c + beta L_r + gamma L_p``.

    The authors report the weights 8:4:1 best.

    Arguments:
        classification (torch.Tensor): the classification loss ``L_c``.
        rectify (torch.Tensor): the rectification term ``L_r`` (:func:`rectification`).
        preserve (torch.Tensor): the preservation term ``L_p`` (:func:`preservation`).
        alpha (float): weight of ``L_c``.
        beta (float): weight of ``L_r``.
        gamma (float): weight of ``L_p``.

    Shape:
        - classification, rectify, preserve, returns: scalars (0-dim tensors).

    Examples:
        >>> import torch
        >>> from aad_lib.losses import arp_total
        >>> arp_total(torch.tensor(1.0), torch.tensor(-0.25), torch.tensor(4.0), alpha=8, beta=4, gamma=1)
        tensor(11.)
    """
    return alpha * classification + beta * rectify + gamma * preserve
