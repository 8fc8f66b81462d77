"""Adversarial attacks on [0, 1] images. Every attack restores the model's mode, never writes
parameter gradients, and returns images in [0, 1], inside the eps ball for the attacks that
have one (DeepFool is a minimal-perturbation attack: no eps, it stops once the label flips)."""
from .bim import bim, kurakin_schedule
from .bpda import BPDADefended, bpda
from .context import model_mode
from .deepfool import deepfool, deepfool_with_info
from .objectives import cross_entropy, cw_margin
from .pgd import fgsm, pgd, pgd_trajectory, trades_attack
from .registry import ATTACKS, AttackEntry
from .step_ll import iterated_step_ll, least_likely, r_step_ll, step_ll

__all__ = ["fgsm", "pgd", "pgd_trajectory", "trades_attack", "cross_entropy", "cw_margin", "model_mode",
           "step_ll", "r_step_ll", "iterated_step_ll", "least_likely", "bim", "kurakin_schedule", "bpda",
           "BPDADefended", "deepfool", "deepfool_with_info", "ATTACKS", "AttackEntry"]
