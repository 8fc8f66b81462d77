"""The figure functions every section uses, in one style; each returns a matplotlib Figure and
:func:`save` writes it as PNG atomically. Each paper section's own figures live in its package
(``aad_lib.sections.<section>.plots``)."""
from .maps import cam_grid
from .style import save
from .training import training_curves

__all__ = ["save", "training_curves", "cam_grid"]
