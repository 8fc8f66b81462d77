"""ComDefend (Jia, Wei, Cao, Foroosh, CVPR 2019, arXiv 1811.12673): a learned compression purifier,
plus the residual-bottleneck variants of github.com/ZhangYuef/Comdefend_tensorflow, a TensorFlow
re-implementation of ComDefend that adds residual blocks (named "Comdefend_tensorflow" below).

ComCNN maps an image to a linear code of ``code_channels`` channels at full resolution; the code is
binarised (one bit per code channel and pixel: "24-bit to 12-bit" for colour); RecCNN rebuilds the
image from the bits; the rebuilt image goes to the unchanged classifier. Trained on clean images only.

What the authors' code does, and what this module matches (jiaxiaojunQAQ/Comdefend):

- ComCNN subtracts 0.5 from the image, then nine 3x3 'same' convolutions with ELU between them, the
  last one linear. Colour (``compression_imagenet.py``, ``Train_comdefend_TF.py``):
  3-16-32-64-128-256-128-64-32-12; RecCNN 12-32-64-128-256-128-64-32-16-3, then a sigmoid.
  Grey (``compression_mnist.py``, their Fashion-MNIST model) uses other hidden widths:
  1-32-64-128-256-128-64-64-32-4 and 4-32-64-128-256-128-64-64-32-1; we use those for one channel.
- Training: ``b = sigmoid(code - sigma * eps)``, ``eps ~ N(0, 1)``, sigma = 20 (``r(cnoise=20.0)``);
  the noise forces the code far from 0, i.e. towards binary bits after the sigmoid.
- Test: the same graph with the noise std left at the TF variable's initial value 1.0 (``code_noise``
  is only fed while training), then ``b = 1[sigmoid(code - noise) > 0.5]``. Their PyTorch SVHN script
  (``Train_comdefend_Torch.py``) instead keeps sigma = 20 at test and uses ``round(sigmoid(.))``, and
  has no ``x - 0.5``. ``test_sigma`` covers both: default 1.0 (the TF code that produced the released
  checkpoints); 0.0 makes purification deterministic.

Training the plain stacks with this recipe can fall into two traps that gradient descent cannot
leave (the sigmoid's gradient is 0 there): the encoder drives every code far below 0 (all bits 0;
the decoder outputs the mean image), or the decoder's sigmoid saturates at 0 (all-black output).
We saw both on MNIST (mostly black pixels) at lr 1e-3: the first with PyTorch's default
initialisation, the second at width 0.25 with the authors' initialisation (used here); at the
``CPU_PROFILE`` size neither appeared in any seed we tried, and lr 3e-4 avoided both at width 0.25.
Check the reconstruction error after training: a trapped model sits at the mean-image MSE (about
0.08 on MNIST) or at mean(x^2) (about 0.11).

Comdefend_tensorflow's residual variants replace the plain stack of the encoder and/or the decoder by
ResNet bottleneck blocks (see :class:`Bottleneck` and :func:`residual_widths`); the encoder keeps its linear
code output and the decoder its sigmoid, so every variant has the same contract.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..attacks.context import model_mode
from ..validation import AadError, check_count, check_eps, check_images, check_positive, choose
from .comdefend_loss import comdefend_loss  # the training objective, re-exported beside the model

VARIANTS = ("plain", "res_encoder", "res_decoder", "res_both")

# Hidden widths of the authors' plain stacks (between the image and the code, in data-flow order).
_COLOUR_ENCODER = (16, 32, 64, 128, 256, 128, 64, 32)
_COLOUR_DECODER = (32, 64, 128, 256, 128, 64, 32, 16)
_GREY_ENCODER = (32, 64, 128, 256, 128, 64, 64, 32)
_GREY_DECODER = (32, 64, 128, 256, 128, 64, 64, 32)

# The default (CPU) profile: ``ComDefend(1, variant, **CPU_PROFILE)``. Measured on the bundled MNIST-5k
# (4,000 training digits, 1,000 test), batch 20, Adam 1e-3, sigma 20, lambda 1e-4 (the paper's
# recipe): one epoch (200 steps) costs 18-22 s of single-thread CPU for every variant (21-26k
# parameters; about 10 s on two idle cores), so 5 epochs fit in about a minute. Hard-bit test PSNR
# after 5 epochs, seed 0: plain 26.1 dB (27.1 with seed 1), res_decoder 27.7, res_both 24.7,
# res_encoder 22.0 (23.4 after 3).
# Why these sizes: 4 of 6 runs with a width-0.25 plain stack fell into a trap (see the module
# docstring), none of 5 seeds at width 0.125; a residual stack at width 0.125 learned far slower
# (res_both, seed 1: MSE 0.095 after 800 steps, against 0.0034 at width 0.25) and cost half as
# much, so the residual stacks get 0.25, which equalises the cost per epoch across variants. One
# level of one bottleneck is the smallest stack that keeps Comdefend_tensorflow's shape (widen, then narrow).
# The paper profile is the constructor's defaults (width 1, 3 levels of 3 blocks).
CPU_PROFILE: dict[str, float | int] = {"width": 0.125, "residual_width": 0.25, "levels": 1, "depth": 1}


def default_code_channels(in_channels: int) -> int:
    """Bits per pixel of ComDefend's compact code (Jia et al., CVPR 2019): 4 per image channel.

    The paper's 24-bit RGB -> 12-bit code, 12 channels; the authors' grey model uses 4.

    Arguments:
        in_channels (int): image channels, >= 1.

    Examples:
        >>> from aad_lib.defenses.comdefend import default_code_channels
        >>> default_code_channels(3), default_code_channels(1)
        (12, 4)
    """
    check_count(in_channels, "in_channels", minimum=1)
    return 4 * in_channels


def residual_widths(levels: int = 3, base: int = 64, expansion: int = 4) -> list[tuple[int, int]]:
    """(inner, output) widths of each level of Comdefend_tensorflow's residual stack (``Model_res.make``).

    Comdefend_tensorflow is the TensorFlow re-implementation github.com/ZhangYuef/Comdefend_tensorflow
    (module docstring). Inner widths go up ``base * 2^i`` for ``levels`` levels and back down;
    outputs are ``expansion`` times the inner width, except that the middle output is dropped and
    the last level narrows to 32 (16 when ``base <= 32``) before the 1x1 projection to the code or
    image. With the defaults: (64,256) (128,512) (256,1024) (256,512) (128,256) (64,32).

    Arguments:
        levels (int): levels on the way up (as many come down), >= 1. Default: 3.
        base (int): inner width of the first level. Default: 64.
        expansion (int): output width over inner width of a bottleneck. Default: 4.

    Examples:
        >>> from aad_lib.defenses.comdefend import residual_widths
        >>> residual_widths()
        [(64, 256), (128, 512), (256, 1024), (256, 512), (128, 256), (64, 32)]
        >>> residual_widths(1, base=16)
        [(16, 64), (16, 16)]
    """
    check_count(levels, "levels", minimum=1)
    inner = [base * 2 ** i for i in range(levels)] + [base * 2 ** (levels - 1 - i) for i in range(levels)]
    out = [c * expansion for c in inner]
    del out[len(out) // 2]
    out.append(32 if inner[0] > 32 else 16)
    return list(zip(inner, out))


def _scaled(channels: int, width: float) -> int:
    # At least 4 channels: a thinner bottleneck is not worth its BatchNorm.
    return max(4, round(channels * width))


class Bottleneck(nn.Module):
    """ResNet bottleneck (He et al., CVPR 2016, as Comdefend_tensorflow writes it): 1x1 -> 3x3 -> 1x1 convolutions.

    He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition". Each convolution has
    BatchNorm, ReLU after the first two and after the sum; the shortcut is a 1x1 convolution + BN
    projection when the channel count changes (Comdefend_tensorflow's ``convolutional_block``),
    the identity otherwise (``identity_block``). Convolutions have no bias: BatchNorm's shift
    replaces it (as tf.contrib does).

    Arguments:
        in_channels (int): input channels.
        inner (int): channels of the 1x1 and 3x3 convolutions inside.
        out_channels (int): output channels.

    Shape:
        - input: (N, in_channels, H, W).
        - output: (N, out_channels, H, W), >= 0 (after the final ReLU).

    Examples:
        >>> import torch
        >>> from aad_lib.defenses.comdefend import Bottleneck
        >>> Bottleneck(4, 2, 8)(torch.rand(2, 4, 5, 5)).shape
        torch.Size([2, 8, 5, 5])
    """

    def __init__(self, in_channels: int, inner: int, out_channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, inner, 1, bias=False), nn.BatchNorm2d(inner), nn.ReLU(inplace=True),
            nn.Conv2d(inner, inner, 3, padding=1, bias=False), nn.BatchNorm2d(inner), nn.ReLU(inplace=True),
            nn.Conv2d(inner, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels))
        self.shortcut: nn.Module = nn.Identity()
        if in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, bias=False),
                                          nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.shortcut(x))


def _plain_stack(channels: Sequence[int]) -> nn.Sequential:
    """3x3 'same' convolutions through ``channels`` with ELU between them; the last one linear.

    Initialised as the authors' ``canton`` Conv2D (and Comdefend_tensorflow's plain ``conv2d``): weights from a
    normal truncated at 2 std with std ``sqrt(2 / fan_in)`` (He), zero biases. PyTorch's default init
    is about 2x smaller per layer; through nine layers it starts the code near 0.07, far below the
    training noise (sigma 20), and that start collapsed the code (all bits 0) in 2 of 5 of our MNIST
    runs, the authors' init in none of 7.
    """
    layers: list[nn.Module] = []
    for i, (cin, cout) in enumerate(zip(channels[:-1], channels[1:])):
        conv = nn.Conv2d(cin, cout, 3, padding=1)
        std = math.sqrt(2.0 / (cin * 9))
        nn.init.trunc_normal_(conv.weight, std=std, a=-2 * std, b=2 * std)
        nn.init.zeros_(conv.bias)
        layers.append(conv)
        if i < len(channels) - 2:
            layers.append(nn.ELU())
    return nn.Sequential(*layers)


def _residual_stack(in_channels: int, out_channels: int, width: float, levels: int, depth: int) -> nn.Sequential:
    """Comdefend_tensorflow's stack: ``2 * levels`` levels of ``depth`` bottlenecks, then a 1x1 convolution
    (linear)."""
    layers: list[nn.Module] = []
    c = in_channels
    for inner, out in residual_widths(levels):
        inner, out = _scaled(inner, width), _scaled(out, width)
        for _ in range(depth):
            layers.append(Bottleneck(c, inner, out))
            c = out
    layers.append(nn.Conv2d(c, out_channels, 1))
    # Comdefend_tensorflow's initialisation (tf.contrib conv2d): Glorot-uniform weights, zero biases.
    for m in layers:
        for conv in (m.modules() if isinstance(m, Bottleneck) else [m]):
            if isinstance(conv, nn.Conv2d):
                nn.init.xavier_uniform_(conv.weight)
                if conv.bias is not None:
                    nn.init.zeros_(conv.bias)
    return nn.Sequential(*layers)


def _check_architecture(width: float, levels: int, depth: int) -> None:
    check_positive(width, "width")
    check_count(levels, "levels", minimum=1)
    check_count(depth, "depth", minimum=1)


def _stack(c_in: int, c_out: int, hidden: Sequence[int], residual: bool, width: float, levels: int,
           depth: int) -> nn.Sequential:
    """The conv stack of either half: Comdefend_tensorflow's bottleneck stack, or the authors' plain stack
    through ``hidden`` widths scaled by ``width``."""
    if residual:
        return _residual_stack(c_in, c_out, width, levels, depth)
    return _plain_stack([c_in, *(_scaled(c, width) for c in hidden), c_out])


class ComCNN(nn.Module):
    """ComDefend's compression CNN (Jia et al., CVPR 2019): image in [0, 1] -> linear (real-valued) code.

    Same H x W as the image. ``residual=False``: the authors' plain stack (widths in the module
    docstring, times ``width``). ``residual=True``: Comdefend_tensorflow's bottleneck stack
    (:func:`residual_widths` times ``width``, ``2 * levels`` levels of ``depth`` blocks). Both
    start from ``x - 0.5`` as the authors' code does (a centred input for the plain ELU stack;
    BatchNorm absorbs the shift in the residual one).

    Arguments:
        in_channels (int): image channels (1: the authors' grey widths). Default: 3.
        code_channels (int | None): channels of the code; None: :func:`default_code_channels`.
            Default: None.
        residual (bool): Comdefend_tensorflow's bottleneck stack instead of the plain one.
            Default: False.
        width (float): factor on the hidden widths, > 0. Default: 1.0.
        levels (int): levels of the residual stack (``residual=True`` only), >= 1. Default: 3.
        depth (int): bottlenecks per level (``residual=True`` only), >= 1. Default: 3.

    Shape:
        - input: (N, in_channels, H, W), values in [0, 1].
        - output: (N, code_channels, H, W), real-valued.

    Examples:
        >>> import torch
        >>> from aad_lib.defenses.comdefend import ComCNN
        >>> ComCNN(1, width=0.125)(torch.rand(2, 1, 8, 8)).shape
        torch.Size([2, 4, 8, 8])
    """

    def __init__(self, in_channels: int = 3, code_channels: int | None = None, residual: bool = False,
                 width: float = 1.0, levels: int = 3, depth: int = 3):
        super().__init__()
        check_count(in_channels, "in_channels", minimum=1)
        code_channels = default_code_channels(in_channels) if code_channels is None else code_channels
        check_count(code_channels, "code_channels", minimum=1)
        _check_architecture(width, levels, depth)
        self.in_channels, self.code_channels, self.residual = in_channels, code_channels, bool(residual)
        self.net = _stack(in_channels, code_channels, _GREY_ENCODER if in_channels == 1 else _COLOUR_ENCODER,
                          residual, width, levels, depth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x - 0.5)


class RecCNN(nn.Module):
    """ComDefend's reconstruction CNN (Jia et al., CVPR 2019): binary code -> image in [0, 1].

    Same H x W as the code; a final sigmoid. ``residual=False``: the authors' plain stack;
    ``residual=True``: Comdefend_tensorflow's bottleneck stack ending in a 1x1 convolution and the
    sigmoid (``res_rec``).

    Arguments:
        code_channels (int): channels of the code. Default: 12.
        out_channels (int): image channels (1: the authors' grey widths). Default: 3.
        residual (bool): Comdefend_tensorflow's bottleneck stack instead of the plain one.
            Default: False.
        width (float): factor on the hidden widths, > 0. Default: 1.0.
        levels (int): levels of the residual stack (``residual=True`` only), >= 1. Default: 3.
        depth (int): bottlenecks per level (``residual=True`` only), >= 1. Default: 3.

    Shape:
        - input: (N, code_channels, H, W), bits in {0, 1} (soft bits in (0, 1) while training).
        - output: (N, out_channels, H, W) in [0, 1].

    Examples:
        >>> import torch
        >>> from aad_lib.defenses.comdefend import RecCNN
        >>> RecCNN(4, 1, width=0.125)(torch.randint(0, 2, (2, 4, 8, 8)).float()).shape
        torch.Size([2, 1, 8, 8])
    """

    def __init__(self, code_channels: int = 12, out_channels: int = 3, residual: bool = False,
                 width: float = 1.0, levels: int = 3, depth: int = 3):
        super().__init__()
        check_count(code_channels, "code_channels", minimum=1)
        check_count(out_channels, "out_channels", minimum=1)
        _check_architecture(width, levels, depth)
        self.code_channels, self.out_channels, self.residual = code_channels, out_channels, bool(residual)
        self.net = _stack(code_channels, out_channels, _GREY_DECODER if out_channels == 1 else _COLOUR_DECODER,
                          residual, width, levels, depth)

    def forward(self, b: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(b))


def _standard_normal(like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    # Drawn on the generator's device, then moved: a CPU generator then gives the same numbers
    # whatever device the model is on.
    device = generator.device if generator is not None else like.device
    eps = torch.randn(like.shape, generator=generator, device=device, dtype=like.dtype)
    return eps.to(like.device)


def _threshold(noisy: torch.Tensor) -> torch.Tensor:
    """Test-time bits ``1[sigmoid(noisy) > 0.5]``. Thresholding the sigmoid, not the logit, as the
    authors do: for 0 < logit < ~1e-7 the float32 sigmoid rounds to exactly 0.5 and gives bit 0."""
    return (torch.sigmoid(noisy) > 0.5).to(noisy.dtype)


class ComDefend(nn.Module):
    """ComDefend (Jia et al., CVPR 2019): ComCNN -> binarisation -> RecCNN, for images of any H x W.

    Jia, Wei, Cao, Foroosh, "ComDefend: An Efficient Image Compression Model to Defend Adversarial
    Examples". ``variant``: ``plain`` (the paper), ``res_encoder``, ``res_decoder`` or
    ``res_both`` (Comdefend_tensorflow). ``sigma``: std of the training noise on the code (paper
    and authors' code: 20). ``test_sigma``: std of the noise subtracted before thresholding at test
    (authors' TF code: 1.0). ``width`` scales the hidden widths of the plain stacks,
    ``residual_width`` (default: ``width``) those of the residual stacks; ``levels``/``depth``
    size the residual stacks (see :func:`residual_widths`); ``CPU_PROFILE`` holds the small
    setting of the default profile. ``forward`` returns ``(reconstruction, bits)``: soft noisy bits
    in train mode, hard bits in eval mode; :meth:`purify` is the defense, :meth:`purify_bpda` its
    differentiable twin for adaptive attacks.

    Arguments:
        in_channels (int): image channels. Default: 1.
        variant (str): ``"plain"``, ``"res_encoder"``, ``"res_decoder"`` or ``"res_both"``.
            Default: ``"plain"``.
        sigma (float): std of the training noise on the code, >= 0. Default: 20.0.
        code_channels (int | None): channels of the code; None: :func:`default_code_channels`.
            Default: None.
        test_sigma (float): std of the test noise, >= 0 (0: deterministic purification).
            Default: 1.0.
        width (float): factor on the hidden widths of the plain stacks, > 0. Default: 1.0.
        residual_width (float | None): factor on the widths of the residual stacks; None:
            ``width``. Default: None.
        levels (int): levels of the residual stacks, >= 1. Default: 3.
        depth (int): bottlenecks per level of the residual stacks, >= 1. Default: 3.

    Shape:
        - input: (N, in_channels, H, W), values in [0, 1].
        - output of ``forward``: reconstruction (N, in_channels, H, W) in [0, 1] and bits
          (N, code_channels, H, W); of :meth:`purify`: (N, in_channels, H, W) in [0, 1].

    Examples:
        >>> import torch
        >>> from aad_lib.defenses import CPU_PROFILE, ComDefend
        >>> model = ComDefend(1, **CPU_PROFILE).eval()
        >>> x = torch.rand(2, 1, 8, 8)
        >>> reconstruction, bits = model(x)
        >>> reconstruction.shape, bits.shape, bool(((bits == 0) | (bits == 1)).all())
        (torch.Size([2, 1, 8, 8]), torch.Size([2, 4, 8, 8]), True)
        >>> torch.equal(model.purify(x, torch.Generator().manual_seed(0)),
        ...             model.purify_bpda(x, torch.Generator().manual_seed(0)))
        True
    """

    def __init__(self, in_channels: int = 1, variant: str = "plain", sigma: float = 20.0,
                 code_channels: int | None = None, *, test_sigma: float = 1.0, width: float = 1.0,
                 residual_width: float | None = None, levels: int = 3, depth: int = 3):
        super().__init__()
        check_count(in_channels, "in_channels", minimum=1)
        self.variant = choose(variant, VARIANTS, "ComDefend variant")
        self.sigma = check_eps(sigma, "sigma")
        self.test_sigma = check_eps(test_sigma, "test_sigma")
        code_channels = default_code_channels(in_channels) if code_channels is None else code_channels
        res_encoder, res_decoder = variant in ("res_encoder", "res_both"), variant in ("res_decoder", "res_both")
        res_width = width if residual_width is None else check_positive(residual_width, "residual_width")
        self.encoder = ComCNN(in_channels, code_channels, res_encoder, res_width if res_encoder else width,
                              levels, depth)
        self.decoder = RecCNN(code_channels, in_channels, res_decoder, res_width if res_decoder else width,
                              levels, depth)
        self.in_channels, self.code_channels = in_channels, code_channels

    def extra_repr(self) -> str:
        return f"variant={self.variant!r}, sigma={self.sigma}, test_sigma={self.test_sigma}"

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The linear code ``ComCNN(x)`` of images ``x`` in [0, 1], shape (N, code_channels, H, W)."""
        check_images(x)
        if x.shape[1] != self.in_channels:
            raise AadError(f"this ComDefend takes {self.in_channels}-channel images, got {x.shape[1]} "
                           f"channels (x of shape {tuple(x.shape)}).")
        return self.encoder(x)

    def binarize(self, code: torch.Tensor, training: bool, generator: torch.Generator | None = None
                 ) -> torch.Tensor:
        """The code's bits.

        Training (paper's noisy binarisation): ``b = sigmoid(code - sigma * eps)``, a soft bit in
        (0, 1) that the gradient flows through. Test (authors' TF code): ``b = 1[sigmoid(code -
        test_sigma * eps) > 0.5]``, exactly 0 or 1, no gradient. ``eps ~ N(0, 1)`` from ``generator``
        (the global generator when None); no draw at all at test when ``test_sigma == 0``.
        """
        if training:
            return torch.sigmoid(code - self.sigma * _standard_normal(code, generator))
        return _threshold(self._test_noisy(code, generator))

    def _test_noisy(self, code: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """``code - test_sigma * eps`` (no draw when ``test_sigma == 0``)."""
        return code - self.test_sigma * _standard_normal(code, generator) if self.test_sigma > 0 else code

    def decode(self, b: torch.Tensor) -> torch.Tensor:
        """The reconstruction ``RecCNN(b)`` in [0, 1], shape (N, in_channels, H, W)."""
        if b.dim() != 4 or b.shape[1] != self.code_channels:
            raise AadError(f"the code must have shape (N, {self.code_channels}, H, W), got {tuple(b.shape)}.")
        return self.decoder(b)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(reconstruction, bits)``; soft noisy bits in train mode, hard bits in eval mode."""
        b = self.binarize(self.encode(x), self.training, generator)
        return self.decode(b), b

    def purify_bpda(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """:meth:`purify` for adaptive attacks: the same output (the same noise draw from the same
        generator state), with a gradient. ComCNN and RecCNN are differentiated exactly; the hard
        threshold, whose derivative is zero almost everywhere, passes the gradient straight through
        (BPDA with the identity, Athalye et al. 2018, Sec. 4.1: ``d b / d noisy code = 1``). The
        noise makes it a random function: attack it with EOT (``pgd(..., eot_samples=k)``).
        Eval mode (BatchNorm running statistics) whatever the module's mode, which is restored."""
        with model_mode(self, "eval"):
            noisy = self._test_noisy(self.encode(x), generator)
            hard = _threshold(noisy)
            return self.decode(noisy + (hard - noisy).detach())  # forward: hard bits; backward: identity

    def purify(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The defended input ``RecCNN(1[sigmoid(ComCNN(x) - noise) > 0.5])`` in [0, 1], same shape as
        ``x``: eval mode (BatchNorm running statistics, hard bits), no autograd graph, the module's
        train/eval mode restored afterwards."""
        with model_mode(self, "eval"), torch.no_grad():
            y, _ = self(x, generator)
        return y
