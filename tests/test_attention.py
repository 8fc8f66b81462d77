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


# ---------------------------------------------------------------- ARP metrics (hand cases)

def test_gradcam_and_logits_share_one_forward_and_relu_off_keeps_the_sign():
    net = PoolNet()
    cam, logits = attention.gradcam_and_logits(net, X, torch.tensor([1]))
    assert torch.allclose(logits, net(X))
    assert torch.equal(cam, torch.zeros(1, 2, 2))
    # class 1 before the ReLU: sum_k W_1k w_k / HW = -0.5 / 4 per unit of x
    raw = attention.gradcam(net, X, torch.tensor([1]), relu=False)
    assert torch.allclose(raw, -0.125 * X[:, 0])


def test_top_k_mask_breaks_ties_by_position_and_takes_counts_per_map():
    maps = torch.tensor([[[3.0, 1.0], [1.0, 0.0]], [[0.0, 2.0], [5.0, 2.0]]])
    assert torch.equal(attention.top_k_mask(maps, 2), torch.tensor([[[True, True], [False, False]],
                                                                    [[False, True], [True, False]]]))
    assert torch.equal(attention.top_k_mask(maps, torch.tensor([1, 3])).flatten(1).sum(1), torch.tensor([1, 3]))
    with pytest.raises(AadError, match="k must be"):
        attention.top_k_mask(maps, 5)


def test_iou_completeness_and_deviation_hand_cases():
    a = torch.tensor([[[True, True], [False, False]]])
    b = torch.tensor([[[True, False], [True, False]]])
    assert attention.iou(a, b).item() == pytest.approx(1 / 3)
    assert attention.iou(torch.zeros_like(a), torch.zeros_like(a)).item() == 1.0
    # object = the left column (area 2); the map's top-2 cells are the top row: IoU 1/3
    maps = torch.tensor([[[4.0, 3.0], [2.0, 1.0]]])
    assert attention.completeness(maps, b).item() == pytest.approx(1 / 3)
    assert attention.completeness(torch.tensor([[[4.0, 1.0], [3.0, 2.0]]]), b).item() == 1.0
    # deviation: top half (2 of 4 cells) of each map
    shifted = torch.tensor([[[1.0, 4.0], [3.0, 2.0]]])
    assert attention.deviation_iou(maps, shifted, 0.5).item() == pytest.approx(1 / 3)
    assert attention.deviation_iou(maps, maps, 0.5).item() == 1.0


def test_completeness_upsamples_the_map_to_the_mask():
    maps = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])
    mask = torch.zeros(1, 8, 8, dtype=torch.bool)
    mask[0, :4, :4] = True
    assert attention.completeness(maps, mask).item() == 1.0


def test_scatter_measures():
    masks = torch.tensor([[[True, False, True], [False, False, False], [True, True, False]],
                          [[True, True, False], [False, True, False], [False, False, False]]])
    # 8-connectivity: (0,0) alone, (0,2) alone, (2,0)-(2,1) together: 3 regions; the second mask is one region
    assert attention.connected_regions(masks).tolist() == [3, 1]
    uniform, peak = torch.ones(1, 3, 3), torch.zeros(1, 3, 3)
    peak[0, 1, 1] = 5
    assert attention.spatial_entropy(uniform).item() == pytest.approx(1.0)
    assert attention.spatial_entropy(peak).item() == pytest.approx(0.0)
    two = torch.zeros(1, 2, 2)
    two[0, 0] = 1  # two equal cells of four: log 2 / log 4
    assert attention.spatial_entropy(two).item() == pytest.approx(0.5)
    assert attention.spatial_entropy(torch.zeros(1, 2, 2)).item() == 1.0


def test_attention_deviation_attack_moves_attention_inside_the_ball(tiny_model, digits):
    x, y = digits
    before = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    x_adv = attention.attention_deviation_attack(tiny_model, x, y, 0.3, 0.075, 3)
    assert (x_adv - x).abs().max() <= 0.3 + 1e-6 and 0 <= x_adv.min() and x_adv.max() <= 1
    assert all(p.grad is None for p in tiny_model.parameters()) and not tiny_model.training
    assert all(torch.equal(before[k], v) for k, v in tiny_model.state_dict().items())
    region = (attention.normalize_maps(attention.gradcam(tiny_model, x, y)) > 0.2).float()

    def objective(images):
        return (region - attention.normalize_maps(attention.gradcam(tiny_model, images, y))).abs().mean().item()

    assert objective(x_adv) > objective(x)
    with torch.no_grad():  # callers inside no_grad still get an attack
        assert torch.equal(attention.attention_deviation_attack(tiny_model, x, y, 0.3, 0.075, 3), x_adv)
