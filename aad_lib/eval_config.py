"""The evaluation protocol of the robustness table: its attack budget and its columns. Apart from
:mod:`aad_lib.evaluation` (which runs it) so that every command can check its params against the
columns without depending on the evaluation code."""
from __future__ import annotations

from dataclasses import dataclass, field

from .attacks.columns import Column, names
from .attacks.settings import AttackSettings
from .validation import check_count, check_eps, check_positive


@dataclass
class EvalConfig:
    """The robustness table's protocol (AALP paper, Table 2); by default the paper's MNIST one.

    The defaults: eps 0.3, step 0.01, random start, CW kappa 50, PGD-k and CW-k for k = 10, 20,
    40, 100. PGD (Madry et al., ICLR 2018) climbs the cross-entropy, CW the margin loss of Carlini
    and Wagner (IEEE S&P 2017). The values are checked on construction (eps >= 0, alpha > 0,
    batch size and step counts >= 1).

    Arguments:
        eps (float): L-inf radius, >= 0 (pixel units, images in [0, 1]). Default: 0.3.
        alpha (float): step size of PGD and CW, > 0. Default: 0.01.
        pgd_steps (list[int]): the step counts k of the PGD-k columns (empty: none).
            Default: ``[10, 20, 40, 100]``.
        cw_steps (list[int]): the step counts k of the CW-k columns (empty: none).
            Default: ``[10, 20, 40, 100]``.
        kappa (float): confidence of the CW margin. Default: 50.0.
        random_start (bool): start PGD and CW from a uniform point of the ball. Default: True.
        batch_size (int): images attacked at a time, >= 1. Default: 500.
        seed (int): the seed the random starts derive from. Default: 0.
        stop_when_fooled (bool): AutoAttack's robust-accuracy convention (see
            :mod:`aad_lib.evaluation`); False: the last iterate. Default: True.

    Examples:
        >>> from aad_lib.eval_config import EvalConfig
        >>> cfg = EvalConfig(pgd_steps=[40, 10], cw_steps=[100])
        >>> cfg.eps, cfg.alpha, cfg.columns()
        (0.3, 0.01, ['Clean', 'FGSM', 'PGD-10', 'PGD-40', 'CW-100'])
        >>> cfg.strongest()
        ['PGD-40', 'CW-100']
    """

    eps: float = 0.3
    alpha: float = 0.01
    pgd_steps: list[int] = field(default_factory=lambda: [10, 20, 40, 100])
    cw_steps: list[int] = field(default_factory=lambda: [10, 20, 40, 100])
    kappa: float = 50.0
    random_start: bool = True
    batch_size: int = 500
    seed: int = 0
    stop_when_fooled: bool = True

    def __post_init__(self) -> None:
        check_eps(self.eps)
        check_positive(self.alpha, "alpha")
        check_count(self.batch_size, "batch_size", 1)
        for k in [*self.pgd_steps, *self.cw_steps]:
            check_count(k, "attack steps", 1)

    def columns(self) -> list[str]:
        """Clean, FGSM, then PGD-k and CW-k by increasing k (:class:`~aad_lib.attacks.columns.Column` names)."""
        return names([Column("Clean"), Column("FGSM")] + [Column("PGD", k) for k in sorted(self.pgd_steps)]
                     + [Column("CW", k) for k in sorted(self.cw_steps)])

    def strongest(self) -> list[str]:
        """The PGD and the CW column with the most steps (the integrity audits' white-box reference)."""
        return names([Column(kind, max(steps)) for kind, steps in (("PGD", self.pgd_steps), ("CW", self.cw_steps)) if steps])

    def attack(self, steps: int) -> AttackSettings:
        """The evaluation's budget (eps, step, random start, CW kappa) with ``steps`` steps: the
        settings of its PGD-``steps`` and CW-``steps`` columns."""
        return AttackSettings(self.eps, self.alpha, steps, self.random_start, self.kappa)
