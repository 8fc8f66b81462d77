"""One attack-settings type for every place that runs an L-inf attack: the training attack of a
recipe, the evaluation columns, the integrity audits and the compression study."""
from __future__ import annotations

from dataclasses import dataclass, replace

from ..validation import check_count, check_eps, check_positive


@dataclass(frozen=True)
class AttackSettings:
    """An L-inf attack budget (Madry et al., ICLR 2018): ``steps`` steps of size ``alpha``, radius ``eps``.

    The ball is in pixel units (images in [0, 1]); the attack starts from a uniform random point
    of the ball when ``random_start`` (Madry et al., "Towards Deep Learning Models Resistant to
    Adversarial Attacks", ICLR 2018). ``kappa`` is the confidence of the CW margin loss (Carlini
    and Wagner, IEEE S&P 2017) when the attack climbs that loss instead of the cross-entropy.

    Arguments:
        eps (float): radius of the L-inf ball, >= 0.
        alpha (float): step size, > 0 (0 only with eps 0: no attack).
        steps (int): number of steps, >= 0 (0: no attack).
        random_start (bool): start from a uniform point of the ball. Default: True.
        kappa (float): CW margin confidence. Default: 50.0 (the AALP paper's MNIST setting).

    Examples:
        >>> from aad_lib.attacks.settings import AttackSettings
        >>> AttackSettings(eps=0.3, alpha=0.01, steps=40).scaled(0.5)
        AttackSettings(eps=0.15, alpha=0.005, steps=40, random_start=True, kappa=50.0)
        >>> AttackSettings(eps=0.3, alpha=0.01, steps=40).with_steps(100).steps
        100
    """

    eps: float
    alpha: float
    steps: int
    random_start: bool = True
    kappa: float = 50.0

    def __post_init__(self) -> None:
        check_eps(self.eps, "attack.eps")
        if self.eps > 0 or self.alpha != 0:  # a zero budget (eps warm-up at its start) is no attack
            check_positive(self.alpha, "attack.alpha")
        check_count(self.steps, "attack.steps", 0)

    def scaled(self, fraction: float) -> AttackSettings:
        """The same attack with eps and alpha scaled by ``fraction`` (the eps warm-up of training)."""
        return replace(self, eps=self.eps * fraction, alpha=self.alpha * fraction)

    def with_steps(self, steps: int) -> AttackSettings:
        """The same budget with ``steps`` steps (one column of a robustness table)."""
        return replace(self, steps=steps)
