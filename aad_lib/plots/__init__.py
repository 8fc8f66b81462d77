"""The figure functions the notebooks call, in one style; each returns a matplotlib Figure and
:func:`save` writes it as PNG atomically."""
from .aalp import (SET_COLORS, alp_loss_by_set, cam_grid, confidence_scatter, contribution_distributions,
                   contribution_evolution, history_comparison, lambda_sweep, set_examples)
from . import attention, compression
from .style import save
from .training import training_curves

__all__ = ["save", "training_curves", "contribution_distributions", "contribution_evolution", "cam_grid",
           "set_examples", "alp_loss_by_set", "confidence_scatter", "lambda_sweep", "history_comparison", "SET_COLORS",
           "attention", "compression"]
