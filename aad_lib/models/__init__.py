"""Model registry: ``create(name, num_classes, in_channels, ...)`` returns an
:class:`~aad_lib.models.base.ImageClassifier` taking [0, 1] images.

Names: ``lenet`` (the paper's MNIST LeNet, 32/64 conv, 1024 fc), ``lenet_small`` (16/32 conv,
256 fc, the CPU profile), ``resnet9`` (SVHN), ``resnet32`` (CIFAR-10, 6n+2 with n=5), and
``timm:<name>`` for any timm model (``pretrained=True`` needs the weights once from the hub), and
``module:<python.path>:<callable>`` for a user's own ``nn.Module`` factory
(:mod:`~aad_lib.models.module_models`: normalisation inside the user's model, checked by one forward
pass against the requested shape and classes).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from ..validation import AadError, choose
from .base import ImageClassifier, Normalize
from .lenet import LeNet
from .module_models import capabilities, check_model, create_module_model, is_module_name, parse, require, resolve
from .resnet import CifarResNet, ResNet9
from .timm_models import TimmClassifier

_REGISTRY: dict[str, Callable[..., ImageClassifier]] = {
    "lenet": lambda **kw: LeNet(channels=(32, 64), hidden=1024, **kw),
    "lenet_small": lambda **kw: LeNet(channels=(16, 32), hidden=256, **kw),
    "resnet9": lambda **kw: ResNet9(**kw),
    "resnet32": lambda **kw: CifarResNet(n=5, **kw),
}


def names() -> list[str]:
    """Registered model names (plus any ``timm:<name>`` and ``module:<path>:<callable>``)."""
    return sorted(_REGISTRY) + ["timm:<name>", "module:<path>:<callable>"]


def create(name: str, num_classes: int = 10, in_channels: int = 1, size: int = 28,
           mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
           pretrained: bool = False) -> ImageClassifier | nn.Module:
    """Build model ``name`` for ``in_channels`` x ``size`` x ``size`` images in [0, 1].

    ``mean``/``std`` set the normalisation layer (default: 0.5/0.25 per channel); pass the
    dataset's statistics (``aad_lib.data.info(name)``). A ``module:<path>:<callable>`` model
    normalises inside itself (``mean``/``std`` are ignored), has no pretrained weights here (its
    factory loads any), and is checked by one forward pass (:func:`check_model`).
    """
    if not isinstance(num_classes, int) or num_classes < 2:
        raise AadError(f"num_classes must be an integer >= 2, got {num_classes!r}.")
    if not isinstance(in_channels, int) or in_channels < 1:
        raise AadError(f"in_channels must be a positive integer, got {in_channels!r}.")
    if is_module_name(name):
        if pretrained:
            raise AadError(f"model {name!r} is the user's own: pretrained=True does not apply (its factory loads "
                           "any weights it has).")
        user_model = create_module_model(name, num_classes=num_classes, in_channels=in_channels, size=size)
        check_model(user_model, in_channels, size, num_classes, name=name)
        return user_model
    if mean is None or std is None:
        mean, std = (0.5,) * in_channels, (0.25,) * in_channels
    if len(mean) != in_channels or len(std) != in_channels:
        raise AadError(f"mean/std need {in_channels} values (one per channel), got {len(mean)}/{len(std)}.")
    if name.startswith("timm:"):
        model = TimmClassifier(name[5:], num_classes=num_classes, in_channels=in_channels,
                               pretrained=pretrained, mean=mean, std=std)
        return model.to(memory_format=torch.channels_last)
    choose(name, list(_REGISTRY) + ["timm:<name>"], "model")
    if pretrained:
        raise AadError(f"model {name!r} has no pretrained weights; train it with `aad train`.")
    if name.startswith("lenet") and size % 4:
        raise AadError(f"{name} needs an image size divisible by 4, got {size}.")
    model = _REGISTRY[name](num_classes=num_classes, in_channels=in_channels, size=size, mean=mean, std=std)
    # channels_last conv weights: oneDNN's fastest CPU path (PGD on lenet_small 1.37x faster here,
    # measured by benchmarks/); the same values, only the memory layout differs.
    return model.to(memory_format=torch.channels_last)


def for_dataset(name: str, dataset: str) -> ImageClassifier:
    """Model ``name`` shaped for dataset ``dataset`` (channels, size, classes, normalisation)."""
    from ..data import info

    d = info(dataset)
    return create(name, num_classes=d.num_classes, in_channels=d.channels, size=d.size, mean=d.mean, std=d.std)


__all__ = ["ImageClassifier", "Normalize", "LeNet", "ResNet9", "CifarResNet", "TimmClassifier",
           "create", "for_dataset", "names", "capabilities", "check_model", "create_module_model",
           "is_module_name", "parse", "require", "resolve"]
