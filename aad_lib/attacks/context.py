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
    """Put ``model`` in ``mode`` ("eval", "train" or "keep") and restore every submodule's own
    ``training`` flag on exit, even if the attack raises."""
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
    """Images in [0, 1] NCHW without NaN, labels (if any) matching, model on the same device."""
    if not isinstance(model, nn.Module):
        raise AadError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    check_images(x)
    if y is not None:
        check_labels(y, x.shape[0], getattr(model, "num_classes", None))
    param = next(model.parameters(), None)
    if param is not None and param.device != x.device:
        raise AadError(f"x is on {x.device} but the model is on {param.device}; move one of them.")
