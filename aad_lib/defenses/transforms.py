"""Input-transformation defenses on [0, 1] NCHW images: WebP, JPEG, flip, WebP + flip, bit depth,
median smoothing; a small registry (:func:`make`) and :class:`Defended`, a model behind a transform.

Every transform takes a batch of any size with 1 (grey) or 3 (colour) channels (the pure-torch
ones take any channel count) and returns a tensor of the same shape, dtype and device.

The codecs (:func:`webp`, :func:`jpeg`) go through Pillow in memory, one image at a time: the
image is quantised to uint8 with ``round(255 x)`` (round half to even, as ``np.rint``), encoded,
decoded and divided by 255. Their output carries no gradient (the codec is not differentiable);
:func:`bit_depth` keeps the graph but ``round`` has zero gradient almost everywhere. An honest
white-box evaluation of these needs BPDA (Athalye et al. 2018); :attr:`Transform.differentiable`
says which transforms need it.
"""
from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from types import MappingProxyType
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..validation import AadError, check_images, choose

ORDERS = ("flip_first", "webp_first")
CODECS = ("jpeg", "webp")

# Pillow settings, passed explicitly so a change of Pillow's defaults cannot move our numbers.
# WebP: method 4 is both Pillow's and cwebp's default speed/quality trade-off, so ``webp(x, q)``
# matches the ``cwebp -q q`` of Yin et al.'s scripts (default preset, no sharp YUV). JPEG: baseline, libjpeg's
# standard tables scaled by quality, 4:2:0 chroma subsampling for colour (libjpeg's and Pillow's
# default; grey images have no chroma), no optimised Huffman tables, not progressive.
WEBP_SETTINGS: Mapping[str, Any] = MappingProxyType({"method": 4})
JPEG_SETTINGS: Mapping[str, Any] = MappingProxyType({"subsampling": "4:2:0", "optimize": False,
                                                     "progressive": False})


def webp(x: torch.Tensor, quality: int, lossless: bool = False) -> torch.Tensor:
    """WebP compression and decompression, the compression half of WebP + flip (Yin et al., IJIS 2020).

    ``quality`` is an integer in [0, 100] (Pillow's scale); with ``lossless=True`` it is the
    compression effort and the result is the uint8-quantised image exactly. Grey images are
    encoded as RGB with R = G = B (WebP has no grey mode) and converted back to grey with
    Pillow's ITU-R 601 luma. Settings: :data:`WEBP_SETTINGS`. No gradient flows through (attack
    it with BPDA).

    Arguments:
        x (torch.Tensor): images in [0, 1], 1 (grey) or 3 (colour) channels.
        quality (int): Pillow's WebP quality in [0, 100]; the compression effort when lossless.
        lossless (bool): lossless WebP. Default: False.

    Shape:
        - x: (N, C, H, W), values in [0, 1], C in {1, 3}.
        - returns: (N, C, H, W) in [0, 1], multiples of 1/255, same dtype and device as ``x``.

    Examples:
        >>> import torch
        >>> from aad_lib.defenses import webp
        >>> x = torch.rand(2, 3, 8, 8)
        >>> webp(x, 60).shape
        torch.Size([2, 3, 8, 8])
        >>> torch.equal(webp(x, 100, lossless=True), torch.round(x * 255) / 255)
        True
    """
    quality = _check_quality(quality, "webp")
    lossless = _check_flag(lossless, "lossless")
    return _roundtrip(x, "WEBP", {**WEBP_SETTINGS, "quality": quality, "lossless": lossless})[0]


def jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    """JPEG compression and decompression, the classic baseline (Dziugaite et al. 2016; Guo et al., ICLR 2018).

    Dziugaite, Ghahramani, Roy, "A study of the effect of JPG compression on adversarial images"
    (arXiv 2016); Guo, Rana, Cisse, van der Maaten, "Countering Adversarial Images using Input
    Transformations". ``quality`` is an integer in [0, 100] on Pillow's (IJG) scale; libjpeg
    treats 0 as 1. Settings: :data:`JPEG_SETTINGS`. No gradient flows through.

    Arguments:
        x (torch.Tensor): images in [0, 1], 1 (grey) or 3 (colour) channels.
        quality (int): Pillow's (IJG) JPEG quality in [0, 100].

    Shape:
        - x: (N, C, H, W), values in [0, 1], C in {1, 3}.
        - returns: (N, C, H, W) in [0, 1], multiples of 1/255, same dtype and device as ``x``.

    Examples:
        >>> import torch
        >>> from aad_lib.defenses import jpeg
        >>> y = jpeg(torch.rand(2, 1, 8, 8), 75)
        >>> y.shape, bool(torch.equal(y, torch.round(y * 255) / 255))
        (torch.Size([2, 1, 8, 8]), True)
    """
    quality = _check_quality(quality, "jpeg")
    return _roundtrip(x, "JPEG", {**JPEG_SETTINGS, "quality": quality})[0]


def hflip(x: torch.Tensor) -> torch.Tensor:
    """Horizontal (left-right) flip, the flip of WebP + flip (Yin et al., IJIS 2020).

    Differentiable; its own inverse.

    Arguments:
        x (torch.Tensor): images in [0, 1], any channel count.

    Shape:
        - x: (N, C, H, W), values in [0, 1].
        - returns: (N, C, H, W), column ``j`` of the result is column ``W - 1 - j`` of ``x``.

    Examples:
        >>> import torch
        >>> from aad_lib.defenses import hflip
        >>> hflip(torch.tensor([[[[0.0, 0.5, 1.0]]]]))
        tensor([[[[1.0000, 0.5000, 0.0000]]]])
    """
    return torch.flip(check_images(x), dims=(3,))


def webp_flip(x: torch.Tensor, quality: int, order: str = "flip_first", lossless: bool = False) -> torch.Tensor:
    """WebP + flip (Yin et al., IJIS 2020): flip the image once, left-right, and compress it with lossy WebP.

    Yin, Wang, Wang, Tang, Wang, "Defense against Adversarial Attacks by Low-level Image
    Transformations", International Journal of Intelligent Systems 35(10), Wiley, 2020,
    doi:10.1002/int.22258. The authors' example quality is 60.

    ``order="flip_first"`` is ``webp(hflip(x))``, the order of the authors' scripts (flip the
    adversarial images, then ``cwebp`` them); ``"webp_first"`` is ``hflip(webp(x))``. WebP is not
    flip-equivariant (intra prediction runs left to right, macroblocks align to the left edge), so
    lossy results differ; lossless ones agree. Either way the classifier sees a mirrored image.

    Arguments:
        x (torch.Tensor): images in [0, 1], 1 (grey) or 3 (colour) channels.
        quality (int): Pillow's WebP quality in [0, 100] (see :func:`webp`).
        order (str): ``"flip_first"`` or ``"webp_first"``. Default: ``"flip_first"``.
        lossless (bool): lossless WebP. Default: False.

    Shape:
        - x: (N, C, H, W), values in [0, 1], C in {1, 3}.
        - returns: (N, C, H, W) in [0, 1], multiples of 1/255, same dtype and device as ``x``.

    Examples:
        >>> import torch
        >>> from aad_lib.defenses import hflip, webp, webp_flip
        >>> x = torch.rand(2, 3, 8, 8)
        >>> torch.equal(webp_flip(x, 60), webp(hflip(x), 60))
        True
        >>> torch.equal(webp_flip(x, 100, "webp_first", lossless=True), webp_flip(x, 100, lossless=True))
        True
    """
    order = choose(order, ORDERS, "webp_flip order")
    if order == "flip_first":
        return webp(hflip(x), quality, lossless)
    return hflip(webp(x, quality, lossless))


def bit_depth(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Colour-depth reduction (Xu et al., NDSS 2018, Sec. 4): ``round(x (2^bits - 1)) / (2^bits - 1)``.

    Xu, Evans, Qi, "Feature Squeezing: Detecting Adversarial Examples in Deep Neural Networks"
    (feature squeezing). Round half to even (``np.rint``, as their code). ``bits`` in 1..8; 8 is plain uint8
    quantisation. Keeps the graph, but its gradient is zero (attack it with BPDA).

    Arguments:
        x (torch.Tensor): images in [0, 1], any channel count.
        bits (int): bits per channel, 1..8.

    Shape:
        - x: (N, C, H, W), values in [0, 1].
        - returns: (N, C, H, W) in [0, 1], multiples of ``1 / (2^bits - 1)``.

    Examples:
        >>> import torch
        >>> from aad_lib.defenses import bit_depth
        >>> bit_depth(torch.tensor([0.0, 0.2, 0.5, 0.9]).view(1, 1, 2, 2), 1).flatten()  # 0.5: half to even
        tensor([0., 0., 0., 1.])
    """
    bits = _check_bits(bits)
    levels = float(2 ** bits - 1)
    return torch.round(check_images(x) * levels) / levels


def median(x: torch.Tensor, size: int) -> torch.Tensor:
    """Median smoothing over a ``size`` x ``size`` window, per channel (Xu et al., NDSS 2018, Sec. 5).

    Feature squeezing (Xu, Evans, Qi, "Feature Squeezing: Detecting Adversarial Examples in Deep
    Neural Networks"), batched in torch. Follows their code (``scipy.ndimage.median_filter(x, size=(1, size, size,
    1), mode="reflect")``) exactly, so the 2x2 filter their MNIST and CIFAR-10 results use is
    available: the window spans offsets ``-(size // 2) .. size - 1 - size // 2`` (for even sizes
    one more pixel above/left), the value taken is the element of rank ``size**2 // 2`` (the upper
    of the two middles for even sizes, the median for odd) and borders are extended symmetrically
    with the edge pixel repeated (scipy's "reflect", numpy's "symmetric"), which also works for
    windows larger than the image. Differentiable (the gradient goes to the selected pixel).
    Memory: ``size**2`` times the input.

    Arguments:
        x (torch.Tensor): images in [0, 1], any channel count.
        size (int): window side, >= 1 (1: the identity).

    Shape:
        - x: (N, C, H, W), values in [0, 1].
        - returns: (N, C, H, W) in [0, 1], every value one of ``x``'s in the same channel.

    Examples:
        >>> import torch
        >>> from aad_lib.defenses import median
        >>> x = torch.tensor([[[[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]]])
        >>> median(x, 3).sum().item(), torch.equal(median(x, 1), x)  # a lone bright pixel is removed
        (0.0, True)
    """
    x = check_images(x)
    size = _check_size(size)
    before, after = size // 2, size - 1 - size // 2
    h, w = x.shape[2], x.shape[3]
    rows = _symmetric_index(h, before, after, x.device)
    cols = _symmetric_index(w, before, after, x.device)
    padded = x.index_select(2, rows).index_select(3, cols)
    windows = padded.unfold(2, size, 1).unfold(3, size, 1).reshape(*x.shape, size * size)
    return windows.kthvalue(size * size // 2 + 1, dim=-1).values


def identity(x: torch.Tensor) -> torch.Tensor:
    """No defense: the images, checked and unchanged (the same tensor).

    The ``"none"`` transform of :func:`make`, the baseline row of every defense table.

    Arguments:
        x (torch.Tensor): images in [0, 1].

    Shape:
        - x: (N, C, H, W), values in [0, 1].
        - returns: ``x`` itself.

    Examples:
        >>> import torch
        >>> from aad_lib.defenses import identity
        >>> x = torch.rand(2, 1, 4, 4)
        >>> identity(x) is x
        True
    """
    return check_images(x)


def encoded_bytes(x: torch.Tensor, codec: str, quality: int) -> torch.Tensor:
    """Size in bytes of each image encoded by ``codec`` at ``quality``, for a file-size-versus-quality plot.

    ``codec`` is "webp" or "jpeg", lossy, with the same settings as :func:`webp` / :func:`jpeg`.
    Returns an int64 CPU tensor of shape (N,). The size is the whole file Pillow writes (RIFF or
    JFIF headers and JPEG tables included, no metadata), so tiny images are dominated by headers.

    Arguments:
        x (torch.Tensor): images in [0, 1], 1 (grey) or 3 (colour) channels.
        codec (str): ``"webp"`` or ``"jpeg"``.
        quality (int): Pillow's quality in [0, 100].

    Shape:
        - x: (N, C, H, W), values in [0, 1], C in {1, 3}.
        - returns: (N,) int64, on the CPU.

    Examples:
        >>> import torch
        >>> from aad_lib.defenses import encoded_bytes
        >>> sizes = encoded_bytes(torch.rand(2, 3, 8, 8), "jpeg", 75)
        >>> sizes.shape, sizes.dtype, bool((sizes > 0).all())
        (torch.Size([2]), torch.int64, True)
    """
    codec = choose(codec, CODECS, "codec")
    quality = _check_quality(quality, codec)
    if codec == "webp":
        _, sizes = _roundtrip(x, "WEBP", {**WEBP_SETTINGS, "quality": quality, "lossless": False})
    else:
        _, sizes = _roundtrip(x, "JPEG", {**JPEG_SETTINGS, "quality": quality})
    return sizes


# --- registry -------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class Transform:
    """A named, parameterised transform: ``t(x) == fn(x, **params)``, built by :func:`make`.

    ``differentiable`` is False where the gradient with respect to the input is missing (codecs)
    or zero (bit depth): attacks need BPDA there. Two transforms are equal when name and params
    are; ``fn`` does not take part in comparisons. :attr:`label` is a short readable name.

    Arguments:
        name (str): the registry name, one of :data:`NAMES`.
        params (Mapping[str, Any]): the keyword arguments passed to ``fn``.
        fn (Callable[..., torch.Tensor]): the transform function, ``fn(x, **params)``.
        differentiable (bool): whether the input gradient is useful. Default: True.

    Shape:
        - input: (N, C, H, W), values in [0, 1].
        - output: (N, C, H, W) in [0, 1], same dtype and device.

    Examples:
        >>> import torch
        >>> from aad_lib.defenses import make
        >>> t = make("flip+webp", quality=60)
        >>> t.label, t.differentiable, t(torch.rand(2, 3, 8, 8)).shape
        ('flip + WebP q60', False, torch.Size([2, 3, 8, 8]))
    """

    name: str
    params: Mapping[str, Any] = field(hash=False)
    fn: Callable[..., torch.Tensor] = field(compare=False, repr=False)
    differentiable: bool = field(default=True, compare=False)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x, **self.params)

    def __repr__(self) -> str:
        args = "".join(f", {key}={value!r}" for key, value in self.params.items())
        return f"make({self.name!r}{args})"

    @property
    def label(self) -> str:
        """A short readable name for tables and legends, e.g. "WebP q60" or "flip + WebP q60"."""
        p = self.params
        webp_label = f"WebP {'lossless' if p.get('lossless') else 'q%s' % p.get('quality')}"
        labels = {
            "none": "no defense",
            "webp": webp_label,
            "jpeg": f"JPEG q{p.get('quality')}",
            "flip": "flip",
            "webp+flip": f"{webp_label} + flip",
            "flip+webp": f"flip + {webp_label}",
            "bitdepth": f"{p.get('bits')}-bit",
            "median": f"median {p.get('size')}x{p.get('size')}",
        }
        return labels.get(self.name, self.name)


@dataclass(frozen=True)
class _Spec:
    fn: Callable[..., torch.Tensor]
    required: tuple[str, ...]
    optional: Mapping[str, Any]
    differentiable: bool


# Names read in the order the steps are applied: "flip+webp" flips, then compresses (Yin et al.'s
# pipeline, see :func:`webp_flip`); "webp+flip" compresses, then flips.
_SPECS: dict[str, _Spec] = {
    "none": _Spec(identity, (), {}, True),
    "webp": _Spec(webp, ("quality",), {"lossless": False}, False),
    "jpeg": _Spec(jpeg, ("quality",), {}, False),
    "flip": _Spec(hflip, (), {}, True),
    "webp+flip": _Spec(partial(webp_flip, order="webp_first"), ("quality",), {"lossless": False}, False),
    "flip+webp": _Spec(partial(webp_flip, order="flip_first"), ("quality",), {"lossless": False}, False),
    "bitdepth": _Spec(bit_depth, ("bits",), {}, False),
    "median": _Spec(median, ("size",), {}, True),
}
NAMES: tuple[str, ...] = tuple(_SPECS)

_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "quality": lambda name, v: _check_quality(v, "jpeg" if name == "jpeg" else "webp"),
    "lossless": lambda name, v: _check_flag(v, "lossless"),
    "bits": lambda name, v: _check_bits(v),
    "size": lambda name, v: _check_size(v),
}


def make(name: str, **params: Any) -> Transform:
    """The transform ``name`` (one of :data:`NAMES`) with ``params``, validated now rather than at the first call.

    ``make("webp", quality=60)``, ``make("flip+webp", quality=60)``, ``make("bitdepth", bits=4)``,
    ``make("median", size=2)``, ``make("none")``. Names read in the order the steps are applied:
    ``"flip+webp"`` flips, then compresses (Yin et al.'s pipeline), ``"webp+flip"`` compresses,
    then flips.

    Arguments:
        name (str): one of :data:`NAMES`: ``"none"``, ``"webp"``, ``"jpeg"``, ``"flip"``,
            ``"webp+flip"``, ``"flip+webp"``, ``"bitdepth"``, ``"median"``.
        **params (Any): the transform's parameters: ``quality`` (and optionally ``lossless``) for
            the WebP ones, ``quality`` for jpeg, ``bits`` for bitdepth, ``size`` for median.

    Shape:
        - input of the returned :class:`Transform`: (N, C, H, W), values in [0, 1].
        - its output: (N, C, H, W) in [0, 1].

    Examples:
        >>> from aad_lib.defenses import make
        >>> make("webp", quality=60)
        make('webp', lossless=False, quality=60)
        >>> make("median", size=2).label
        'median 2x2'
    """
    name = choose(name, NAMES, "transform")
    spec = _SPECS[name]
    allowed = (*spec.required, *spec.optional)
    for key in params:
        if not allowed:
            raise AadError(f"transform {name!r} takes no parameters, got {key}={params[key]!r}.")
        choose(key, allowed, f"parameter of transform {name!r}:")
    missing = [key for key in spec.required if key not in params]
    if missing:
        example = ", ".join(f"{key}=..." for key in spec.required)
        raise AadError(f"transform {name!r} needs {', '.join(missing)}: make({name!r}, {example}).")
    values = {**spec.optional, **params}
    values = {key: _CHECKS[key](name, value) for key, value in values.items()}
    return Transform(name, MappingProxyType(values), spec.fn, spec.differentiable)


class Defended(nn.Module):
    """A model behind an input transform, itself just another model: ``forward(x) = model(transform(x))``.

    ``transform`` is a :class:`Transform` or any callable on [0, 1] images. ``num_classes`` is the
    wrapped model's, where it has one; ``train()``/``eval()`` reach the wrapped model. Through a
    codec the output has no gradient with respect to ``x`` (``torch.autograd.grad`` reports it
    unused) and through bit depth the gradient is zero: a plain white-box attack on such a model
    measures gradient masking, not robustness. Attack it with BPDA, or attack ``model`` alone for
    the papers' grey-box setting.

    Arguments:
        model (nn.Module): the classifier.
        transform (Callable[[torch.Tensor], torch.Tensor]): the defense, e.g. ``make("webp",
            quality=60)``.

    Shape:
        - input: (N, C, H, W), values in [0, 1].
        - output: ``model``'s logits, (N, num_classes).

    Examples:
        >>> import torch
        >>> from aad_lib.defenses import Defended, make
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
        >>> defended = Defended(model, make("flip"))
        >>> x = torch.rand(2, 1, 2, 2)
        >>> torch.equal(defended(x), model(x.flip(3)))
        True
    """

    def __init__(self, model: nn.Module, transform: Callable[[torch.Tensor], torch.Tensor]):
        super().__init__()
        if not isinstance(model, nn.Module):
            raise AadError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
        if not callable(transform):
            raise AadError(f"transform must be callable (see defenses.make), got {transform!r}.")
        self.model = model
        self.transform = transform

    @property
    def num_classes(self) -> int:
        return self.model.num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(self.transform(x))

    def extra_repr(self) -> str:
        return f"transform={getattr(self.transform, 'label', self.transform)!r}"


# --- helpers --------------------------------------------------------------------------------


def _roundtrip(x: torch.Tensor, fmt: str, settings: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """Encode and decode every image with Pillow; returns (decoded images like ``x``, sizes)."""
    x = check_images(x)
    n, c, h, w = x.shape
    if c not in (1, 3):
        raise AadError(f"{fmt.lower()} needs images with 1 (grey) or 3 (colour) channels, got {c} "
                       f"(shape {tuple(x.shape)}).")
    mode = "L" if c == 1 else "RGB"
    pixels = _to_uint8(x).permute(0, 2, 3, 1).numpy()  # N, H, W, C for Pillow
    decoded = np.empty_like(pixels)
    sizes = torch.empty(n, dtype=torch.int64)
    for i in range(n):
        buffer = io.BytesIO()
        Image.fromarray(pixels[i, :, :, 0] if c == 1 else pixels[i]).save(buffer, fmt, **settings)
        sizes[i] = buffer.tell()
        buffer.seek(0)
        with Image.open(buffer) as image:
            # Pillow decodes WebP as RGB even when the source was grey: convert back.
            decoded[i] = np.asarray(image.convert(mode)).reshape(h, w, c)
    out = torch.from_numpy(decoded).permute(0, 3, 1, 2).to(device=x.device, dtype=x.dtype)
    return out.div_(255.0).contiguous(), sizes


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    """``round(255 x)`` as uint8 on the CPU, computed in x's dtype (float32 for half types, whose
    255 x is not exact enough), so it equals ``torch.round(x * 255)`` for float32/float64 inputs."""
    x = x.detach().to("cpu")
    if x.dtype in (torch.float16, torch.bfloat16):
        x = x.float()
    return torch.round(x * 255.0).to(torch.uint8)


def _symmetric_index(n: int, before: int, after: int, device: torch.device) -> torch.Tensor:
    """Indices of a length-n axis extended by ``before``/``after`` with symmetric reflection
    (edge repeated: ... 1 0 | 0 1 ... n-1 | n-1 n-2 ...), periodic for pads longer than n."""
    i = torch.remainder(torch.arange(-before, n + after, device=device), 2 * n)
    return torch.where(i >= n, 2 * n - 1 - i, i)


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _check_quality(quality: Any, codec: str) -> int:
    if not _is_int(quality) or not 0 <= quality <= 100:
        raise AadError(f"{codec} quality must be an integer in [0, 100] (Pillow's scale), got {quality!r}.")
    return int(quality)


def _check_bits(bits: Any) -> int:
    if not _is_int(bits) or not 1 <= bits <= 8:
        raise AadError(f"bits must be an integer in 1..8 (8 = uint8 quantisation), got {bits!r}.")
    return int(bits)


def _check_size(size: Any) -> int:
    if not _is_int(size) or size < 1:
        raise AadError(f"median size must be an integer >= 1 (the window is size x size), got {size!r}.")
    return int(size)


def _check_flag(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise AadError(f"{name} must be True or False, got {value!r}.")
    return bool(value)
