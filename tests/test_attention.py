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


class PositionNet(nn.Module):
    """A 1x1 conv ``features`` giving A^0 = x and A^1 = 1 - x, then a linear head on the flattened
    2x2 activation whose weight differs per position and per channel: y^c = sum_kij W^c_kij A^k_ij, so
    dy^c/dA^k_ij = W^c_kij varies over positions and only its spatial mean alpha_k^c enters Grad-CAM."""

    cam_layer = "features"
    num_classes = 2
    # W[c][k] is the 2x2 weight of class c on channel k; its mean is alpha_k^c.
    W = [[[[4.0, 0.0], [2.0, -2.0]], [[-1.0, -3.0], [1.0, 1.0]]],     # class 0: alpha = (1, -0.5)
         [[[0.0, 2.0], [-1.0, 3.0]], [[3.0, 1.0], [2.0, 2.0]]]]       # class 1: alpha = (1, 2)

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Conv2d(1, 2, 1)
        self.head = nn.Linear(8, 2, bias=False)
        with torch.no_grad():
            self.features.weight.copy_(torch.tensor([1.0, -1.0]).view(2, 1, 1, 1))
            self.features.bias.copy_(torch.tensor([0.0, 1.0]))
            self.head.weight.copy_(torch.tensor(self.W).view(2, 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


# X1: A^0 = [[0, .5], [1, .25]], A^1 = [[1, .5], [0, .75]]; X2: A^0 = [[1, 0], [1, 0]], A^1 = [[0, 1], [0, 1]]
X12 = torch.tensor([[[[0.0, 0.5], [1.0, 0.25]]], [[[1.0, 0.0], [1.0, 0.0]]]])
# Hand maps, sum_k alpha_k^c A^k before the ReLU:
#   class 0 (A^0 - 0.5 A^1): X1 [[-0.5, 0.25], [1, -0.125]], X2 [[1, -0.5], [1, -0.5]]
#   class 1 (A^0 + 2 A^1 = 2 - x): X1 [[2, 1.5], [1, 1.75]], X2 [[1, 2], [1, 2]]
# Without the spatial mean (sum_k W^c_k * A^k, position by position) class 0 at X1 would be
# [[4*0 - 1*1, 0*.5 - 3*.5], [2*1 + 1*0, -2*.25 + 1*.75]] = [[-1, -1.5], [2, 0.25]].
RAW0 = torch.tensor([[[-0.5, 0.25], [1.0, -0.125]], [[1.0, -0.5], [1.0, -0.5]]])
RAW1 = torch.tensor([[[2.0, 1.5], [1.0, 1.75]], [[1.0, 2.0], [1.0, 2.0]]])


def test_gradcam_averages_position_dependent_gradients():
    """L^c = ReLU(sum_k alpha_k^c A^k), alpha_k^c = mean_ij dy^c/dA^k_ij, with dy/dA different per position."""
    net = PositionNet()
    both0 = attention.gradcam(net, X12, torch.tensor([0, 0]))
    # the ReLU zeroes the negative cells: X1 [[0, .25], [1, 0]], X2 [[1, 0], [1, 0]]
    assert torch.allclose(both0, RAW0.clamp(min=0), atol=1e-6)
    assert torch.allclose(attention.gradcam(net, X12, torch.tensor([0, 0]), relu=False), RAW0, atol=1e-6)
    # a per-sample target: X1 class 0, X2 class 1
    mixed = attention.gradcam(net, X12, torch.tensor([0, 1]))
    assert torch.allclose(mixed, torch.stack([RAW0[0].clamp(min=0), RAW1[1]]), atol=1e-6)
    # default target = the predicted class. Logits y^c = sum W^c * A:
    #   X1: y^0 = (-1 - 1.5 + 2 + 0.25) = -0.25, y^1 = (0 + 1 - 1 + .75) + (3 + .5 + 0 + 1.5) = 5.75 -> class 1
    #   X2: y^0 = (4 + 2) + (-3 + 1) = 4, y^1 = (0 - 1) + (1 + 2) = 2 -> class 0
    cam, logits = attention.gradcam_and_logits(net, X12)
    assert torch.allclose(logits, torch.tensor([[-0.25, 5.75], [4.0, 2.0]]), atol=1e-6)
    assert torch.allclose(cam, torch.stack([RAW1[0], RAW0[1].clamp(min=0)]), atol=1e-6)
    # the layer named explicitly is the default cam_layer
    assert torch.equal(attention.gradcam(net, X12, layer="features"), cam)


def test_gradcam_upsamples_the_relu_map_bilinearly():
    """size=(4, 4): bilinear, align_corners=False, of ReLU(sum_k alpha_k A^k) (the ReLU before the upsampling)."""
    net = PositionNet()
    # 2 -> 4, align_corners=False: source coordinate (i + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25, clamped
    # to [0, 1]: output rows are (a0, .75 a0 + .25 a1, .25 a0 + .75 a1, a1); the same along columns.
    u = torch.tensor([[1.0, 0.0], [0.75, 0.25], [0.25, 0.75], [0.0, 1.0]])
    up = attention.gradcam(net, X12[:1], torch.tensor([0]), size=(4, 4))
    m = RAW0[0].clamp(min=0)                                       # [[0, .25], [1, 0]]
    # e.g. row 1 (.75 * [0, .25] + .25 * [1, 0] = [.25, .1875]) spread along columns:
    # [.25, .75*.25 + .25*.1875, .25*.25 + .75*.1875, .1875] = [.25, .234375, .203125, .1875]
    assert torch.allclose(up[0, 1], torch.tensor([0.25, 0.234375, 0.203125, 0.1875]), atol=1e-6)
    assert torch.allclose(up[0], u @ m @ u.T, atol=1e-6)


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
    with pytest.raises(AadError, match=r"must lie in \[0, 1\]"):
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


# ---------------------------------------------------------------- metric details (defaults, edges, batches)

def test_area_above_default_threshold_is_one_half_and_zero_maps_have_no_area():
    """The default threshold is 0.5 (a call without it equals the explicit 0.5 call, not 1.5's empty
    area); with threshold 0 an all-zero map still has area 0 while a map beside it has area 1, per map."""
    maps = torch.tensor([[[0.0, 1.0], [0.5, 0.4]], [[0.0, 0.0], [0.0, 0.0]]])
    # map 0 at 0.5: {1.0, 0.5} -> 2/4; at 1.5 nothing would reach 1.5 * max -> 0
    assert attention.area_above(maps).tolist() == attention.area_above(maps, 0.5).tolist() == [0.5, 0.0]
    assert attention.area_above(maps, 1.5).tolist() == [0.0, 0.0]
    # threshold 0: every cell of map 0 is >= 0 * max -> 4/4; the zero map is masked by its own max (0 > 0 false)
    assert attention.area_above(maps, 0.0).tolist() == [1.0, 0.0]
    assert attention.area_above(maps[1:], 0.0).tolist() == [0.0]


def test_completeness_and_connected_regions_reject_masks_of_the_wrong_rank_or_type():
    """A boolean mask of rank 2 is refused as well as a float mask of rank 3 (either fault alone)."""
    maps = torch.tensor([[[4.0, 3.0], [2.0, 1.0]]])
    with pytest.raises(AadError, match=r"gt_masks must be boolean \(N, H, W\)"):
        attention.completeness(maps, torch.ones(2, 2, dtype=torch.bool))
    with pytest.raises(AadError, match=r"gt_masks must be boolean \(N, H, W\)"):
        attention.completeness(maps, torch.ones(1, 2, 2))
    with pytest.raises(AadError, match=r"masks must be boolean \(N, H, W\)"):
        attention.connected_regions(torch.ones(2, 2, dtype=torch.bool))
    with pytest.raises(AadError, match=r"masks must be boolean \(N, H, W\)"):
        attention.connected_regions(torch.ones(1, 2, 2))


def test_completeness_keeps_a_map_already_at_mask_size_unconverted():
    """A float64 map at the mask's size is used as is: 1 + 1e-10 beats 1 (in float32 both round to 1.0,
    eps 1.2e-7, and the tie would go to the earlier cell), so the top-1 cell is (0, 1), the mask's cell."""
    maps = torch.tensor([[[1.0, 1.0 + 1e-10], [0.0, 0.0]]], dtype=torch.float64)
    mask = torch.tensor([[[False, True], [False, False]]])
    assert attention.completeness(maps, mask).item() == 1.0
    # the same map in float32 ties and loses: top-1 = (0, 0), IoU 0 / 2 = 0
    assert attention.completeness(maps.float(), mask).item() == 0.0


def test_connected_regions_are_8_connected_and_counted_as_long():
    """Two diagonal cells form one 8-connected region (two under 4-connectivity); counts are int64,
    also for an empty batch."""
    diagonal = torch.tensor([[[True, False], [False, True]], [[False, True], [True, False]]])
    counts = attention.connected_regions(diagonal)
    assert counts.tolist() == [1, 1] and counts.dtype == torch.long
    empty = attention.connected_regions(torch.zeros(0, 2, 2, dtype=torch.bool))
    assert empty.shape == (0,) and empty.dtype == torch.long


def test_spatial_entropy_normalises_each_map_by_its_own_small_total():
    """p = map / its own sum even when the sum is below 1, per map of a batch: one cell of 0.5 is p = 1
    -> entropy 0 (not 1, and not -0.5 ln 0.5 / ln 4 = 0.25 with p unnormalised); a uniform 3x3 of 0.1 is 1."""
    peak = torch.zeros(3, 2, 2)
    peak[0, 0, 0] = 0.5
    peak[1] = 0.25                   # uniform over 4 cells, total 1: entropy ln 4 / ln 4 = 1
    peak[2, 1, 1] = 3.0              # one cell, total 3: entropy 0
    assert attention.spatial_entropy(peak).tolist() == pytest.approx([0.0, 1.0, 0.0], abs=1e-6)
    assert attention.spatial_entropy(peak[:1]).item() == pytest.approx(0.0, abs=1e-6)
    # uniform 0.1 on 3x3: p = 0.1 / 0.9 = 1/9 each -> ln 9 / ln 9 = 1
    assert attention.spatial_entropy(torch.full((1, 3, 3), 0.1)).item() == pytest.approx(1.0, abs=1e-6)
