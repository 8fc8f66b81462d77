"""Any timm model behind the registry's interface (``timm:<name>``), e.g.
``timm:inception_v3.tf_adv_in1k``, the adversarially trained Inception v3 that the AAD framework's code
(github.com/wscjxky/AAD-framework) lists among its pre-trained models. Normalisation comes from the
checkpoint's pretrained config."""
from __future__ import annotations

import torch
from torch import nn

from ..validation import AadError
from .base import ImageClassifier, Normalize


class TimmClassifier(ImageClassifier):
    """Wraps ``timm.create_model``; penultimate = ``forward_head(..., pre_logits=True)``."""

    def __init__(self, name: str, num_classes: int = 1000, in_channels: int = 3, pretrained: bool = False,
                 mean=None, std=None, **_ignored):
        super().__init__()
        import timm

        if not timm.list_models(name.split(".")[0]) and name not in timm.list_models(pretrained=True):
            raise AadError(f"timm has no model {name!r}; see timm.list_models('*pattern*').")
        try:
            net = timm.create_model(name, pretrained=pretrained, num_classes=num_classes, in_chans=in_channels)
        except (OSError, RuntimeError) as err:
            raise AadError(f"could not create timm model {name!r} (pretrained={pretrained}): {err}. "
                           "Pretrained weights need a network download once (Hugging Face hub cache).") from err
        cfg = getattr(net, "pretrained_cfg", {}) or {}
        if pretrained or mean is None or std is None:  # pretrained weights expect their own statistics
            mean, std = cfg.get("mean", (0.5,) * in_channels), cfg.get("std", (0.5,) * in_channels)
        self.normalize = Normalize(mean, std)
        self.net = net
        self.cam_layer = "net." + _last_conv_block(net)

    def penultimate(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.forward_head(self.net.forward_features(self.normalize(x)), pre_logits=True)

    @property
    def head(self) -> nn.Module:  # type: ignore[override]
        return self.net.get_classifier()


def _last_conv_block(net: nn.Module) -> str:
    """Name of the last feature block timm reports (``feature_info``), else the last conv module."""
    info = getattr(net, "feature_info", None)
    if info:
        return info[-1]["module"]
    convs = [name for name, m in net.named_modules() if isinstance(m, nn.Conv2d)]
    return convs[-1]
