"""The interface every model in the registry has: [0,1] input, normalisation inside, and the
penultimate features exposed (Guided Dropout and the feature analysis act on them)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..validation import AadError


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel, as the model's first layer (eps stays in pixel units)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_layout(x, self.mean.shape[1])
        return (x - self.mean) / self.std


def check_layout(x: torch.Tensor, channels: int) -> None:
    """What every forward pass checks for free (no pass over the data): a floating (N, C, H, W)
    tensor with the model's C. Range and NaN checks cost a pass over the data, so the entry
    points (attacks, evaluation, Grad-CAM, defenses) make them, not every forward of an attack loop."""
    if not isinstance(x, torch.Tensor):
        raise AadError(f"the model takes a torch.Tensor of images, got {type(x).__name__}.")
    if x.dim() != 4 or x.shape[1] != channels or not x.is_floating_point():
        raise AadError(f"the model takes floating images of shape (N, {channels}, H, W) in [0, 1], got "
                       f"{x.dtype} {tuple(x.shape)}" + ("; convert uint8 images with x.float() / 255." if not
                                                        x.is_floating_point() else "."))


class ImageClassifier(nn.Module):
    """``logits = head(penultimate(x))`` with ``x`` in [0, 1].

    Subclasses set ``self.normalize``, ``self.body`` (normalised image -> penultimate features,
    a flat vector per sample), ``self.head`` (a Linear layer) and ``cam_layer`` (the dotted name of
    the last convolutional block, where Grad-CAM reads its activations).
    """

    cam_layer: str = ""

    def penultimate(self, x: torch.Tensor) -> torch.Tensor:
        """Features of the layer before the logits, shape (N, D)."""
        return self.body(self.normalize(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.penultimate(x))

    @property
    def num_features(self) -> int:
        return self.head.in_features

    @property
    def num_classes(self) -> int:
        return self.head.out_features
