"""Several models of one recipe trained as one computation: a :class:`~aad_lib.training.stack.ModelStack`
steps all of them at once, and each model keeps what its separate run (:func:`aad_lib.training.train`)
gives it: its seed's initial weights (made by the caller), batch order, attack starts, optimiser
state, eps warm-up, per-epoch checkpoints, resume and log, at the same paths.

Numbers: a stacked step computes each model's convolutions and matrix products with other kernels
(one grouped call for all models), so its weights equal the separate run's to float rounding after
one step, not bit for bit; PGD's sign steps can turn such a rounding difference into a different
pixel, so over whole epochs the runs drift apart like runs on two machines (seed noise, not bias).

Where it pays: on a GPU, where a step of a small model is bound by kernel launches. On a 2-core
CPU a stack is slower than the same models one after another (``aad bench``: batched training
rows), so :func:`stacking_pays` says no there and ``aad train --seeds`` trains them in turn.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..attacks import model_mode
from ..data import ImageTensorDataset
from ..runtime import derive_seed
from ..validation import AadError, choose
from . import loop, recipes, runs
from .loop import TrainConfig, make_optimizer
from .recipes import Batch
from .stack import ModelStack, interleave, optimizer_state, rows_of, stacked_optimizer_state

STACKING = ("auto", "on", "off")


def stacking_pays(device: torch.device | str) -> bool:
    """Whether stacking models pays on ``device``: on CUDA (launch-bound small models), not on a CPU.

    Measured on a 2-core CPU: a stack of three lenet_small models takes longer for a PGD-3
    training step than the three models one after another (``aad bench``: the batched training
    rows); on a GPU a step of such a model is bound by kernel launches, which a stack shares.

    Arguments:
        device (torch.device | str): where the models would train.

    Examples:
        >>> from aad_lib.training.batched import stacking_pays
        >>> stacking_pays("cpu"), stacking_pays("cuda")
        (False, True)
    """
    return torch.device(device).type == "cuda"


def use_stack(mode: str, device: torch.device | str) -> bool:
    """Whether to train several seeds as one stack: ``"on"`` yes, ``"off"`` no, ``"auto"`` where it pays.

    Arguments:
        mode (str): ``"auto"``, ``"on"`` or ``"off"`` (``aad train --seeds ... --batched MODE``).
        device (torch.device | str): where the models would train (``"auto"``: :func:`stacking_pays`).

    Examples:
        >>> from aad_lib.training.batched import use_stack
        >>> use_stack("auto", "cpu"), use_stack("on", "cpu"), use_stack("auto", "cuda")
        (False, True, True)
    """
    choose(mode, STACKING, "batched training mode")
    return mode == "on" or (mode == "auto" and stacking_pays(device))


def stack_obstacle(recipe: recipes.Recipe, models: Sequence[nn.Module], x: torch.Tensor) -> str:
    """Why these models cannot train with ``recipe`` as one stack (``""`` when they can).

    The recipe's own obstacle (:attr:`~aad_lib.training.recipes.Recipe.stack_obstacle`: ARP's
    Grad-CAM hooks, the ComDefend purifier), else the error of a stacked forward pass (and, for
    Guided Dropout, ``penultimate`` + ``head``) of the first two models on two of ``x``'s images in
    train mode: a model ``torch.func`` cannot call with stacked weights, e.g. one that draws random
    numbers in its forward pass or branches on its data. The models are not changed.

    Arguments:
        recipe (recipes.Recipe): the training method.
        models (Sequence[nn.Module]): the models, at least two, on ``x``'s device.
        x (torch.Tensor): at least two training images.

    Shape:
        - x: (N, C, H, W), values in [0, 1], N >= 2.

    Examples:
        >>> import torch
        >>> from aad_lib import models
        >>> from aad_lib.training import recipes
        >>> from aad_lib.training.batched import stack_obstacle
        >>> nets = [models.create("lenet_small", size=12) for _ in range(2)]
        >>> stack_obstacle(recipes.get("aalp"), nets, torch.rand(2, 1, 12, 12))
        ''
        >>> stack_obstacle(recipes.get("arp"), nets, torch.rand(2, 1, 12, 12))[:25]
        "ARP's Grad-CAM reads the "
    """
    if recipe.stack_obstacle:
        return recipe.stack_obstacle
    try:
        probe = ModelStack(models[:2])
        rows = interleave([x[:2], x[:2]])
        with model_mode(probe, "train"), torch.no_grad():
            probe(rows)
            if "penultimate" in recipe.requires:
                probe.head(probe.penultimate(rows))
    except Exception as err:  # noqa: BLE001 - any failure of the probe means: do not stack this model
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else ""
        return f"its model cannot be called with stacked weights ({type(err).__name__}: {first_line[:160]})"
    return ""


def train_stack(models: Sequence[nn.Module], train_set: ImageTensorDataset, cfgs: Sequence[TrainConfig],
                out_dirs: Sequence[str | Path], *, model_spec: dict[str, Any] | None = None,
                test_set: ImageTensorDataset | None = None, device: torch.device | str = "cpu",
                progress: bool = True, resume: bool = True,
                log_paths: Sequence[str | Path | None] | None = None) -> list[list[dict[str, Any]]]:
    """Train ``models`` (one per config, configs equal but for the seed) as one stack; returns each model's log.

    Each model ends as :func:`aad_lib.training.train` with its own config would leave it (in
    place, on ``device``, eval mode) and its ``out_dirs`` entry holds the same files: epoch
    checkpoints, ``model.pt`` and the log (``log_paths``). Each model resumes from its own newest
    checkpoint of its own config (models at different epochs train as separate stacks); one whose
    config changed starts afresh. Where the recipe or the model cannot be stacked
    (:func:`stack_obstacle`) the models train one after another in this process, after a
    one-line notice on stderr.

    Arguments:
        models (Sequence[nn.Module]): the models, each made from its seed as its separate run makes it.
        train_set (ImageTensorDataset): the training images and labels.
        cfgs (Sequence[TrainConfig]): one config per model, the same method and settings, distinct seeds.
        out_dirs (Sequence[str | Path]): each model's run folder.
        model_spec (dict[str, Any] | None): the ``aad_lib.models.create`` arguments. Default: None.
        test_set (ImageTensorDataset | None): the end-of-epoch monitor's images. Default: None.
        device (torch.device | str): where the models train. Default: ``"cpu"``.
        progress (bool): a progress bar (on a terminal) and one line per model and epoch. Default: True.
        resume (bool): continue each model's matching checkpoint. Default: True.
        log_paths (Sequence[str | Path | None] | None): each model's log path; None: ``log.csv``
            in its folder. Default: None.

    Shape:
        - train_set: ``images`` (N, C, H, W) uint8, ``labels`` (N,) int64.
        - returns: one list of log rows (dicts) per model, as :func:`aad_lib.training.train` returns.

    Examples:
        >>> import tempfile
        >>> from pathlib import Path
        >>> import torch
        >>> from aad_lib import data, models
        >>> from aad_lib.training import TrainConfig, train_stack
        >>> spec = {"name": "lenet_small", "in_channels": 1, "size": 8}
        >>> cfgs = [TrainConfig("madry", epochs=1, batch_size=4, attack={"eps": 0.3, "alpha": 0.1, "steps": 1}, seed=s)
        ...         for s in (0, 1)]
        >>> nets = []
        >>> for c in cfgs:
        ...     _ = torch.manual_seed(c.seed)
        ...     nets.append(models.create(**spec))
        >>> with tempfile.TemporaryDirectory() as out:
        ...     logs = train_stack(nets, data.fake(n=8, shape=(1, 8, 8)), cfgs, [Path(out) / "s0", Path(out) / "s1"],
        ...                        model_spec=spec, progress=False)
        ...     files = sorted(p.relative_to(out).as_posix() for p in Path(out).rglob("*.pt"))
        >>> [len(log) for log in logs], files
        ([1, 1], ['s0/checkpoints/epoch_001.pt', 's0/model.pt', 's1/checkpoints/epoch_001.pt', 's1/model.pt'])
    """
    cfgs, out_dirs = list(cfgs), [Path(d) for d in out_dirs]
    log_paths = list(log_paths) if log_paths is not None else [None] * len(models)
    _check_stackable_configs(models, cfgs, out_dirs, log_paths)
    recipe = recipes.get(cfgs[0].method)
    common = {"model_spec": model_spec, "test_set": test_set, "device": device, "progress": progress, "resume": resume}
    x_probe, _ = train_set.tensors(device, 2)
    obstacle = stack_obstacle(recipe, [m.to(device) for m in models], x_probe) if len(models) > 1 else "one model"
    if obstacle:
        if len(models) > 1:
            print(f"aad: {cfgs[0].method} cannot train seeds {_seeds(cfgs)} as one stack ({obstacle}); "
                  "training them one after another.", file=sys.stderr)
        return [loop.train(m, train_set, c, d, log_path=p, **common)
                for m, c, d, p in zip(models, cfgs, out_dirs, log_paths)]
    opened = [runs.open_run(m, train_set, c, d, model_spec=model_spec, device=device, resume=resume, log_path=p)
              for m, c, d, p in zip(models, cfgs, out_dirs, log_paths)]
    by_start: dict[int, list[int]] = {}
    for i, run in enumerate(opened):
        by_start.setdefault(run.start_epoch, []).append(i)
    logs: dict[int, list[dict[str, Any]]] = {}
    for start, members in sorted(by_start.items()):
        if len(members) == 1 and start <= cfgs[0].epochs:  # alone at its epoch: its separate run
            run = opened[members[0]]
            logs[members[0]] = loop.train(run.model, train_set, run.cfg, run.out_dir, log_path=run.log_path, **common)
        elif start <= cfgs[0].epochs:
            _train_group([opened[i] for i in members], recipe, train_set, test_set, device, progress)
    return [logs[i] if i in logs else runs.finish_run(run) for i, run in enumerate(opened)]


def _train_group(group: list[runs.ModelRun], recipe: recipes.Recipe, train_set: ImageTensorDataset,
                 test_set: ImageTensorDataset | None, device: torch.device | str, progress: bool) -> None:
    """The epochs of models that start at the same epoch, as one stack; each model's run gets its
    weights, optimiser and scheduler state back after every epoch, then its own row and checkpoint."""
    from tqdm.auto import tqdm

    count, cfg = len(group), group[0].cfg
    stack = ModelStack([run.model for run in group])
    optimizer = make_optimizer(stack, cfg)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, cfg.lr_milestones, cfg.lr_gamma)
    optimizer.load_state_dict(stacked_optimizer_state([run.optimizer.state_dict() for run in group]))
    scheduler.load_state_dict(group[0].scheduler.state_dict())
    x_all, y_all = train_set.tensors(device)
    monitor = test_set.tensors(device, cfg.monitor_samples) if test_set is not None and cfg.monitor_samples else None
    n, seeds = len(train_set), _seeds([run.cfg for run in group])
    for epoch in range(group[0].start_epoch, cfg.epochs + 1):
        t0 = time.perf_counter()
        torch.manual_seed(derive_seed(cfg.seed, "epoch", epoch))  # no stackable recipe draws from it
        orders = [runs.epoch_order(run.cfg, n, epoch, device) for run in group]
        generators = tuple(runs.attack_generator(run.cfg, epoch, device) for run in group)
        stack.train()
        tallies = [runs.EpochTally() for _ in group]
        batches = range(0, n, cfg.batch_size)
        bar = tqdm(batches, desc=f"{cfg.method} seeds {seeds} epoch {epoch}/{cfg.epochs}",
                   disable=None if progress else True, leave=False)
        for b, start in enumerate(bar):
            idx = [order[start:start + cfg.batch_size] for order in orders]
            fraction = runs.warmup_fraction(cfg, epoch - 1 + b / len(batches))
            batch = Batch(stack, interleave([x_all[i] for i in idx]), interleave([y_all[i] for i in idx]),
                          cfg.attack.scaled(fraction), cfg.options, generators)
            out = loop.train_step(recipe, batch, optimizer, where=f"{cfg.method} seeds {seeds} epoch {epoch}, batch {b}")
            for k, (tally, own) in enumerate(zip(tallies, out.per_model(count))):
                tally.add(own, rows_of(batch.y, k, count))
            bar.set_postfix(loss=f"{sum(t.mean_loss() for t in tallies) / count:.3f}", eps=f"{batch.attack.eps:.3f}")
        scheduler.step()
        share = (time.perf_counter() - t0) / count  # each model's row: its share of the stacked steps + its monitor
        for k, (run, tally) in enumerate(zip(group, tallies)):
            started = time.perf_counter() - share
            run.model.load_state_dict(stack.model_state(k))
            run.optimizer.load_state_dict(optimizer_state(optimizer.state_dict(), k))
            run.scheduler.load_state_dict(scheduler.state_dict())
            runs.close_epoch(run, epoch, tally, recipe, monitor, started, progress,
                             label=f"{cfg.method} seed {run.cfg.seed}")


def _check_stackable_configs(models: Sequence[nn.Module], cfgs: list[TrainConfig], out_dirs: list[Path],
                             log_paths: list[str | Path | None]) -> None:
    if not models or len(models) != len(cfgs) or len(cfgs) != len(out_dirs) or len(out_dirs) != len(log_paths):
        raise AadError(f"train_stack needs one config, folder and log path per model; got {len(models)} models, "
                       f"{len(cfgs)} configs, {len(out_dirs)} folders and {len(log_paths)} log paths.")
    if len({replace(c, seed=0).fingerprint() for c in cfgs}) != 1:
        raise AadError("the models of a stack must share every training setting but the seed; their configs differ "
                       f"(methods {sorted({c.method for c in cfgs})}).")
    seeds = [c.seed for c in cfgs]
    if len(set(seeds)) != len(seeds):
        raise AadError(f"the models of a stack need distinct seeds, got {seeds}.")
    if len(set(out_dirs)) != len(out_dirs):
        raise AadError(f"the models of a stack need distinct folders, got {[str(d) for d in out_dirs]}.")


def _seeds(cfgs: Sequence[TrainConfig]) -> str:
    return ",".join(str(c.seed) for c in cfgs)
