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
    """Whether two passes of the same image may differ (ComDefend with test noise)."""
    _check_defense(defense)
    return isinstance(defense, ComDefend) and defense.test_sigma > 0


def label(defense: Defense) -> str:
    """A short name for tables: the transform's label, or ``ComDefend (variant)``."""
    _check_defense(defense)
    if isinstance(defense, ComDefend):
        return "ComDefend" if defense.variant == "plain" else f"ComDefend ({defense.variant})"
    return defense.label


def purify(defense: Defense) -> Callable[[torch.Tensor], torch.Tensor]:
    """The defense's exact forward map (no gradient needed): the transform, or ComDefend's ``purify``."""
    _check_defense(defense)
    return defense.purify if isinstance(defense, ComDefend) else defense


def deployed(model: nn.Module, defense: Defense) -> Defended:
    """``model(defense(x))`` as the defender runs it (see the module docstring)."""
    return Defended(model, purify(defense))


def bpda_approximation(defense: Transform) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The differentiable stand-in of a non-differentiable transform for BPDA: the flip for the
    flip + codec pipelines, the identity (``None``) for a codec or bit depth alone."""
    if defense.differentiable:
        raise AadError(f"{defense!r} is differentiable; attack it as it is, without BPDA.")
    return hflip if defense.name in _FLIPPING else None


def adaptive(model: nn.Module, defense: Defense) -> nn.Module:
    """The defended model with a useful gradient: same outputs as :func:`deployed` (for ComDefend,
    from the same noise draws), gradients exact where the defense is differentiable, BPDA where it
    is not (module docstring). Pass it to ``pgd``/``fgsm``/``bim``/``deepfool`` with
    ``eot_samples=eot_samples(defense, k)``."""
    _check_defense(defense)
    if isinstance(defense, ComDefend):
        return Defended(model, defense.purify_bpda)
    if defense.differentiable:
        return Defended(model, defense)
    return BPDADefended(model, defense, bpda_approximation(defense))


def eot_samples(defense: Defense, samples: int) -> int:
    """Gradients per attack step: ``samples`` for a random defense, 1 for a deterministic one (the
    expectation over a deterministic transform is the transform)."""
    check_count(samples, "samples", 1)
    return samples if is_random(defense) else 1
