"""Backward Pass Differentiable Approximation (Athalye, Carlini, Wagner, "Obfuscated Gradients Give
a False Sense of Security", ICML 2018, Sec. 4.1).

A defence ``model(g(x))`` whose pre-processing ``g`` is non-differentiable (a Pillow WebP/JPEG
round trip, bit-depth reduction with ``torch.round``) or has useless gradients shows an attack a
zero or meaningless input gradient. BPDA keeps the forward pass exact, ``g(x)``, and replaces
the backward pass by that of a differentiable ``h`` with ``h(x) ~ g(x)``::

    grad_x L(model(g(x)))  ~  J_h(x)^T  grad_z L(model(z)) |_{z = g(x)}

With ``h`` the identity (the paper's choice when ``g(x) ~ x``) the gradient at the transformed
point passes straight through. :class:`BPDADefended` wraps a model and a transform into one
``nn.Module`` that the white-box attacks of :mod:`aad_lib.attacks` (FGSM, PGD, BIM, CW loss)
attack unchanged.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from ..validation import AadError

Transform = Callable[[torch.Tensor], torch.Tensor]


class _BPDAFunction(torch.autograd.Function):
    """Forward: ``transform(x)`` without a graph. Backward: the vector-Jacobian product of
    ``approximation`` at ``x`` (``None``: the identity, the incoming gradient unchanged)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, transform: Transform,
                approximation: Transform | None) -> torch.Tensor:
        with torch.no_grad():
            out = transform(x.detach())
        if not isinstance(out, torch.Tensor):
            raise AadError(f"the BPDA transform must return a torch.Tensor, got {type(out).__name__}.")
        if approximation is None and out.shape != x.shape:
            raise AadError(f"BPDA with the identity approximation needs a transform that keeps the "
                           f"shape: input {tuple(x.shape)}, output {tuple(out.shape)}; pass an "
                           "approximation with the transform's output shape.")
        ctx.save_for_backward(x)
        ctx.approximation = approximation
        # a fresh tensor in x's dtype and device: a codec may answer in float64 on the CPU, and an
        # output aliasing the input (an identity transform, a view) must not be returned as is
        return out.detach().to(device=x.device, dtype=x.dtype, copy=True)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        if ctx.approximation is None:
            return grad_out, None, None
        (x,) = ctx.saved_tensors
        with torch.enable_grad():
            xa = x.detach().requires_grad_(True)
            approx = ctx.approximation(xa)
            if not isinstance(approx, torch.Tensor) or approx.shape != grad_out.shape:
                got = tuple(approx.shape) if isinstance(approx, torch.Tensor) else type(approx).__name__
                raise AadError(f"the BPDA approximation must return a tensor shaped like the "
                               f"transform's output {tuple(grad_out.shape)}, got {got}.")
            (grad,) = torch.autograd.grad(approx, xa, grad_out.to(approx.dtype), allow_unused=True)
        return (torch.zeros_like(x) if grad is None else grad), None, None


def bpda(transform: Transform, approximation: Transform | None = None) -> Transform:
    """BPDA (Athalye et al., ICML 2018, Sec. 4.1): ``x -> transform(x)`` with ``approximation``'s backward.

    The backward pass is the identity when ``approximation`` is None (straight-through, for
    ``transform(x) ~ x``), otherwise the vector-Jacobian product of the differentiable
    ``approximation`` at ``x``. ``transform`` may be anything that maps a tensor to a tensor (a
    Pillow codec, ``torch.round``); it runs without a graph, its output is cast to the input's
    dtype and device. Returns the wrapped function.

    Arguments:
        transform (Callable[[torch.Tensor], torch.Tensor]): the exact, possibly
            non-differentiable forward map ``g``.
        approximation (Callable[[torch.Tensor], torch.Tensor] | None): a differentiable ``h`` with
            ``h(x) ~ g(x)`` and ``g``'s output shape; None: the identity (``g`` must keep the
            shape). Default: None.

    Shape:
        - input of the returned function: any tensor ``transform`` accepts, e.g. (N, C, H, W).
        - output: ``transform``'s output, in the input's dtype and on its device; with the
          identity approximation, the input's shape.

    Examples:
        >>> import torch
        >>> from aad_lib.attacks import bpda
        >>> rounded = bpda(torch.round)
        >>> x = torch.tensor([0.2, 0.7], requires_grad=True)
        >>> rounded(x).sum().backward()
        >>> x.grad  # the identity's gradient, where torch.round's is 0
        tensor([1., 1.])
    """
    if not callable(transform):
        raise AadError(f"transform must be callable (tensor -> tensor), got {type(transform).__name__}.")
    if approximation is not None and not callable(approximation):
        raise AadError(f"approximation must be callable (tensor -> tensor) or None, got "
                       f"{type(approximation).__name__}.")

    def apply(x: torch.Tensor) -> torch.Tensor:
        return _BPDAFunction.apply(x, transform, approximation)

    return apply


class BPDADefended(nn.Module):
    """The defended pipeline ``model(transform(x))`` with BPDA gradients (Athalye et al., ICML 2018, Sec. 4.1).

    Pass it to ``pgd``/``fgsm``/``bim`` for a white-box attack on the defence: the forward pass
    is exact, the backward pass goes through ``approximation`` (see :func:`bpda`).
    ``num_classes`` is the wrapped model's. ``model`` (and ``transform`` or ``approximation``
    when they are modules, e.g. a learned compressor) are submodules, so attack mode switches and
    ``.to(device)`` reach them.

    Arguments:
        model (nn.Module): the classifier behind the transform.
        transform (Callable[[torch.Tensor], torch.Tensor]): the defence's exact pre-processing.
        approximation (Callable[[torch.Tensor], torch.Tensor] | None): its differentiable
            stand-in for the backward pass; None: the identity. Default: None.

    Shape:
        - input: (N, C, H, W), values in [0, 1].
        - output: ``model``'s logits, (N, num_classes).

    Examples:
        >>> import torch
        >>> from aad_lib.attacks import BPDADefended, pgd
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
        >>> defended = BPDADefended(model, lambda x: torch.round(x * 15) / 15)
        >>> x, y = torch.rand(2, 1, 2, 2), torch.tensor([0, 2])
        >>> defended(x).shape, pgd(defended, x, y, eps=8/255, alpha=2/255, steps=2).shape
        (torch.Size([2, 3]), torch.Size([2, 1, 2, 2]))
    """

    def __init__(self, model: nn.Module, transform: Transform, approximation: Transform | None = None):
        super().__init__()
        if not isinstance(model, nn.Module):
            raise AadError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
        self.model = model
        self.transform = transform
        self.approximation = approximation
        self._defend = bpda(transform, approximation)

    @property
    def num_classes(self) -> int | None:
        return getattr(self.model, "num_classes", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(self._defend(x))
