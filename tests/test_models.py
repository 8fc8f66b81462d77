import pytest
import torch

from aad_lib import models
from aad_lib.validation import AadError


@pytest.mark.parametrize("name, channels, size, width", [
    ("lenet", 1, 28, 1024), ("lenet_small", 1, 28, 256), ("resnet9", 3, 32, 512), ("resnet32", 3, 32, 64),
])
def test_registry_models_expose_penultimate_features(name, channels, size, width):
    torch.manual_seed(0)
    m = models.create(name, num_classes=10, in_channels=channels, size=size).eval()
    x = torch.rand(2, channels, size, size)
    feats = m.penultimate(x)
    assert feats.shape == (2, width) == (2, m.num_features)
    assert torch.allclose(m(x), m.head(feats))
    assert m.get_submodule(m.cam_layer) is not None


def test_resnet32_has_32_layers():
    m = models.create("resnet32", in_channels=3, size=32)
    convs = [x for x in m.modules() if isinstance(x, torch.nn.Conv2d)]
    assert len(convs) + 1 == 32  # 31 conv layers + the fc layer (6n+2 with n = 5)


def test_normalisation_lives_inside_the_model():
    m = models.create("lenet_small", mean=(0.5,), std=(0.25,))
    x = torch.full((1, 1, 28, 28), 0.5)
    assert torch.allclose(m.normalize(x), torch.zeros_like(x))


def test_timm_models_through_the_registry():
    m = models.create("timm:resnet18", num_classes=10, in_channels=3, size=32).eval()
    x = torch.rand(2, 3, 32, 32)
    assert m(x).shape == (2, 10) and m.penultimate(x).shape == (2, 512)
    assert torch.allclose(m(x), m.head(m.penultimate(x)), atol=1e-5)
    assert m.cam_layer.startswith("net.")


def test_bad_model_requests_are_clear():
    with pytest.raises(AadError, match="Did you mean 'lenet'"):
        models.create("lenett")
    with pytest.raises(AadError, match="num_classes"):
        models.create("lenet", num_classes=1)
    with pytest.raises(AadError, match="one per channel"):
        models.create("resnet9", in_channels=3, mean=(0.5,), std=(0.2,))
    with pytest.raises(AadError, match="timm has no model"):
        models.create("timm:not_a_model_xyz")


@pytest.mark.parametrize("bad, message", [
    (torch.rand(2, 3, 28, 28), r"shape \(N, 1, H, W\)"),
    (torch.rand(1, 28, 28), r"shape \(N, 1, H, W\)"),
    ((torch.rand(2, 1, 28, 28) * 255).to(torch.uint8), "x.float\\(\\) / 255"),
    ([[0.0]], "torch.Tensor"),
])
def test_models_refuse_images_of_the_wrong_layout(bad, message):
    model = models.create("lenet_small")
    with pytest.raises(AadError, match=message):
        model(bad)
