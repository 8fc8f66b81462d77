"""The one training loop: any recipe, per-epoch checkpoints, resume, seeded determinism on CPU.

Randomness is derived from ``(seed, epoch)`` (batch order, attack starts, the global torch RNG),
never from how many batches ran before, so a run resumed from epoch k's checkpoint produces the
same bits as one that was never interrupted. What a run holds between epochs, its log rows and
checkpoints live in :mod:`.runs`, shared with the stacked loop of :mod:`.batched`.
"""
from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data import ImageTensorDataset
from ..runtime import derive_seed
from ..validation import AadError, check_count, check_positive, choose
from . import checkpoint, recipes, runs
from ..attacks.settings import AttackSettings
from .recipes import Batch
from .runs import LOG_FIELDS  # noqa: F401 - the log's columns, importable from here as before


@dataclass
class TrainConfig:
    """Everything that determines a training run of :func:`train` (its fingerprint decides whether to resume).

    The method is a loss recipe of :mod:`aad_lib.training.recipes` (RAW, Madry et al.'s
    adversarial training, ALP of Kannan et al. 2018, TRADES of Zhang et al. 2019, the AALP paper's
    Guided Dropout and adaptive weighting, ARP of Wu et al., "Attention, Please!", ComDefend, ...).
    The values are checked on construction: an unknown method or option is an error that
    suggests the known ones; missing options take the recipe's defaults; ``attack`` may be given
    as a dict of :class:`~aad_lib.attacks.settings.AttackSettings` fields.

    Arguments:
        method (str): the registered training method, e.g. ``"standard"``, ``"madry"``,
            ``"alp"``, ``"aalp"``, ``"trades"``, ``"arp"``.
        epochs (int): number of epochs, >= 1.
        batch_size (int): images per optimisation step, >= 1. Default: 100.
        lr (float): learning rate, > 0. Default: 1e-3.
        optimizer (str): ``"adam"`` or ``"sgd"`` (:func:`make_optimizer`). Default: ``"adam"``.
        weight_decay (float): weight decay of the optimiser. Default: 0.0.
        momentum (float): momentum of SGD (Adam ignores it). Default: 0.9.
        lr_milestones (list[int]): epochs after which the learning rate is multiplied by
            ``lr_gamma`` (``MultiStepLR``). Default: ``[]``.
        lr_gamma (float): the factor at each milestone. Default: 0.1.
        attack (AttackSettings): the training attack (a dict of its fields is converted).
            Default: ``AttackSettings(0.3, 0.01, 40)``.
        eps_warmup_epochs (float): eps ramps linearly from 0 to ``attack.eps`` over that many
            epochs, batch by batch; 0: no warm-up. Default: 0.0.
        options (dict[str, Any]): the method's options (e.g. ``alp_weight``), over the recipe's
            defaults. Default: ``{}``.
        seed (int): the seed every random choice of the run derives from, with the epoch.
            Default: 0.
        monitor_samples (int): test images for the end-of-epoch clean and PGD accuracy, >= 0
            (0: no monitor). Default: 0.
        monitor_steps (int): PGD steps of that monitor. Default: 10.

    Examples:
        >>> from aad_lib.training.loop import TrainConfig
        >>> cfg = TrainConfig("aalp", epochs=2, attack={"eps": 0.3, "alpha": 0.1, "steps": 3})
        >>> cfg.attack
        AttackSettings(eps=0.3, alpha=0.1, steps=3, random_start=True, kappa=50.0)
        >>> cfg.options  # the recipe's defaults
        {'alp_weight': 0.5, 'gd_rescale': False}
        >>> TrainConfig("aalp", epochs=2, options={"alp_weight": 1.0}).options
        {'alp_weight': 1.0, 'gd_rescale': False}
        >>> longer = TrainConfig("aalp", epochs=3, attack=cfg.attack)
        >>> len(cfg.fingerprint()), cfg.fingerprint() == longer.fingerprint()  # another run: no resume
        (16, False)
    """

    method: str
    epochs: int
    batch_size: int = 100
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    momentum: float = 0.9
    lr_milestones: list[int] = field(default_factory=list)
    lr_gamma: float = 0.1
    attack: AttackSettings = field(default_factory=lambda: AttackSettings(0.3, 0.01, 40))
    eps_warmup_epochs: float = 0.0
    options: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    monitor_samples: int = 0
    monitor_steps: int = 10

    def __post_init__(self) -> None:
        if isinstance(self.attack, dict):
            self.attack = AttackSettings(**self.attack)
        known = recipes.get(self.method).options
        for key in self.options:
            choose(key, known, f"option of method {self.method!r}")
        self.options = {**known, **self.options}
        choose(self.optimizer, ("adam", "sgd"), "optimizer")
        check_count(self.epochs, "epochs", 1)
        check_count(self.batch_size, "batch_size", 1)
        check_positive(self.lr, "lr")
        check_count(self.monitor_samples, "monitor_samples", 0)
        if self.eps_warmup_epochs < 0:
            raise AadError(f"eps_warmup_epochs must be >= 0, got {self.eps_warmup_epochs!r}.")

    def fingerprint(self, extra: dict[str, Any] | None = None) -> str:
        blob = json.dumps({"config": asdict(self), **(extra or {})}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def train(model: nn.Module, train_set: ImageTensorDataset, cfg: TrainConfig, out_dir: str | Path, *,
          model_spec: dict[str, Any] | None = None, test_set: ImageTensorDataset | None = None,
          device: torch.device | str = "cpu", progress: bool = True, resume: bool = True,
          log_path: str | Path | None = None) -> list[dict[str, Any]]:
    """Train ``model`` in place with ``cfg``'s recipe (:mod:`aad_lib.training.recipes`) and write ``out_dir``.

    The loss of each method is its paper's equation (e.g. Madry et al., ICLR 2018, Eq. 2; the
    AALP paper, Eq. 10; TRADES, Zhang et al., ICML 2019, Eq. 5). Written to ``out_dir``:

    - ``checkpoints/epoch_NNN.pt`` (+ ``.json``): model, optimiser and log after each epoch;
    - ``model.pt`` (+ ``model.json``): the final ``state_dict`` and its metadata;
    - ``log.csv`` (or ``log_path``): one row per epoch (loss parts, clean/adversarial training accuracy and, with
      ``monitor_samples``, clean/PGD accuracy on that many test images).

    With ``resume`` a matching checkpoint (same config fingerprint) is continued; a checkpoint of
    another config is ignored and overwritten. Returns the log rows. The fingerprint covers
    ``cfg``, ``model_spec`` and the training data (name, size, content hash). Randomness is derived
    from ``(cfg.seed, epoch)`` (module docstring), so a resumed run gives the bits of an
    uninterrupted one on the CPU. A loss that becomes NaN or infinite stops the run with an error
    (:func:`train_step`). The model is left on ``device`` in eval mode.

    Arguments:
        model (nn.Module): the model to train, in place: an :mod:`aad_lib.models` classifier (the
            Guided Dropout recipes need its ``penultimate``/``head``, ARP its ``cam_layer``), or
            the purifier of a purifier recipe.
        train_set (ImageTensorDataset): the training images and labels.
        cfg (TrainConfig): the run.
        out_dir (str | Path): the run's folder (created if needed).
        model_spec (dict[str, Any] | None): the ``aad_lib.models.create`` arguments that rebuild
            ``model``, written to ``model.json`` (:func:`load_model` and :func:`epoch_models` need
            it); None: ``{}``. Default: None.
        test_set (ImageTensorDataset | None): the images of the end-of-epoch monitor (the first
            ``cfg.monitor_samples``); None: no monitor. Default: None.
        device (torch.device | str): where the model trains. Default: ``"cpu"``.
        progress (bool): a progress bar (on a terminal only) and one line per epoch.
            Default: True.
        resume (bool): continue a matching checkpoint in ``out_dir``. Default: True.
        log_path (str | Path | None): the log's path; None: ``out_dir / "log.csv"``.
            Default: None.

    Shape:
        - train_set: ``images`` (N, C, H, W) uint8, ``labels`` (N,) int64.
        - test_set: ``images`` (M, C, H, W) uint8, ``labels`` (M,) int64.
        - returns: one dict per epoch (the rows of ``log.csv``).

    Examples:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from aad_lib import data, models
        >>> from aad_lib.training.loop import TrainConfig, train
        >>> spec = {"name": "lenet_small", "in_channels": 1, "size": 8}  # 8 x 8 images: fast
        >>> images = data.fake(n=8, shape=(1, 8, 8))  # random images and labels
        >>> cfg = TrainConfig("madry", epochs=1, batch_size=4, attack={"eps": 0.3, "alpha": 0.1, "steps": 1})
        >>> with tempfile.TemporaryDirectory() as out:
        ...     log = train(models.create(**spec), images, cfg, out, model_spec=spec, progress=False)
        ...     files = sorted(p.relative_to(out).as_posix() for p in Path(out).rglob("*.*"))
        ...     again = train(models.create(**spec), images, cfg, out, model_spec=spec, progress=False)
        >>> len(log), log[0]["epoch"], log[0]["eps"], files
        (1, 1, 0.3, ['checkpoints/epoch_001.json', 'checkpoints/epoch_001.pt', 'log.csv',
                     'model.json', 'model.pt'])
        >>> again[0]["seconds"] == log[0]["seconds"]  # resumed: the finished run's log, no epoch ran
        True
    """
    from tqdm.auto import tqdm

    run = runs.open_run(model, train_set, cfg, out_dir, model_spec=model_spec, device=device, resume=resume,
                        log_path=log_path)
    recipe = recipes.get(cfg.method)
    x_all, y_all = train_set.tensors(device)
    monitor = test_set.tensors(device, cfg.monitor_samples) if test_set is not None and cfg.monitor_samples else None
    n = len(train_set)
    for epoch in range(run.start_epoch, cfg.epochs + 1):
        t0 = time.perf_counter()
        torch.manual_seed(derive_seed(cfg.seed, "epoch", epoch))
        order = runs.epoch_order(cfg, n, epoch, device)
        attack_gen = runs.attack_generator(cfg, epoch, device)
        model.train()
        tally = runs.EpochTally()
        batches = range(0, n, cfg.batch_size)
        bar = tqdm(batches, desc=f"{cfg.method} epoch {epoch}/{cfg.epochs}", disable=None if progress else True, leave=False)  # bars on a TTY only
        for b, start in enumerate(bar):
            idx = order[start:start + cfg.batch_size]
            fraction = runs.warmup_fraction(cfg, epoch - 1 + b / len(batches))
            batch = Batch(model, x_all[idx], y_all[idx], cfg.attack.scaled(fraction), cfg.options, attack_gen)
            out = train_step(recipe, batch, run.optimizer, where=f"{cfg.method} epoch {epoch}, batch {b}")
            tally.add(out, batch.y)
            bar.set_postfix(loss=f"{tally.mean_loss():.3f}", eps=f"{batch.attack.eps:.3f}")
        run.scheduler.step()
        runs.close_epoch(run, epoch, tally, recipe, monitor, t0, progress)
    return runs.finish_run(run)


def train_step(recipe: recipes.Recipe, batch: Batch, optimizer: torch.optim.Optimizer,
               where: str = "training") -> recipes.StepOutput:
    """One optimisation step of ``recipe`` on ``batch``: its paper's loss, backward, step (the loop's body).

    The benchmarks time it. A loss that is NaN or infinite is an error naming ``where``, raised
    before any parameter changes. Returns the recipe's output (loss, its named parts, the clean
    and adversarial predictions it computed).

    Arguments:
        recipe (recipes.Recipe): a training method (``recipes.get(name)``).
        batch (Batch): the model, a clean batch, the attack, the method's options and the
            attack's random source.
        optimizer (torch.optim.Optimizer): the optimiser of the model's parameters.
        where (str): where the step runs, for the error message. Default: ``"training"``.

    Shape:
        - batch.x: (N, C, H, W), values in [0, 1].
        - batch.y: (N,) int64 class indices.

    Examples:
        >>> import torch
        >>> from aad_lib.attacks.settings import AttackSettings
        >>> from aad_lib.training import recipes
        >>> from aad_lib.training.loop import train_step
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
        >>> optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        >>> recipe = recipes.get("madry")
        >>> batch = recipes.Batch(model, torch.rand(4, 1, 2, 2), torch.tensor([0, 1, 2, 0]),
        ...                       AttackSettings(0.3, 0.1, 2), dict(recipe.options), torch.Generator())
        >>> before = model[1].weight.detach().clone()
        >>> out = train_step(recipe, batch, optimizer)
        >>> out.loss.dim(), sorted(out.parts), out.adv_pred.shape, bool((model[1].weight != before).any())
        (0, ['ce_adv'], torch.Size([4]), True)
    """
    out = recipe(batch)
    if batch.models > 1 and tuple(out.loss.shape) != (batch.models,):
        raise AadError(f"{where}: recipe {recipe.name!r} returned a loss of shape {tuple(out.loss.shape)} for a stack of "
                       f"{batch.models} models; a recipe that trains a stack reduces per model (Batch.per_model), "
                       "or declares a stack_obstacle.")
    if not bool(torch.isfinite(out.loss).all()):
        raise AadError(f"{where}: loss became {out.loss.tolist()}; lower the learning rate or check the data.")
    optimizer.zero_grad(set_to_none=True)
    (out.loss if out.loss.dim() == 0 else out.loss.sum()).backward()  # a stack: each model's own loss
    optimizer.step()
    return out


def load_model(path: str | Path, device: torch.device | str = "cpu") -> nn.Module:
    """Rebuild a model trained by :func:`train` from ``model.pt`` + ``model.json`` (checksum verified), in eval mode.

    The model is ``aad_lib.models.create(**model_spec)`` with the saved ``state_dict``; a run
    trained without ``model_spec`` cannot be rebuilt (an error says so).

    Arguments:
        path (str | Path): the run's ``model.pt``.
        device (torch.device | str): where to put the model. Default: ``"cpu"``.

    Examples:
        >>> import tempfile
        >>> from pathlib import Path
        >>> import torch
        >>> from aad_lib import data, models
        >>> from aad_lib.training.loop import TrainConfig, load_model, train
        >>> spec = {"name": "lenet_small", "in_channels": 1, "size": 8}  # 8 x 8 images: fast
        >>> model, images = models.create(**spec), data.fake(n=4, shape=(1, 8, 8))
        >>> with tempfile.TemporaryDirectory() as out:
        ...     _ = train(model, images, TrainConfig("standard", epochs=1), out, model_spec=spec, progress=False)
        ...     loaded = load_model(Path(out) / "model.pt")
        >>> type(loaded).__name__, loaded.training, torch.equal(loaded.head.weight, model.head.weight)
        ('LeNet', False, True)
    """
    payload, meta = checkpoint.load(path)
    return _rebuild(meta, payload["model"], device, path)


def _rebuild(meta: dict[str, Any], state: dict[str, torch.Tensor], device: torch.device | str,
             path: str | Path) -> nn.Module:
    """``models.create(**meta["model_spec"])`` with ``state`` loaded, on ``device``, eval mode."""
    from .. import models

    spec = meta.get("model_spec") or {}
    if "name" not in spec:
        raise AadError(f"{path}: metadata has no model_spec; it cannot be rebuilt.")
    model = models.create(**spec)
    model.load_state_dict(state)
    return model.to(device).eval()


def epoch_models(model_dir: str | Path, device: torch.device | str = "cpu", every: int = 1
                 ) -> Iterator[tuple[int, nn.Module]]:
    """``(epoch, model)`` for every ``every``-th epoch checkpoint of a finished run of :func:`train`, and the last.

    Each model is rebuilt from ``model.json``'s spec (:func:`load_model`), checksum verified, in
    eval mode, one at a time (a generator). The AALP paper's figures over training (Figs. 4, 9
    and 12, :mod:`aad_lib.sections.aalp.analysis`) read them. A folder without epoch checkpoints
    is an error.

    Arguments:
        model_dir (str | Path): the run's ``out_dir``.
        device (torch.device | str): where to put each model. Default: ``"cpu"``.
        every (int): keep every ``every``-th checkpoint (the first, then every ``every``-th),
            >= 1; the last is always kept. Default: 1.

    Examples:
        >>> import tempfile
        >>> from aad_lib import data, models, training
        >>> out = tempfile.mkdtemp()
        >>> spec = dict(name="lenet_small", in_channels=1, size=8)  # 8 x 8 images: fast
        >>> _ = training.train(models.create(**spec), data.fake(n=4, shape=(1, 8, 8)),
        ...                    training.TrainConfig("standard", epochs=4), out, model_spec=spec, progress=False)
        >>> kept = [(epoch, model.training) for epoch, model in training.epoch_models(out, every=2)]
        >>> kept
        [(1, False), (3, False), (4, False)]
    """
    model_dir = Path(model_dir)
    paths = sorted((model_dir / "checkpoints").glob("epoch_*.pt"))
    if not paths:
        raise AadError(f"{model_dir} has no epoch checkpoints; train it with `aad train`.")
    final = checkpoint.read_meta(model_dir / "model.pt")
    check_count(every, "every", 1)
    for i, path in enumerate(paths):
        if i % every and i != len(paths) - 1:
            continue
        payload, meta = checkpoint.load(path)
        yield meta["epoch"], _rebuild(final, payload["model"], device, model_dir / "model.pt")


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Adam (Kingma and Ba, ICLR 2015) or SGD with momentum over all parameters, as ``cfg`` says.

    ``cfg.lr`` and ``cfg.weight_decay`` for both; ``cfg.momentum`` for SGD.

    Arguments:
        model (nn.Module): the model whose parameters are optimised.
        cfg (TrainConfig): the run (``optimizer``, ``lr``, ``weight_decay``, ``momentum``).

    Examples:
        >>> import torch
        >>> from aad_lib.training.loop import TrainConfig, make_optimizer
        >>> model = torch.nn.Linear(4, 3)
        >>> type(make_optimizer(model, TrainConfig("standard", epochs=1))).__name__
        'Adam'
        >>> sgd = make_optimizer(model, TrainConfig("standard", epochs=1, optimizer="sgd", lr=0.1))
        >>> type(sgd).__name__, sgd.defaults["lr"], sgd.defaults["momentum"]
        ('SGD', 0.1, 0.9)
    """
    if cfg.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


# the loop's monitor and epoch line, under the names the tests use
_monitor = runs.monitor
_describe = runs.describe
