"""Each loss equation against a case computed by hand."""
import math

import pytest
import torch

from aad_lib import losses
from aad_lib.attacks import objectives


def test_logit_pairing_is_mean_squared_l2_over_samples():
    z = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    z_adv = torch.tensor([[0.0, 0.0], [3.0, 4.0]])
    # ||(1,2)||^2 = 5, ||(-3,-4)||^2 = 25 -> mean 15
    assert losses.logit_pairing(z, z_adv).item() == pytest.approx(15.0)
    # weighted (AALP Eq. 9 form): (0.2*5 + 1.0*25)/2 = 13
    assert losses.logit_pairing(z, z_adv, torch.tensor([0.2, 1.0])).item() == pytest.approx(13.0)


def test_trades_kl_matches_hand_computation():
    z = torch.tensor([[0.0, 0.0]])                 # p = (0.5, 0.5)
    z_adv = torch.tensor([[math.log(3.0), 0.0]])   # q = (0.75, 0.25)
    expected = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
    assert losses.trades_kl(z, z_adv).item() == pytest.approx(expected, rel=1e-6)
    assert losses.trades_kl(z, z).item() == pytest.approx(0.0, abs=1e-7)


def test_true_class_confidence():
    z = torch.tensor([[0.0, math.log(3.0)], [0.0, 0.0]])
    assert losses.true_class_confidence(z, torch.tensor([1, 0])).tolist() == pytest.approx([0.75, 0.5])


def test_cw_margin_hand_case():
    z = torch.tensor([[5.0, 1.0, 3.0], [0.0, 9.0, 1.0]])
    y = torch.tensor([0, 2])
    # sample 0: true 5, best other 3 -> -(5-3+k); sample 1: true 1, best other 9 -> -(1-9+k)
    assert objectives.cw_margin(z, y, kappa=0.0).item() == pytest.approx(-(2.0 + 0.0))  # second clamps to 0
    assert objectives.cw_margin(z, y, kappa=50.0).item() == pytest.approx(-(52.0 + 42.0))


def test_cross_entropy_is_summed_not_averaged():
    z = torch.zeros(4, 10)
    y = torch.zeros(4, dtype=torch.long)
    assert objectives.cross_entropy(z, y).item() == pytest.approx(4 * math.log(10))


def test_kl_objective_equals_trades_term_times_batch():
    torch.manual_seed(0)
    z, z_adv = torch.randn(3, 5), torch.randn(3, 5)
    p = torch.softmax(z, 1)
    assert objectives.kl_from(z_adv, p).item() == pytest.approx(3 * losses.trades_kl(z, z_adv).item(), rel=1e-5)


def test_adaptive_logit_pairing_weights_by_detached_clean_confidence():
    # clean logits: sample 0 p_y = 0.75 (y=1), sample 1 p_y = 0.5; squared distances 5 and 25
    z = torch.tensor([[0.0, math.log(3.0)], [0.0, 0.0]], requires_grad=True)
    z_adv = z.detach() + torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    y = torch.tensor([1, 0])
    loss = losses.adaptive_logit_pairing(z, z_adv, y)
    assert loss.item() == pytest.approx((0.75 * 5 + 0.5 * 25) / 2)
    # the weight is a constant: d/dz of w_i ||z_i - z'_i||^2 / N = 2 w_i (z_i - z'_i) / N
    (grad,) = torch.autograd.grad(loss, z)
    expected = torch.tensor([[2 * 0.75 * -1.0, 2 * 0.75 * -2.0], [2 * 0.5 * -3.0, 2 * 0.5 * -4.0]]) / 2
    assert torch.allclose(grad, expected)


def test_aalp_total_is_classification_plus_lambda_pairing():
    assert losses.aalp_total(torch.tensor(0.7), torch.tensor(2.0), 0.25).item() == pytest.approx(1.2)


def test_arp_mask_and_masked_images():
    maps = torch.tensor([[[1.0, 0.0], [0.5, 0.1]]])  # mean 0.4: cells 1.0 and 0.5 are attended
    mask = losses.attention_mask(maps)
    assert torch.equal(mask, torch.tensor([[[1.0, 0.0], [1.0, 0.0]]]))
    x = torch.full((1, 1, 2, 2), 0.8)
    assert torch.equal(losses.masked_images(x, mask), torch.tensor([[[[0.0, 0.8], [0.0, 0.8]]]]))


def test_arp_mask_thresholds_each_image_at_its_own_mean_strictly():
    """Att(x) = 1[CAM(x) > mean CAM(x)] per image: a cell equal to its image's mean is not attended."""
    maps = torch.tensor([
        [[1.0, 0.0], [0.5, 0.5]],        # mean 2 / 4 = 0.5: the two 0.5 cells tie, only 1.0 is attended
        [[0.0, 0.25], [0.125, 0.125]],   # mean 0.5 / 4 = 0.125: ties again, only 0.25 is attended
        [[3.0, 6.0], [3.0, 0.0]],        # mean 12 / 4 = 3: ties at 3, only 6 is attended
    ])
    expected = torch.tensor([[[1.0, 0.0], [0.0, 0.0]], [[0.0, 1.0], [0.0, 0.0]], [[0.0, 1.0], [0.0, 0.0]]])
    # '>=' would attend the ties; the batch mean (14.5 / 12 = 1.21) would attend nothing in the first
    # two images and both 3s in the third.
    assert torch.equal(losses.attention_mask(maps), expected)
    # one image's mask does not depend on the images beside it
    for i in range(3):
        assert torch.equal(losses.attention_mask(maps[i:i + 1]), expected[i:i + 1])
    assert not losses.attention_mask(maps.requires_grad_(True)).requires_grad


def test_arp_rectification_preservation_and_total_hand_cases():
    z = torch.tensor([[0.0, 0.0]])           # softmax 0.5, 0.5
    z_m = torch.tensor([[math.log(3.0), 0.0]])  # softmax 0.75, 0.25
    assert losses.rectification(z, z_m).item() == pytest.approx(-(0.25 ** 2 + 0.25 ** 2) / 2)
    a = torch.tensor([[[1.0, 0.0]], [[0.0, 0.0]]])
    b = torch.tensor([[[0.0, 0.0]], [[0.5, 0.5]]])
    assert losses.preservation(a, b).item() == pytest.approx((1.0 + 0.5) / 2)
    total = losses.arp_total(torch.tensor(1.0), torch.tensor(-0.5), torch.tensor(2.0), 8, 4, 1)
    assert total.item() == pytest.approx(8 - 2 + 2)


def test_softmax_losses_name_the_class_dimension():
    """rectification and trades_kl give softmax/log_softmax an explicit dim (no implicit-dim warning)."""
    import warnings

    z = torch.tensor([[0.0, 0.0]])
    z_m = torch.tensor([[math.log(3.0), 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # the hand cases above, now with every warning an error
        assert losses.rectification(z, z_m).item() == pytest.approx(-(0.25 ** 2 + 0.25 ** 2) / 2)
        assert losses.rectification(z_m, z).item() == pytest.approx(-(0.25 ** 2 + 0.25 ** 2) / 2)
        expected = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
        assert losses.trades_kl(z, z_m).item() == pytest.approx(expected, rel=1e-6)
