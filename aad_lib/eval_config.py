"""The evaluation protocol of the robustness table: its attack budget and its columns. Apart from
:mod:`aad_lib.evaluation` (which runs it) so that every command can check its params against the
columns without depending on the evaluation code."""
from __future__ import annotations

from dataclasses import dataclass, field

from .attacks.columns import Column, names
from .validation import check_count, check_eps, check_positive


@dataclass
class EvalConfig:
    """The paper's MNIST protocol by default: eps 0.3, step 0.01, random start, CW kappa 50."""

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
