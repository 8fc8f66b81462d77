"""One training loop; methods are loss recipes registered in :mod:`.recipes`."""
from . import checkpoint, recipes
from .loop import TrainConfig, epoch_models, load_model, train
from .paper_settings import PAPER_SETTINGS
from .recipes import RECIPES, AttackSpec

__all__ = ["TrainConfig", "AttackSpec", "RECIPES", "train", "load_model", "epoch_models", "checkpoint", "recipes",
           "PAPER_SETTINGS"]
