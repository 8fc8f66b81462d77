"""How an attack touches a model: in a chosen mode, restored afterwards, gradients w.r.t. the
input only (``torch.autograd.grad``), so parameter ``.grad`` is never written."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from ..validation import AadError, check_images, check_labels, choose


@contextmanager
def model_mode(model: nn.Module, mode: str = "eval") -> Iterator[nn.Module]:
    """Put ``model`` in ``mode`` for the duration of a ``with`` block, then restore every submodule's own flag.

    ``mode`` is "eval", "train" or "keep" (leave the flags as they are); on exit every submodule's
    own ``training`` flag is restored, even if the attack raises, so a model whose submodules are
    in mixed modes comes back exactly as it was. Yields ``model``. Every attack of
    :mod:`aad_lib.attacks` runs the model inside it.

    Arguments:
        model (nn.Module): the model to switch.
        mode (str): ``"eval"``, ``"train"`` or ``"keep"``. Default: ``"eval"``.

    Examples:
        >>> import torch
        >>> from aad_lib.attacks import model_mode
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3)).train()
        >>> with model_mode(model, "eval"):
        ...     model.training
        False
        >>> model.training
        True
    """
    choose(mode, ("eval", "train", "keep"), "model mode")
    flags = [m.training for m in model.modules()]
    if mode != "keep":
        model.train(mode == "train")
    try:
        yield model
    finally:
        for m, flag in zip(model.modules(), flags):
            m.training = flag


def check_attack_inputs(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None) -> None:
    """Check an attack's inputs, raising :class:`~aad_lib.validation.AadError` with a readable message.

    Images in [0, 1] NCHW without NaN, labels (if any) matching, model on the same device. Labels
    must lie in ``[0, model.num_classes)`` where the model has that attribute.

    Arguments:
        model (nn.Module): the attacked model (its first parameter, if any, fixes the device).
        x (torch.Tensor): the images, floating point, in [0, 1] (normalisation lives in the model).
        y (torch.Tensor | None): the labels, or None for attacks without labels.

    Shape:
        - x: (N, C, H, W), values in [0, 1].
        - y: (N,) integer class indices, or None.

    Examples:
        >>> import torch
        >>> from aad_lib.attacks.context import check_attack_inputs
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
        >>> check_attack_inputs(model, torch.rand(2, 1, 2, 2), torch.tensor([0, 2]))
        >>> check_attack_inputs(model, torch.full((2, 1, 2, 2), 2.0), None)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        aad_lib.validation.AadError: x must lie in [0, 1] (pixel units; ...), got values in [2, 2].
    """
    if not isinstance(model, nn.Module):
        raise AadError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    check_images(x)
    if y is not None:
        check_labels(y, x.shape[0], getattr(model, "num_classes", None))
    param = next(model.parameters(), None)
    if param is not None and param.device != x.device:
        raise AadError(f"x is on {x.device} but the model is on {param.device}; move one of them.")
