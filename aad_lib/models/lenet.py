"""LeNet-style MNIST networks: conv5-pool-conv5-pool-fc-fc."""
from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from .base import ImageClassifier, Normalize


class LeNet(ImageClassifier):
    """Two 5x5 conv layers (``channels``) with 2x2 max-pooling, one hidden fc layer (``hidden``).

    ``LeNet(channels=(32, 64), hidden=1024)`` is the MNIST model of Madry et al. that the AALP
    paper uses; ``(16, 32), 256`` is the CPU-profile variant (a quarter of the compute).
    """

    cam_layer = "body.conv"

    def __init__(self, num_classes: int = 10, in_channels: int = 1, size: int = 28,
                 channels: tuple[int, int] = (32, 64), hidden: int = 1024,
                 mean: Sequence[float] = (0.1307,), std: Sequence[float] = (0.3081,)):
        super().__init__()
        c1, c2 = channels
        self.normalize = Normalize(mean, std)
        conv = nn.Sequential(
            nn.Conv2d(in_channels, c1, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        )
        self.body = nn.Sequential()
        self.body.add_module("conv", conv)
        self.body.add_module("flatten", nn.Flatten())
        self.body.add_module("fc", nn.Linear(c2 * (size // 4) ** 2, hidden))
        self.body.add_module("relu", nn.ReLU(inplace=True))
        self.head = nn.Linear(hidden, num_classes)
