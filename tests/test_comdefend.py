"""ComDefend and ZhangYuef/Comdefend_tensorflow's residual variants: shapes, bits, randomness, purification,
loss, training."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from aad_lib.defenses.comdefend import (
    CPU_PROFILE, VARIANTS, Bottleneck, ComCNN, ComDefend, RecCNN, comdefend_loss, default_code_channels,
    residual_widths)
from aad_lib.validation import AadError

# Thin networks keep the file fast; the architecture tests below check the full-width layers.
SMALL = {"width": 0.125, "levels": 1, "depth": 1}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These networks are tiny: one intra-op thread is fastest, and on a busy 2-core machine two threads
    spin against each other (measured: an Adam step on 4 digits 20 ms on one thread, 1.6 s on two)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _small(in_channels: int, variant: str = "plain", **kw) -> ComDefend:
    torch.manual_seed(0)
    return ComDefend(in_channels, variant, **{**SMALL, **kw})


def _conv_channels(net: nn.Module) -> list[int]:
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    return [convs[0].in_channels] + [c.out_channels for c in convs]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("channels,size", [(1, 28), (3, 32)])
def test_shapes_for_each_variant(variant: str, channels: int, size: int) -> None:
    model = _small(channels, variant)
    x = torch.rand(2, channels, size, size)
    y, b = model(x, torch.Generator().manual_seed(0))
    assert y.shape == x.shape
    assert b.shape == (2, 4 * channels, size, size)
    assert model.encode(x).shape == b.shape
    assert model.decode(b).shape == x.shape


def test_fully_convolutional_on_odd_sizes() -> None:
    for variant in ("plain", "res_both"):
        x = torch.rand(1, 3, 13, 17)
        assert _small(3, variant).purify(x).shape == x.shape


def test_code_channels() -> None:
    assert default_code_channels(1) == 4 and default_code_channels(3) == 12
    assert _small(1).code_channels == 4 and _small(3).code_channels == 12
    assert _small(3, code_channels=6).encode(torch.rand(1, 3, 8, 8)).shape[1] == 6


def test_official_plain_widths() -> None:
    """The authors' stacks: colour from compression_imagenet.py, grey from compression_mnist.py."""
    colour, grey = ComDefend(3), ComDefend(1)
    assert _conv_channels(colour.encoder) == [3, 16, 32, 64, 128, 256, 128, 64, 32, 12]
    assert _conv_channels(colour.decoder) == [12, 32, 64, 128, 256, 128, 64, 32, 16, 3]
    assert _conv_channels(grey.encoder) == [1, 32, 64, 128, 256, 128, 64, 64, 32, 4]
    assert _conv_channels(grey.decoder) == [4, 32, 64, 128, 256, 128, 64, 64, 32, 1]
    layers = list(colour.encoder.net)
    assert isinstance(layers[-1], nn.Conv2d)                      # linear code
    assert sum(isinstance(m, nn.ELU) for m in layers) == 8        # ELU between the nine convs
    assert all(m.kernel_size == (3, 3) and m.padding == (1, 1) for m in layers if isinstance(m, nn.Conv2d))
    # Initialised as the authors' canton Conv2D: normal(std sqrt(2 / fan_in)) truncated at 2 std (whose
    # std is then 0.8796 of that), zero biases.
    big = colour.encoder.net[8]                                    # the 128 -> 256 convolution
    assert float(big.weight.detach().std()) == pytest.approx(0.8796 * (2 / (128 * 9)) ** 0.5, rel=0.02)
    assert all(not m.bias.detach().any() for m in layers if isinstance(m, nn.Conv2d))
    # The encoder sees x - 0.5: a mid-grey image enters the first convolution as zeros.
    seen = []
    colour.encoder.net[0].register_forward_hook(lambda mod, inp, out: seen.append(inp[0]))
    with torch.no_grad():
        colour.encode(torch.full((1, 3, 4, 4), 0.5))
    assert torch.equal(seen[0], torch.zeros(1, 3, 4, 4))


def test_residual_stack_follows_the_comdefend_tensorflow_variant() -> None:
    assert residual_widths() == [(64, 256), (128, 512), (256, 1024), (256, 512), (128, 256), (64, 32)]
    enc = ComCNN(3, 12, residual=True, width=0.25, levels=2, depth=2)
    blocks = [m for m in enc.modules() if isinstance(m, Bottleneck)]
    assert len(blocks) == 2 * 2 * 2                                # 2*levels levels of depth blocks
    projections = [b for b in blocks if not isinstance(b.shortcut, nn.Identity)]
    assert len(projections) == 4                                   # one where each level changes width
    assert [m.kernel_size for m in blocks[0].body if isinstance(m, nn.Conv2d)] == [(1, 1), (3, 3), (1, 1)]
    assert any(isinstance(m, nn.BatchNorm2d) for m in blocks[0].body)
    dec = RecCNN(12, 3, residual=True, width=0.25, levels=1, depth=1)
    with torch.no_grad():
        out = dec(torch.randn(2, 12, 5, 5) * 10)
    assert out.shape == (2, 3, 5, 5) and float(out.min()) >= 0 and float(out.max()) <= 1
    # The CPU profile: thin plain stacks, residual stacks at their own width.
    cpu = ComDefend(1, "res_encoder", **CPU_PROFILE)
    first = next(m for m in cpu.encoder.modules() if isinstance(m, Bottleneck))
    assert first.body[0].out_channels == round(64 * CPU_PROFILE["residual_width"])
    assert _conv_channels(cpu.decoder)[:2] == [4, round(32 * CPU_PROFILE["width"])]
    assert cpu.encode(torch.rand(1, 1, 6, 6)).shape == (1, 4, 6, 6)


@pytest.mark.parametrize("test_sigma", [0.0, 1.0])
def test_eval_bits_are_exactly_binary(test_sigma: float) -> None:
    model = _small(1, "res_encoder", test_sigma=test_sigma).eval()
    _, b = model(torch.rand(4, 1, 12, 12), torch.Generator().manual_seed(0))
    assert set(b.unique().tolist()) <= {0.0, 1.0}
    code = torch.randn(2, 4, 5, 5)
    hard = model.binarize(code, training=False, generator=torch.Generator().manual_seed(1))
    assert set(hard.unique().tolist()) <= {0.0, 1.0}
    if test_sigma == 0:       # no noise at test: the bit is the sign of the code, deterministic
        assert torch.equal(hard, (code > 0).float())


def test_training_bits_are_soft_random_and_reproducible() -> None:
    model = _small(1).train()
    code = torch.randn(4, 4, 8, 8)
    b1 = model.binarize(code, True, torch.Generator().manual_seed(1))
    b1_again = model.binarize(code, True, torch.Generator().manual_seed(1))
    b2 = model.binarize(code, True, torch.Generator().manual_seed(2))
    assert torch.equal(b1, b1_again) and not torch.equal(b1, b2)
    # sigma = 20 saturates float32's sigmoid at exactly 0 or 1 for some draws; most bits stay soft.
    assert b1.min() >= 0 and b1.max() <= 1
    assert ((b1 > 0) & (b1 < 1)).float().mean() > 0.5
    mild = ComDefend(1, "plain", sigma=1.0, **SMALL)
    soft = mild.binarize(code, True, torch.Generator().manual_seed(3))
    assert soft.min() > 0 and soft.max() < 1
    # The training forward pass is reproducible from its generator as a whole.
    x = torch.rand(2, 1, 10, 10)
    (y1, c1), (y2, c2) = (model(x, torch.Generator().manual_seed(5)) for _ in range(2))
    assert torch.equal(c1, c2) and torch.equal(y1, y2)


@pytest.mark.parametrize("start_training", [True, False])
def test_purify_contract(start_training: bool) -> None:
    model = _small(3, "res_both")
    model.train(start_training)
    buffers = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.rand(3, 3, 16, 16, requires_grad=True)
    y = model.purify(x, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and not y.requires_grad
    assert float(y.min()) >= 0 and float(y.max()) <= 1
    assert model.training is start_training
    assert all(p.grad is None for p in model.parameters())
    # Eval mode: BatchNorm used its running statistics and did not update them.
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in buffers.items())
    g = torch.Generator().manual_seed(0)
    assert torch.equal(y, model.purify(x.detach(), g))            # same seed, same purification


def test_loss_matches_hand_computation() -> None:
    """L = mean((y - x)^2) + lambda * mean(b^2), on x != 0, y != x, varied bits and a lambda where both
    terms count (float64, so the small lambda * code term is not lost in rounding)."""
    x = torch.tensor([[[[0.2, 0.9], [0.6, 0.1]]]], dtype=torch.float64)
    y = torch.tensor([[[[0.5, 0.4], [0.6, 0.9]]]], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([[[[1.0, 0.0]], [[0.5, 0.1]]]], dtype=torch.float64, requires_grad=True)  # (1, 2, 1, 2)
    # y - x = (0.3, -0.5, 0, 0.8): mse = (0.09 + 0.25 + 0 + 0.64) / 4 = 0.245
    #   (a loss that ignored x, mean(y^2) = (0.25 + 0.16 + 0.36 + 0.81) / 4 = 0.395)
    # b^2 = (1, 0, 0.25, 0.01): code = 1.26 / 4 = 0.315   (mean(b) would be 0.4)
    # lambda = 0.5: L = 0.245 + 0.5 * 0.315 = 0.4025   (lambda on the mse: 0.1225 + 0.315 = 0.4375)
    loss, parts = comdefend_loss(x, y, b, lam=0.5)
    assert parts["mse"] == pytest.approx(0.245, rel=1e-12) and parts["code"] == pytest.approx(0.315, rel=1e-12)
    assert parts["loss"] == pytest.approx(0.4025, rel=1e-12) and loss.item() == pytest.approx(0.4025, rel=1e-12)
    # The gradients: dL/dy = 2 (y - x) / 4 = (0.15, -0.25, 0, 0.4); dL/db = 2 lambda b / 4 = b / 4.
    gy, gb = torch.autograd.grad(loss, (y, b))
    assert torch.allclose(gy, torch.tensor([[[[0.15, -0.25], [0.0, 0.4]]]], dtype=torch.float64), atol=1e-12)
    assert torch.allclose(gb, b.detach() / 4, atol=1e-12)
    # The default lambda = 1e-4 (the authors'): L = 0.245 + 1e-4 * 0.315 = 0.2450315.
    loss, parts = comdefend_loss(x, y.detach(), b.detach())
    assert parts["loss"] == pytest.approx(0.2450315, rel=1e-12)
    assert parts["loss"] - parts["mse"] == pytest.approx(3.15e-5, rel=1e-9)


def test_adam_steps_lower_the_loss(digits: tuple[torch.Tensor, torch.Tensor]) -> None:
    # A few steps at lr 1e-2 mostly teach the decoder the mean digit (the loss falls about 3x); whether
    # the bits carry the image is a matter of a real schedule (measured in the module's notes).
    x = digits[0][:4, :, 4:24, 4:24]          # MNIST centres each digit in a 20 x 20 box
    model = _small(1).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)

    def loss_at(seed: int) -> float:          # the same noise before and after: a fair comparison
        with torch.no_grad():
            y, b = model(x, torch.Generator().manual_seed(seed))
            return comdefend_loss(x, y, b)[1]["loss"]

    before = loss_at(123)
    g = torch.Generator().manual_seed(0)
    for _ in range(6):
        y, b = model(x, g)
        loss, _ = comdefend_loss(x, y, b)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss_at(123) < 0.7 * before


def test_bad_inputs_name_the_value() -> None:
    with pytest.raises(AadError, match="'plane'.*Did you mean 'plain'"):
        ComDefend(1, "plane")
    model = _small(1)
    with pytest.raises(AadError, match="1-channel images, got 3 channels"):
        model.purify(torch.rand(1, 3, 8, 8))
    with pytest.raises(AadError, match=r"\[0, 1\]"):
        model.encode(torch.rand(1, 1, 8, 8) * 255)
    with pytest.raises(AadError, match=r"code must have shape \(N, 4, H, W\), got \(1, 3, 8, 8\)"):
        model.decode(torch.rand(1, 3, 8, 8))
    with pytest.raises(AadError, match="width must be a finite number > 0, got -1"):
        ComDefend(1, width=-1)
    with pytest.raises(AadError, match="residual_width must be a finite number > 0, got 0"):
        ComDefend(1, residual_width=0)
    with pytest.raises(AadError, match="sigma must be a finite number >= 0, got -2"):
        ComDefend(1, sigma=-2.0)
    with pytest.raises(AadError, match="reconstruction shape"):
        comdefend_loss(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 3), torch.zeros(1, 4, 2, 2))
