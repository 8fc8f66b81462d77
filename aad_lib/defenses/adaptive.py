"""A defended classifier in the two settings of notebook 05: as the papers evaluate it (grey-box)
and as an adaptive attacker sees it (white-box through BPDA and EOT).

A *defense* here is either a :class:`~aad_lib.defenses.transforms.Transform` (``make("webp",
quality=60)``) or a trained :class:`~aad_lib.defenses.comdefend.ComDefend`.

- :func:`deployed` is what the defender runs: ``model(defense(x))`` with the exact transform (for
  ComDefend, :meth:`ComDefend.purify`: hard bits, test noise). Its accuracy on adversarial images is
  what every table reports. Grey-box (the papers' protocol; the ComDefend authors confirmed theirs in
  issue 16 of their repository): the attacker computes the images on ``model`` alone, then the
  defense is applied.
- :func:`adaptive` is what a white-box attacker differentiates (Athalye, Carlini, Wagner, ICML 2018):
  the same forward pass, with a useful backward pass. Exactly differentiable transforms (flip,
  median, none) are differentiated as they are; a codec or bit-depth reduction gets BPDA (Sec. 4.1)
  with the identity, or with the flip for the flip + codec pipelines (the identity would hand the
  attacker the gradient of the flipped image, mirrored); ComDefend is differentiated through both
  CNNs with a straight-through threshold (:meth:`ComDefend.purify_bpda`). :func:`eot_samples` says
  how many gradients to average per step (EOT, Sec. 4.3): more than one only where the forward
  pass is random (ComDefend's test noise).
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..attacks.bpda import BPDADefended
from ..validation import AadError, check_count
from .comdefend import ComDefend
from .transforms import Defended, Transform, hflip

Defense = Transform | ComDefend

# Transforms whose pipeline flips as well as quantises: the flip is their differentiable part.
_FLIPPING = ("webp+flip", "flip+webp")


def _check_defense(defense: Defense) -> None:
    if not isinstance(defense, (Transform, ComDefend)):
        raise AadError(f"a defense is a defenses.make(...) transform or a ComDefend, got {type(defense).__name__}.")


def is_random(defense: Defense) -> bool:
    """Whether two passes of the same image may differ (ComDefend with test noise), i.e. whether EOT helps.

    Arguments:
        defense (Transform | ComDefend): a ``make(...)`` transform or a trained ComDefend.

    Examples:
        >>> from aad_lib.defenses import CPU_PROFILE, ComDefend, make
        >>> from aad_lib.defenses.adaptive import is_random
        >>> is_random(make("webp", quality=60)), is_random(ComDefend(1, test_sigma=0.0, **CPU_PROFILE))
        (False, False)
        >>> is_random(ComDefend(1, **CPU_PROFILE))  # test noise of std 1.0
        True
    """
    _check_defense(defense)
    return isinstance(defense, ComDefend) and defense.test_sigma > 0


def label(defense: Defense) -> str:
    """A short name for tables: the transform's label, or ``ComDefend (variant)``.

    The plain (paper) ComDefend is just ``ComDefend``.

    Arguments:
        defense (Transform | ComDefend): a ``make(...)`` transform or a trained ComDefend.

    Examples:
        >>> from aad_lib.defenses import CPU_PROFILE, ComDefend, make
        >>> from aad_lib.defenses.adaptive import label
        >>> label(make("webp+flip", quality=60)), label(ComDefend(1, "res_both", **CPU_PROFILE))
        ('WebP q60 + flip', 'ComDefend (res_both)')
    """
    _check_defense(defense)
    if isinstance(defense, ComDefend):
        return "ComDefend" if defense.variant == "plain" else f"ComDefend ({defense.variant})"
    return defense.label


def purify(defense: Defense) -> Callable[[torch.Tensor], torch.Tensor]:
    """The defense's exact forward map (no gradient needed): the transform, or ComDefend's ``purify``.

    Arguments:
        defense (Transform | ComDefend): a ``make(...)`` transform or a trained ComDefend.

    Shape:
        - input of the returned function: (N, C, H, W), values in [0, 1].
        - its output: (N, C, H, W) in [0, 1].

    Examples:
        >>> import torch
        >>> from aad_lib.defenses import make
        >>> from aad_lib.defenses.adaptive import purify
        >>> x = torch.rand(2, 1, 4, 4)
        >>> torch.equal(purify(make("flip"))(x), x.flip(3))
        True
    """
    _check_defense(defense)
    return defense.purify if isinstance(defense, ComDefend) else defense


def deployed(model: nn.Module, defense: Defense) -> Defended:
    """``model(defense(x))`` as the defender runs it: the exact transform, or ComDefend's ``purify``.

    Its accuracy on adversarial images is what every table reports. Grey-box (the papers'
    protocol): the attacker computes the images on ``model`` alone, then the defense is applied
    (see the module docstring).

    Arguments:
        model (nn.Module): the classifier.
        defense (Transform | ComDefend): a ``make(...)`` transform or a trained ComDefend.

    Shape:
        - input: (N, C, H, W), values in [0, 1].
        - output: ``model``'s logits, (N, num_classes).

    Examples:
        >>> import torch
        >>> from aad_lib.defenses import make
        >>> from aad_lib.defenses.adaptive import deployed
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3))
        >>> deployed(model, make("jpeg", quality=75))(torch.rand(2, 1, 8, 8)).shape
        torch.Size([2, 3])
    """
    return Defended(model, purify(defense))


def bpda_approximation(defense: Transform) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The differentiable stand-in of a transform for BPDA (Athalye et al., ICML 2018, Sec. 4.1).

    The flip for the flip + codec pipelines, the identity (``None``) for a codec or bit depth
    alone. A differentiable transform is refused: attack it as it is.

    Arguments:
        defense (Transform): a transform with ``differentiable`` False.

    Shape:
        - input of the returned function: (N, C, H, W), values in [0, 1].
        - its output: (N, C, H, W), the flipped images.

    Examples:
        >>> from aad_lib.defenses import hflip, make
        >>> from aad_lib.defenses.adaptive import bpda_approximation
        >>> bpda_approximation(make("flip+webp", quality=60)) is hflip
        True
        >>> bpda_approximation(make("bitdepth", bits=4)) is None
        True
    """
    if defense.differentiable:
        raise AadError(f"{defense!r} is differentiable; attack it as it is, without BPDA.")
    return hflip if defense.name in _FLIPPING else None


def adaptive(model: nn.Module, defense: Defense) -> nn.Module:
    """The defended model with a useful gradient: BPDA (Athalye et al., ICML 2018, Sec. 4.1) where needed.

    Athalye, Carlini, Wagner, "Obfuscated Gradients Give a False Sense of Security"; EOT is their
    Sec. 4.3. Same outputs as :func:`deployed` (for ComDefend, from the same noise draws), gradients exact
    where the defense is differentiable (flip, median, none), BPDA where it is not (module
    docstring): the identity for a codec or bit depth, the flip for the flip + codec pipelines,
    a straight-through threshold through both CNNs for ComDefend. Pass it to
    ``pgd``/``fgsm``/``bim``/``deepfool`` with ``eot_samples=eot_samples(defense, k)``.

    Arguments:
        model (nn.Module): the classifier.
        defense (Transform | ComDefend): a ``make(...)`` transform or a trained ComDefend.

    Shape:
        - input: (N, C, H, W), values in [0, 1].
        - output: ``model``'s logits, (N, num_classes).

    Examples:
        >>> import torch
        >>> from aad_lib.attacks import pgd
        >>> from aad_lib.defenses import make
        >>> from aad_lib.defenses.adaptive import adaptive, deployed
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3))
        >>> defense, x, y = make("bitdepth", bits=4), torch.rand(2, 1, 8, 8), torch.tensor([0, 2])
        >>> torch.equal(adaptive(model, defense)(x), deployed(model, defense)(x))
        True
        >>> pgd(adaptive(model, defense), x, y, eps=8/255, alpha=2/255, steps=2).shape
        torch.Size([2, 1, 8, 8])
    """
    _check_defense(defense)
    if isinstance(defense, ComDefend):
        return Defended(model, defense.purify_bpda)
    if defense.differentiable:
        return Defended(model, defense)
    return BPDADefended(model, defense, bpda_approximation(defense))


def eot_samples(defense: Defense, samples: int) -> int:
    """Gradients per attack step for EOT (Athalye et al., ICML 2018, Sec. 4.3): ``samples`` if random, else 1.

    1 for a deterministic defense: the expectation over a deterministic transform is the
    transform.

    Arguments:
        defense (Transform | ComDefend): a ``make(...)`` transform or a trained ComDefend.
        samples (int): gradients per step wanted for a random defense, >= 1.

    Examples:
        >>> from aad_lib.defenses import CPU_PROFILE, ComDefend, make
        >>> from aad_lib.defenses.adaptive import eot_samples
        >>> eot_samples(ComDefend(1, **CPU_PROFILE), 8), eot_samples(make("webp", quality=60), 8)
        (8, 1)
    """
    check_count(samples, "samples", 1)
    return samples if is_random(defense) else 1
