"""Grad-CAM (Eq. 6 of the AALP paper) against a model whose map can be computed by hand."""
import pytest
import torch
from torch import nn

from aad_lib import attention
from aad_lib.validation import AadError


class PoolNet(nn.Module):
    """A 1x1 conv (1 -> 2 channels, weights 1 and 2) named ``features``, global average pooling,
    and a linear head W; so A^k = w_k x, alpha_k^c = W_ck / (H W), CAM^c = ReLU(sum_k W_ck w_k x / HW)."""

    cam_layer = "features"
    num_classes = 2

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Conv2d(1, 2, 1, bias=False)
        self.head = nn.Linear(2, 2, bias=False)
        with torch.no_grad():
            self.features.weight.copy_(torch.tensor([1.0, 2.0]).view(2, 1, 1, 1))
            self.head.weight.copy_(torch.tensor([[1.0, 1.0], [-1.0, 0.25]]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(dim=(2, 3)))


X = torch.tensor([[[[0.0, 0.5], [1.0, 0.25]]]])


def test_gradcam_hand_case():
    net = PoolNet()
    # class 0: sum_k W_0k w_k = 1*1 + 1*2 = 3 -> CAM = 3 x / 4
    cam0 = attention.gradcam(net, X, torch.tensor([0]))
    assert torch.allclose(cam0, 0.75 * X[:, 0])
    # class 1: -1*1 + 0.25*2 = -0.5 -> negative everywhere, ReLU -> 0
    assert torch.equal(attention.gradcam(net, X, torch.tensor([1])), torch.zeros(1, 2, 2))
    # default target = predicted class (class 0 here: logits 3*mean(x) > -0.5*mean(x))
    assert torch.equal(attention.gradcam(net, X), cam0)
    assert net.features.weight.grad is None and net.head.weight.grad is None


def test_gradcam_is_differentiable_with_create_graph():
    net = PoolNet()
    x = X.clone().requires_grad_(True)
    cam = attention.gradcam(net, x, torch.tensor([0]), create_graph=True)
    (grad,) = torch.autograd.grad(cam.sum(), x)
    # d/dx sum(0.75 x) where x > 0 (ReLU passes), 0 where the map is 0
    assert torch.allclose(grad, torch.tensor([[[[0.0, 0.75], [0.75, 0.75]]]]))
    assert not attention.gradcam(net, X, torch.tensor([0])).requires_grad


def test_gradcam_upsamples_restores_mode_and_checks_inputs(tiny_model, digits):
    x, y = digits
    tiny_model.train()
    maps = attention.gradcam(tiny_model, x, y, size=(28, 28))
    assert maps.shape == (32, 28, 28) and (maps >= 0).all() and tiny_model.training
    assert attention.gradcam(tiny_model, x, y).shape == (32, 7, 7)
    with pytest.raises(AadError, match="Did you mean"):
        attention.gradcam(tiny_model, x, y, layer="body.cnv")
    with pytest.raises(AadError):
        attention.gradcam(tiny_model, x * 3, y)


def test_area_above_hand_case():
    maps = torch.tensor([[[0.0, 1.0], [0.5, 0.4]], [[0.0, 0.0], [0.0, 0.0]]])
    # map 0: max 1, positions >= 0.5: {1.0, 0.5} -> 2 of 4; an all-zero map has area 0
    assert attention.area_above(maps, 0.5).tolist() == [0.5, 0.0]
