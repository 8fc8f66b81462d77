"""One training loop; methods are loss recipes registered in :mod:`.recipes`."""
from . import checkpoint, recipes
from .loop import TrainConfig, epoch_models, load_model, make_optimizer, train, train_step
from .paper_settings import PAPER_SETTINGS
from .recipes import RECIPES, AttackSpec

__all__ = ["TrainConfig", "AttackSpec", "RECIPES", "train", "train_step", "make_optimizer", "load_model", "epoch_models", "checkpoint", "recipes",
           "PAPER_SETTINGS"]
