"""``aad plan``: what a ``dvc repro`` of the active profile will cost on this device, before it runs.

A paper profile trains 21 models for 100 epochs each; nobody should find out after a day that it
needs a week. The plan times a few real steps of every stage kind the profile runs, on the present
device, with the profile's model, data shape, batch sizes and attack settings (the very functions
the stages call: :func:`aad_lib.training.loop.train_step` and :func:`aad_lib.attacks.pgd.pgd`), and
multiplies by the number of steps each stage will take:

- ``train``, ``train_extra``, ``train_attention``: per model, ``epochs x ceil(n_train / batch)``
  training steps of its recipe (each recipe timed once; a recipe's attack and extra passes are in its
  step), plus the end-of-epoch monitor (``monitor_samples`` images, ``monitor_steps`` PGD steps);
- ``evaluate``: per model, ``ceil(n / batch) x (1 + max PGD steps + max CW steps)`` attack steps at
  the evaluation batch size (FGSM, then one trajectory per loss from which every column is read).
  This is an upper bound: stopping when fooled (``evaluate.stop_when_fooled``) skips the images
  already misclassified, which for a standard model is nearly all of them;
- ComDefend training and the notebooks are listed with their stage counts but not projected: their
  cost is many small analyses of different shapes. The README gives their measured times.

Data sizes come from the prepared split when it exists, else from the registry's split sizes
(:data:`aad_lib.data.SPLIT_SIZES`: no download needed to plan a paper profile).
"""
from __future__ import annotations

import math
import platform
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from . import data, models
from .attacks.pgd import pgd
from .params import GROUPS, Params
from .pipeline import dataset_info, load_split, model_spec, prepared_path, train_config
from .runtime import pick_device
from .timing import measure
from .training import checkpoint, recipes
from .training.loop import make_optimizer, train_step
from .validation import AadError

NOT_PROJECTED = {"train_comdefend": "ComDefend training (compression.comdefend_variants x compression.comdefend.seeds)",
                 "notebooks": "the five notebooks"}


@dataclass(frozen=True)
class StageGroup:
    """One group of ``dvc repro`` stages and its projected cost.

    Arguments:
        group (str): the stage group (``train``, ``evaluate``, ...).
        stages (int): how many stages of the group the profile runs.
        seconds (float | None): projected wall time of the whole group; None: not projected.
        basis (str): what was timed and multiplied, in words.
    """

    group: str
    stages: int
    seconds: float | None
    basis: str


def split_sizes(params: Params) -> tuple[int, int]:
    """(training images, test images) the pipeline will use: the prepared split's sizes when it
    exists and holds this dataset, else the published sizes of a torchvision dataset, after ``data.train_subset`` /
    ``data.test_subset``."""
    path = prepared_path(params)
    # the prepared split counts only when it is of this dataset: another profile's (the default's
    # mnist5k while planning paper-mnist) says nothing about this one's size
    if path.exists() and checkpoint.read_meta(path).get("dataset") == params.data.name:
        n_train, n_test = (len(load_split(params, split)) for split in ("train", "test"))
    elif params.data.name in data.SPLIT_SIZES:
        n_train, n_test = data.SPLIT_SIZES[params.data.name]
    else:
        raise AadError(f"{prepared_path(params)} not found and {params.data.name!r} has no published size here: "
                       "run `aad data prepare` first, then `aad plan`.")
    classes = dataset_info(params).num_classes
    if params.data.train_subset:
        n_train = min(n_train, params.data.train_subset // classes * classes)
    if params.data.test_subset:
        n_test = min(n_test, params.data.test_subset // classes * classes)
    return n_train, n_test


def device_name(device: torch.device) -> str:
    """The device in words: the GPU's name, or the CPU's model and the threads torch uses."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA)"
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    return f"{cpu}, {torch.get_num_threads()} torch threads (CPU)"


def _new_model(params: Params, device: torch.device) -> torch.nn.Module:
    return models.create(**model_spec(params)).to(device)


def _batch_of(params: Params, n: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    info = dataset_info(params)
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(n, info.channels, info.size, info.size, generator=generator)
    y = torch.randint(0, info.num_classes, (n,), generator=generator)
    return x.to(device), y.to(device)


def train_step_seconds(params: Params, method: str, device: torch.device, repeats: int = 2) -> float:
    """Seconds of one training step of ``method`` at the profile's batch size and full attack
    strength (after any eps warm-up), the least of ``repeats`` timed steps after one warm-up."""
    cfg = train_config(params, method, params.seed)
    model = _new_model(params, device)
    recipe = recipes.get(cfg.method)
    x, y = _batch_of(params, cfg.batch_size, device)
    optimizer = make_optimizer(model, cfg)
    generator = torch.Generator(device=device).manual_seed(0)
    batch = recipes.Batch(model.train(), x, y, cfg.attack, cfg.options, generator)
    return measure(lambda: train_step(recipe, batch, optimizer, where="aad plan"), device, repeats).min


def attack_step_seconds(params: Params, batch_size: int, device: torch.device, repeats: int = 2,
                        steps: int = 3) -> float:
    """Seconds of one PGD step (a forward and a backward pass) at ``batch_size`` on the profile's
    model in eval mode, from ``steps``-step attacks."""
    model = _new_model(params, device).eval()
    x, y = _batch_of(params, batch_size, device)
    e = params.evaluate
    return measure(lambda: pgd(model, x, y, e.eps, e.alpha, steps), device, repeats).min / steps


def project(params: Params, repeats: int = 3, progress: bool = True) -> tuple[list[StageGroup], str]:
    """The projected cost of each stage group of ``dvc repro`` on the present device, and its name."""
    device = pick_device(params.device)
    n_train, n_test = split_sizes(params)
    step_cache: dict[str, float] = {}
    rows = []
    all_pairs = []
    for group in GROUPS:
        pairs = params.run.pairs(group)
        all_pairs += pairs
        seconds, timed = 0.0, []
        for method, seed in pairs:
            cfg = train_config(params, method, seed)
            # methods that differ only in epochs or loss weights take the same time a step: time once
            key = f"{cfg.method}|{cfg.attack}|{cfg.batch_size}"
            if key not in step_cache:
                if progress:
                    print(f"timing a training step of {method} ...", flush=True)
                step_cache[key] = train_step_seconds(params, method, device, repeats)
                timed.append(f"{method} {step_cache[key] * 1000:.0f} ms")
            steps = cfg.epochs * math.ceil(n_train / cfg.batch_size)
            seconds += steps * step_cache[key]
            if cfg.monitor_samples:
                seconds += cfg.epochs * _attack_seconds(params, cfg.monitor_samples, cfg.monitor_steps + 1,
                                                        device, repeats, step_cache)
        stage_name = "train" if group == "main" else f"train_{group}"
        rows.append(StageGroup(stage_name, len(pairs), seconds if pairs else 0.0,
                               f"{n_train} images, batch {params.train.batch_size}; one step: " + ", ".join(timed)
                               if pairs else "no models"))
    e = params.evaluate
    n_eval = min(e.samples or n_test, n_test)
    steps = 1 + max(e.pgd_steps, default=0) + max(e.cw_steps, default=0)
    per_model = _attack_seconds(params, n_eval, steps, device, repeats, step_cache)
    rows.append(StageGroup("evaluate", len(all_pairs), per_model * len(all_pairs),
                           f"{n_eval} images x {steps} attack steps a model, batch {e.batch_size} (upper bound: "
                           "no stopping when fooled)"))
    purifiers = (len(params.compression.comdefend_variants) * len(params.compression.comdefend.seeds)
                 if params.compression is not None else 0)
    rows.append(StageGroup("train_comdefend", purifiers, None, "not projected: " + NOT_PROJECTED["train_comdefend"]))
    rows.append(StageGroup("notebooks", 5, None, "not projected: " + NOT_PROJECTED["notebooks"]))
    return rows, device_name(device)


def _attack_seconds(params: Params, n: int, steps: int, device: torch.device, repeats: int,
                    cache: dict[str, float]) -> float:
    batch = min(params.evaluate.batch_size, n)
    key = f"attack@{batch}"
    if key not in cache:
        cache[key] = attack_step_seconds(params, batch, device, repeats)
    return math.ceil(n / batch) * steps * cache[key]


def plan_table(rows: list[StageGroup]) -> pd.DataFrame:
    """The plan as a table: stages, projected minutes (and hours), basis; a total row last."""
    frame = pd.DataFrame([{"stage group": r.group, "stages": r.stages,
                           "projected minutes": None if r.seconds is None else round(r.seconds / 60, 1),
                           "basis": r.basis} for r in rows])
    projected = sum(r.seconds for r in rows if r.seconds is not None)
    total = {"stage group": "total (projected groups)", "stages": sum(r.stages for r in rows),
             "projected minutes": round(projected / 60, 1),
             "basis": f"{projected / 3600:.2f} hours; groups marked 'not projected' come on top"}
    return pd.concat([frame, pd.DataFrame([total])], ignore_index=True)
