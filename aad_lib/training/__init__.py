"""One training loop; methods are loss recipes registered in :mod:`.recipes`; several seeds of one method can
train as one stack of models (:mod:`.batched`)."""
from . import checkpoint, recipes
from .loop import TrainConfig, epoch_models, load_model, make_optimizer, train, train_step
from .paper_settings import PAPER_SETTINGS
from ..attacks.settings import AttackSettings
from .recipes import RECIPES, Recipe
from .batched import train_stack
from .stack import ModelStack

__all__ = ["TrainConfig", "AttackSettings", "Recipe", "RECIPES", "train", "train_step", "make_optimizer", "load_model", "epoch_models", "checkpoint", "recipes",
           "PAPER_SETTINGS", "train_stack", "ModelStack"]
