"""ResNets for 32x32 colour images: ResNet9 (SVHN in the AALP paper) and ResNet32 (CIFAR-10)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .base import ImageClassifier, Normalize


def _conv_bn(cin: int, cout: int, pool: bool = False) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class _Residual(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.block = nn.Sequential(_conv_bn(channels, channels), _conv_bn(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class ResNet9(ImageClassifier):
    """The DAWNBench ResNet9 (Page, 2018): prep 64, [128 + residual], 256, [512 + residual], pool."""

    cam_layer = "body.layer3"

    def __init__(self, num_classes: int = 10, in_channels: int = 3, size: int = 32,
                 mean: Sequence[float] = (0.5,) * 3, std: Sequence[float] = (0.25,) * 3, width: int = 64):
        super().__init__()
        w = width
        self.normalize = Normalize(mean, std)
        self.body = nn.Sequential()
        self.body.add_module("prep", _conv_bn(in_channels, w))
        self.body.add_module("layer1", nn.Sequential(_conv_bn(w, 2 * w, pool=True), _Residual(2 * w)))
        self.body.add_module("layer2", _conv_bn(2 * w, 4 * w, pool=True))
        self.body.add_module("layer3", nn.Sequential(_conv_bn(4 * w, 8 * w, pool=True), _Residual(8 * w)))
        self.body.add_module("pool", nn.AdaptiveMaxPool2d(1))
        self.body.add_module("flatten", nn.Flatten())
        self.head = nn.Linear(8 * w, num_classes)


class _BasicBlock(nn.Module):
    """He et al. (2016) CIFAR basic block with the parameter-free option-A shortcut."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.stride, self.pad = stride, cout - cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x
        if self.stride != 1 or self.pad:
            shortcut = F.pad(x[:, :, :: self.stride, :: self.stride], (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return F.relu(out + shortcut)


class CifarResNet(ImageClassifier):
    """ResNet-(6n+2) for CIFAR (He et al. 2016, Sec. 4.2): 16/32/64 channels, n blocks each."""

    cam_layer = "body.stage3"

    def __init__(self, n: int = 5, num_classes: int = 10, in_channels: int = 3, size: int = 32,
                 mean: Sequence[float] = (0.5,) * 3, std: Sequence[float] = (0.25,) * 3):
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.body = nn.Sequential()
        self.body.add_module("stem", _conv_bn(in_channels, 16))
        cin = 16
        for i, cout in enumerate((16, 32, 64), start=1):
            blocks = [_BasicBlock(cin if j == 0 else cout, cout, 2 if (j == 0 and i > 1) else 1) for j in range(n)]
            self.body.add_module(f"stage{i}", nn.Sequential(*blocks))
            cin = cout
        self.body.add_module("pool", nn.AdaptiveAvgPool2d(1))
        self.body.add_module("flatten", nn.Flatten())
        self.head = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)
