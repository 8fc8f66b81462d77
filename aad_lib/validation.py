"""Input checks with errors that name the bad value and the valid choices.

Every entry point a user can reach (attacks, evaluation, data, models, the CLI) calls these,
so a wrong name or a tensor outside [0, 1] fails loudly before any result is written.
"""
from __future__ import annotations

import difflib
import math
from collections.abc import Iterable

import torch


class AadError(ValueError):
    """A user-facing error: bad name, bad value, bad tensor, bad file."""


def choose(name: str, choices: Iterable[str], what: str) -> str:
    """Return ``name`` if it is one of ``choices``; otherwise raise with a did-you-mean hint."""
    options = sorted(choices)
    if name in options:
        return name
    close = difflib.get_close_matches(str(name), options, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise AadError(f"unknown {what} {name!r}.{hint} Valid choices: {', '.join(options)}.")


def check_eps(eps: float, name: str = "eps") -> float:
    """An attack radius must be a finite number >= 0."""
    if not isinstance(eps, (int, float)) or isinstance(eps, bool) or not math.isfinite(eps) or eps < 0:
        raise AadError(f"{name} must be a finite number >= 0, got {eps!r}.")
    return float(eps)


def check_positive(value: float, name: str) -> float:
    """A step size, rate or weight that must be a finite number > 0."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise AadError(f"{name} must be a finite number > 0, got {value!r}.")
    return float(value)


def check_count(value: int, name: str, minimum: int = 0) -> int:
    """An integer count (steps, epochs, samples) with a lower bound."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise AadError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return value


def check_images(x: torch.Tensor, name: str = "x") -> torch.Tensor:
    """Images must be a floating NCHW tensor in [0, 1] without NaN (normalisation lives in the model)."""
    if not isinstance(x, torch.Tensor):
        raise AadError(f"{name} must be a torch.Tensor of images, got {type(x).__name__}.")
    if not x.is_floating_point():
        raise AadError(f"{name} must be a floating tensor in [0, 1], got dtype {x.dtype}; "
                       "convert uint8 images with x.float() / 255.")
    if x.dim() != 4:
        raise AadError(f"{name} must have shape (N, C, H, W), got {tuple(x.shape)}.")
    if x.numel() == 0:
        raise AadError(f"{name} is empty (shape {tuple(x.shape)}).")
    if torch.isnan(x).any():
        raise AadError(f"{name} contains NaN.")
    lo, hi = x.min().item(), x.max().item()
    if lo < 0.0 or hi > 1.0:
        raise AadError(f"{name} must lie in [0, 1] (pixel units; normalisation belongs inside the "
                       f"model), got values in [{lo:.4g}, {hi:.4g}].")
    return x


def check_labels(y: torch.Tensor, n: int, num_classes: int | None = None, name: str = "y") -> torch.Tensor:
    """Labels must be an integer vector of length ``n`` with values in [0, num_classes)."""
    if not isinstance(y, torch.Tensor) or y.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        raise AadError(f"{name} must be an integer torch.Tensor of class indices, got "
                       f"{getattr(y, 'dtype', type(y).__name__)}.")
    if y.shape != (n,):
        raise AadError(f"{name} must have shape ({n},) to match the images, got {tuple(y.shape)}.")
    if num_classes is not None and n and (y.min() < 0 or y.max() >= num_classes):
        raise AadError(f"{name} must lie in [0, {num_classes}), got [{int(y.min())}, {int(y.max())}].")
    return y
