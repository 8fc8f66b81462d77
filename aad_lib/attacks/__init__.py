"""Adversarial attacks on [0, 1] images. Every attack restores the model's mode, never writes
parameter gradients, and returns images inside the eps ball and [0, 1]."""
from .context import model_mode
from .objectives import cross_entropy, cw_margin
from .pgd import fgsm, pgd, pgd_trajectory, trades_attack

__all__ = ["fgsm", "pgd", "pgd_trajectory", "trades_attack", "cross_entropy", "cw_margin", "model_mode"]
