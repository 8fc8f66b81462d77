"""The names of robustness-table columns (``Clean``, ``FGSM``, ``PGD-40``, ``CW-100``, ``BIM-10``,
``DeepFool``, ...), built and parsed in one place: every table, audit and notebook that needs the
attack or the step count of a column asks :class:`Column` instead of splitting strings."""
from __future__ import annotations

from dataclasses import dataclass, replace

from ..validation import AadError

STEPPED = ("PGD", "CW", "BIM", "Iter-LL")  # kinds written "<kind>-<steps>"
SINGLE = ("Clean", "FGSM", "DeepFool", "Step-LL", "R+Step-LL")  # kinds written alone


@dataclass(frozen=True)
class Column:
    """One column of a robustness table: an attack ``kind`` and, for iterative attacks, its step count.

    Arguments:
        kind (str): ``Clean``, ``FGSM``, ``PGD`` (cross-entropy), ``CW`` (CW margin), ``BIM``,
            ``DeepFool``, ``Step-LL``, ``R+Step-LL`` or ``Iter-LL``.
        steps (int | None): the step count of a stepped kind, None for a single-shot one. Default: None.

    Examples:
        >>> from aad_lib.attacks.columns import Column
        >>> str(Column("PGD", 40)), Column.parse("CW-100").steps, Column.parse("PGD-40").with_kind("CW")
        ('PGD-40', 100, Column(kind='CW', steps=40))
        >>> Column.parse("FGSM"), Column("DeepFool").name
        (Column(kind='FGSM', steps=None), 'DeepFool')
    """

    kind: str
    steps: int | None = None

    def __post_init__(self) -> None:
        if self.steps is None and self.kind not in SINGLE:
            raise AadError(f"column kind {self.kind!r} needs a step count (e.g. {self.kind}-40); "
                           f"kinds without one: {', '.join(SINGLE)}.")
        if self.steps is not None and (self.kind not in STEPPED or isinstance(self.steps, bool)
                                       or not isinstance(self.steps, int) or self.steps < 1):
            raise AadError(f"column {self.kind}-{self.steps!r}: only {', '.join(STEPPED)} take a step count, "
                           "and it must be an integer >= 1.")

    def __str__(self) -> str:
        return self.kind if self.steps is None else f"{self.kind}-{self.steps}"

    @property
    def name(self) -> str:
        """The column's name in tables and records, e.g. ``PGD-40``."""
        return str(self)

    @classmethod
    def parse(cls, name: str) -> Column:
        """``"PGD-40"`` -> ``Column("PGD", 40)``; ``"FGSM"`` -> ``Column("FGSM")``; a bad name is an
        error that lists the valid forms."""
        if not isinstance(name, str):
            raise AadError(f"a column name must be a string like 'PGD-40', got {name!r}.")
        if name in SINGLE:
            return cls(name)
        kind, sep, steps = name.rpartition("-")
        if sep and kind in STEPPED and steps.isdigit():
            return cls(kind, int(steps))
        raise AadError(f"unknown column {name!r}: valid are {', '.join(SINGLE)} or "
                       f"<kind>-<steps> with kind in {', '.join(STEPPED)} (e.g. PGD-40, CW-100).")

    def with_kind(self, kind: str) -> Column:
        """The same step count under another attack, e.g. ``PGD-40`` -> ``CW-40``."""
        return replace(self, kind=kind)


def names(columns: list[Column]) -> list[str]:
    """The table names of ``columns``, in order (``Clean``, ``FGSM``, ``PGD-40``, ...).

    Arguments:
        columns (list[Column]): the columns.

    Examples:
        >>> from aad_lib.attacks.columns import Column, names
        >>> names([Column("Clean"), Column("FGSM"), Column("PGD", 40), Column("CW", 100)])
        ['Clean', 'FGSM', 'PGD-40', 'CW-100']
    """
    return [str(c) for c in columns]


def cw_twin(name: str) -> str | None:
    """The CW column with the step count of column ``name`` (``PGD-40`` -> ``CW-40``); None without steps.

    The AALP tables show each PGD column beside its CW twin. A bad name is an error that lists the
    valid forms (:meth:`Column.parse`).

    Arguments:
        name (str): a column name, e.g. ``PGD-40`` or ``FGSM``.

    Examples:
        >>> from aad_lib.attacks.columns import cw_twin
        >>> cw_twin("PGD-40"), cw_twin("BIM-10"), cw_twin("FGSM")
        ('CW-40', 'CW-10', None)
    """
    column = Column.parse(name)
    return None if column.steps is None else str(column.with_kind("CW"))
