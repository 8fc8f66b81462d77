"""The pipeline's steps as functions of the typed params (:class:`aad_lib.params.Params`): prepare
data, train one method/seed, evaluate one model. The CLI (and so DVC), the notebooks and the tests
all call these; DVC's train and evaluate stages run them, so everything a section reads of finished
results lives elsewhere (:mod:`aad_lib.results`, :mod:`aad_lib.tables`, ``aad_lib.sections``) and
editing it reruns only the notebook stages."""
from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from . import data, models
from .data_sources import DataSource, is_source, load_source
from .eval_config import EvalConfig
from .files import atomic_write_json, atomic_write_text
from .params import GROUPS, Params
from .runtime import pick_device, seed_everything
from .training import TrainConfig, checkpoint, load_model, recipes, train, train_stack
from .validation import AadError, choose

if TYPE_CHECKING:
    import pandas as pd

TRAIN_KEYS = set(TrainConfig.__dataclass_fields__) - {"method", "options", "seed"}


# ---------------------------------------------------------------- paths

def prepared_path(params: Params) -> Path:
    """The prepared split every stage reads (one fixed name: ``data.name`` may be a path)."""
    return Path(params.data.prepared) / "prepared.pt"


def data_summary_path(params: Params) -> Path:
    return params.reports.path / "data" / "dataset.json"


def model_dir(method: str, seed: int) -> Path:
    return Path("models") / method / f"seed{seed}"


def train_log_path(params: Params, method: str, seed: int) -> Path:
    return params.reports.path / "train" / f"{method}-seed{seed}.csv"


def eval_dir(params: Params, method: str, seed: int) -> Path:
    return params.reports.path / "eval" / f"{method}-seed{seed}"


# ---------------------------------------------------------------- data

def prepare_data(params: Params) -> Path:
    """Materialise the configured dataset's train/test split (optionally a class-balanced subset)
    as uint8 tensors in one checksummed file, plus a summary JSON under reports/data/. A dataset
    named by parameter (``torchvision:``, ``folder:``, ``npz:``) is read and checked in full first
    (nothing prepared before is touched when it fails), and its shape, classes, class names and
    normalisation statistics (of the training images) go into the file's metadata, which the
    models read (:func:`dataset_info`)."""
    d = params.data
    splits, classes = _load_splits(params)
    payload: dict[str, torch.Tensor] = {}
    summary: dict[str, Any] = {"dataset": d.name}
    for split, subset in (("train", d.train_subset), ("test", d.test_subset)):
        ds = splits[split]
        idx = balanced_subset(ds.labels, subset) if subset else torch.arange(len(ds))
        payload[f"{split}_images"] = ds.images[idx].clone()
        payload[f"{split}_labels"] = ds.labels[idx].clone()
        summary[split] = {"n": len(idx), "per_class": torch.bincount(ds.labels[idx]).tolist()}
    info = data.info(d.name) if not is_source(d.name) else data.measure(payload["train_images"], len(classes))
    meta = {"kind": "prepared-data", "dataset": d.name, **summary, "info": dataclasses.asdict(info), "classes": classes}
    out = checkpoint.save(prepared_path(params), payload, meta)
    atomic_write_json(data_summary_path(params), {**summary, "info": dataclasses.asdict(info), "classes": classes})
    return out


def _load_splits(params: Params) -> tuple[dict[str, data.ImageTensorDataset], list[str]]:
    """Both splits of the configured dataset and its class names."""
    d = params.data
    if not is_source(d.name):
        splits = {split: data.load(d.name, d.root, split) for split in data.SPLITS}
        return splits, [str(c) for c in range(data.info(d.name).num_classes)]
    loaded = load_source(DataSource.parse(d.name), d.root, size=d.size, test_fraction=d.test_fraction,
                         split_seed=d.split_seed)
    return {"train": loaded.train, "test": loaded.test}, list(loaded.classes)


def dataset_info(params: Params) -> data.DatasetInfo:
    """Channels, size, classes and normalisation of the configured dataset: the registry's for a
    registered name, the prepared file's (measured on its training images) for one named by
    parameter."""
    if not is_source(params.data.name):
        return data.info(params.data.name)
    path = prepared_path(params)
    if not path.exists():
        raise AadError(f"{path} not found: the shape and classes of {params.data.name!r} are read from the prepared "
                       "data; run `aad data prepare` (or `dvc repro prepare`) first.")
    meta = checkpoint.read_meta(path)
    if meta.get("dataset") != params.data.name:
        raise AadError(f"{path} holds {meta.get('dataset')!r}, not {params.data.name!r}; run `aad data prepare`.")
    i = meta["info"]
    return data.DatasetInfo(i["channels"], i["size"], i["num_classes"], tuple(i["mean"]), tuple(i["std"]))


def balanced_subset(labels: torch.Tensor, n: int) -> torch.Tensor:
    """Indices of the first ``n // C`` samples of each of the C classes, in dataset order."""
    classes = torch.unique(labels)
    per_class = n // len(classes)
    if per_class < 1:
        raise AadError(f"a subset of {n} cannot hold one sample of each of {len(classes)} classes.")
    idx = torch.cat([torch.nonzero(labels == c).squeeze(1)[:per_class] for c in classes])
    return idx.sort().values


def load_split(params: Params, split: str) -> data.ImageTensorDataset:
    """The prepared ``split`` (run ``aad data prepare`` first)."""
    choose(split, data.SPLITS, "split")
    path = prepared_path(params)
    if not path.exists():
        raise AadError(f"{path} not found; run `aad data prepare` (or `dvc repro prepare`) first.")
    payload, _ = checkpoint.load(path)
    return data.ImageTensorDataset(payload[f"{split}_images"], payload[f"{split}_labels"], params.data.name, split)


# ---------------------------------------------------------------- training

def method_recipe(params: Params, method: str) -> str:
    """The registered training recipe behind ``method``: the method itself, or for a named
    variant (``methods.<name>.recipe: aalp``, e.g. one point of the lambda sweep) its recipe."""
    recipe = params.method(method).recipe
    if recipe is not None:
        return choose(recipe, recipes.RECIPES, f"recipe of method {method!r}")
    known = sorted(recipes.RECIPES) + sorted(k for k, v in params.methods.items() if v.recipe is not None)
    return choose(method, known, "training method")


def train_config(params: Params, method: str, seed: int) -> TrainConfig:
    """``train`` merged with ``methods.<method>``; keys a method does not know are errors, and so is
    a recipe that trains a purifier (``aad train-purifier`` trains those, from ``compression``)."""
    recipe = method_recipe(params, method)
    if recipes.RECIPES[recipe].trains != "classifier":
        raise AadError(f"method {method!r} trains a {recipes.RECIPES[recipe].trains}, not a classifier: train it with "
                       f"`aad train-purifier --variant ...` (compression.comdefend settings); classifier recipes: "
                       f"{', '.join(sorted(recipes.classifier_recipes()))}.")
    merged = {f.name: getattr(params.train, f.name) for f in dataclasses.fields(params.train)}
    options = {}
    for key, value in params.method(method).settings.items():
        if key in TRAIN_KEYS:
            merged[key] = dataclasses.replace(merged[key], **value) if key == "attack" and isinstance(value, dict) else value
        else:
            choose(key, sorted(TRAIN_KEYS | set(recipes.RECIPES[recipe].options)), f"setting for method {method!r}")
            options[key] = value
    merged["lr_milestones"] = list(merged["lr_milestones"])
    return TrainConfig(method=recipe, seed=seed, options=options, **merged)


def check_params(params: Params) -> None:
    """Checks that need the registries (config.validate checks keys and types): every method to
    run resolves to a recipe with known settings, the model and dataset exist, the analysis
    attack is one of the evaluation columns, and each section reads only trained methods and
    evaluated columns."""
    for group in GROUPS:
        for method, seed in params.run.pairs(group):
            if "." in method:  # DVC reads `methods.<name>` as a dotted path: a dot would split the name
                raise AadError(f"method name {method!r} must not contain '.' (DVC splits parameter names on dots); "
                               f"write e.g. {method.replace('.', 'p')!r}.")
            train_config(params, method, seed)
    if is_source(params.data.name):
        DataSource.parse(params.data.name).check(params.data.root)
    else:
        data.info(params.data.name)
    if not params.model.name.startswith(("timm:", "module:")):
        choose(params.model.name, models.names(), "model")
    columns = eval_config(params).columns()[1:]
    choose(params.analysis.attack, columns, "analysis.attack (an evaluation column)")
    if params.attention is not None:
        params.attention.check(params.run.trained(), columns)
    if params.compression is not None:
        params.compression.check(params.run.trained())


def model_spec(params: Params) -> dict[str, Any]:
    """The arguments of ``models.create`` for the configured model and dataset."""
    info = dataset_info(params)
    return {"name": params.model.name, "num_classes": info.num_classes, "in_channels": info.channels,
            "size": info.size, "mean": list(info.mean), "std": list(info.std)}


def train_method(params: Params, method: str, seed: int, resume: bool = True) -> Path:
    """Train ``method`` with ``seed`` into ``models/<method>/seed<seed>/``."""
    cfg = train_config(params, method, seed)
    device = pick_device(params.device)
    spec = model_spec(params)
    model = _seeded_model(params, method, cfg.method, seed, spec)
    out = model_dir(method, seed)
    train(model, load_split(params, "train"), cfg, out, model_spec=spec, test_set=load_split(params, "test"),
          device=device, progress=params.progress, resume=resume, log_path=train_log_path(params, method, seed))
    return out


def train_seeds(params: Params, method: str, seeds: list[int], resume: bool = True, batched: str = "auto") -> list[Path]:
    """Train ``method`` with each of ``seeds`` in this process, each into ``models/<method>/seed<S>/``
    exactly as :func:`train_method` would (same files, logs, checkpoints and resume).

    ``batched``: ``"on"`` trains them as one stack of models (:func:`aad_lib.training.train_stack`),
    ``"off"`` one after another, ``"auto"`` stacks where that pays (on CUDA; on a CPU the stack is
    slower, :func:`aad_lib.training.batched.stacking_pays`)."""
    from .training.batched import use_stack

    device = pick_device(params.device)
    if not use_stack(batched, device):
        if batched == "auto" and len(seeds) > 1:
            print(f"aad: seeds {','.join(map(str, seeds))} train one after another on {device.type} "
                  "(a stack of models pays on CUDA only; --batched on forces one).", file=sys.stderr)
        return [train_method(params, method, seed, resume) for seed in seeds]
    cfgs = [train_config(params, method, seed) for seed in seeds]
    spec = model_spec(params)
    built = [_seeded_model(params, method, cfg.method, cfg.seed, spec) for cfg in cfgs]
    train_stack(built, load_split(params, "train"), cfgs, [model_dir(method, s) for s in seeds], model_spec=spec,
                test_set=load_split(params, "test"), device=device, progress=params.progress, resume=resume,
                log_paths=[train_log_path(params, method, s) for s in seeds])
    return [model_dir(method, s) for s in seeds]


def _seeded_model(params: Params, method: str, recipe: str, seed: int, spec: dict[str, Any]) -> torch.nn.Module:
    """The model of ``spec`` with ``seed``'s initial weights, checked for what ``recipe`` needs of it."""
    seed_everything(seed)
    model = models.create(**spec)  # a user's module: model is checked against the data's shape and classes here
    purposes = {"penultimate": "(Guided Dropout)", "cam_layer": "(ARP's Grad-CAM losses)"}
    for capability in recipes.get(recipe).requires:
        models.require(model, capability, f"method {method!r} {purposes[capability]}", name=params.model.name)
    return model


# ---------------------------------------------------------------- evaluation

def eval_config(params: Params) -> EvalConfig:
    """The evaluation protocol of ``params.evaluate``."""
    e = params.evaluate
    return EvalConfig(eps=e.eps, alpha=e.alpha, pgd_steps=list(e.pgd_steps), cw_steps=list(e.cw_steps),
                      kappa=e.kappa, random_start=e.random_start, batch_size=e.batch_size, seed=e.seed,
                      stop_when_fooled=e.stop_when_fooled)


def evaluate_method(params: Params, method: str, seed: int) -> Path:
    """Table 2 row of one trained model: per-sample records (CSV) and a summary (JSON metrics)."""
    device = pick_device(params.device)
    model = load_model(model_dir(method, seed) / "model.pt", device)
    return evaluate_model(params, model, eval_dir(params, method, seed),
                          {"method": method, "seed": seed, "model": params.model.name})


def evaluate_checkpoint(params: Params, path: str | Path | None = None, *, model_name: str | None = None,
                        weights: str | Path | None = None, out: str | Path | None = None) -> Path:
    """The same records and summary as :func:`evaluate_method` for a model outside the pipeline:
    any checkpoint the project wrote (``path``: a ``model.pt``), or ``model_name`` (e.g. a user's
    ``module:`` model) with a ``weights`` file (a ``state_dict``, or a project checkpoint's
    payload), on the configured test images. The model is checked against the data's shape and
    classes first. Written to ``out`` (default ``<reports>/eval/checkpoint-<name>``)."""
    device = pick_device(params.device)
    if (path is None) == (weights is None) or (weights is not None) != (model_name is not None):
        raise AadError("evaluate a checkpoint the project wrote (--checkpoint model.pt), or a model by name with its "
                       "weights (--model module:pkg.nets:make --weights weights.pt), not both or neither.")
    info = dataset_info(params)
    if path is not None:
        model = load_model(path, device)
        meta = checkpoint.read_meta(path)
        spec = meta.get("model_spec") or {}
        facts = {"method": meta.get("method"), "seed": (meta.get("config") or {}).get("seed"),
                 "model": spec.get("name"), "checkpoint": str(path)}
        label = Path(path).parent.name if Path(path).name == "model.pt" else Path(path).stem
        label = f"{meta.get('method')}-{label}" if meta.get("method") else label
    else:
        model = models.create(**{**model_spec(params), "name": model_name}).to(device)
        _load_weights(model, Path(weights), device)
        facts = {"method": None, "seed": None, "model": model_name, "checkpoint": str(weights)}
        label = Path(weights).stem
    models.check_model(model.eval(), info.channels, info.size, info.num_classes, name=facts["model"])
    return evaluate_model(params, model, Path(out) if out else params.reports.path / "eval" / f"checkpoint-{label}", facts)


def _load_weights(model: torch.nn.Module, path: Path, device: torch.device) -> None:
    if not path.exists():
        raise AadError(f"weights file {path} does not exist.")
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:  # torch raises several types for a file that is not a state_dict
        raise AadError(f"cannot read {path} as a state_dict ({type(err).__name__}: {err}).") from err
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]  # a project checkpoint's payload
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError) as err:
        raise AadError(f"{path} does not fit the model: {str(err).splitlines()[0]}") from err


def evaluate_model(params: Params, model: torch.nn.Module, out: Path, facts: dict[str, Any]) -> Path:
    """Evaluate ``model`` on the first ``evaluate.samples`` test images with the configured protocol
    and write ``records.csv``, ``summary.json`` (``facts`` first: method, seed, model, ...) and
    ``timing.json`` under ``out`` (:func:`write_evaluation`)."""
    from .evaluation import evaluate  # here, so that training does not depend on the evaluation code

    device = next(model.parameters()).device
    x, y = _test_images(params, device)
    cfg = eval_config(params)
    seed_everything(cfg.seed)
    t0 = time.perf_counter()
    records = evaluate(model, x, y, cfg, progress=params.progress)
    return write_evaluation(params, model, out, facts, records, x, y, {"seconds": round(time.perf_counter() - t0, 2)})


def evaluate_seeds(params: Params, method: str, seeds: list[int], batched: str = "auto") -> list[Path]:
    """Evaluate ``method``'s models of each of ``seeds`` in this process, each into its own
    ``reports/eval/<method>-seed<S>/`` with the files :func:`evaluate_method` writes.

    ``batched``: ``"on"`` attacks the models as one stack (:func:`aad_lib.evaluation.evaluate_models`:
    the same records up to floating-point rounding; each model's ``timing.json`` holds its share of
    the stack's time), ``"off"`` one after another, ``"auto"`` stacks where that pays (on CUDA,
    :func:`aad_lib.training.batched.stacking_pays`). The AutoAttack column, where the profile asks for
    it, runs per model in both cases."""
    from .evaluation import evaluate_models
    from .training.batched import use_stack

    device = pick_device(params.device)
    if not use_stack(batched, device):
        if batched == "auto" and len(seeds) > 1:
            print(f"aad: seeds {','.join(map(str, seeds))} are evaluated one after another on {device.type} "
                  "(a stack of models pays on CUDA only; --batched on forces one).", file=sys.stderr)
        return [evaluate_method(params, method, seed) for seed in seeds]
    trained = [load_model(model_dir(method, seed) / "model.pt", device) for seed in seeds]
    x, y = _test_images(params, device)
    cfg = eval_config(params)
    seed_everything(cfg.seed)
    t0 = time.perf_counter()
    all_records = evaluate_models(trained, x, y, cfg, progress=params.progress)
    total = round(time.perf_counter() - t0, 2)
    seconds = {"seconds": round(total / len(seeds), 2), "stacked_models": len(seeds), "stack_seconds": total}
    return [write_evaluation(params, model, eval_dir(params, method, seed), {"method": method, "seed": seed,
                                                                            "model": params.model.name},
                             records, x, y, seconds)
            for seed, model, records in zip(seeds, trained, all_records)]


def _test_images(params: Params, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``evaluate.samples`` test images and labels (all when 0), on ``device``."""
    test = load_split(params, "test")
    return test.tensors(device, params.evaluate.samples or len(test))


def write_evaluation(params: Params, model: torch.nn.Module, out: Path, facts: dict[str, Any], records: pd.DataFrame,
                     x: torch.Tensor, y: torch.Tensor, seconds: dict[str, Any]) -> Path:
    """Write one model's evaluation under ``out``: ``records.csv`` (the robustness-table ``records`` of
    ``model`` on ``x``, ``y``), ``summary.json`` (``facts`` first) and ``timing.json`` (``seconds``
    and the device). A model that ``evaluate.autoattack.models`` names (as ``<method>-seed<seed>``
    when ``facts`` give both, so a project checkpoint evaluated outside the pipeline gets what its
    pipeline run gets; else by ``out``'s folder name) also gets the AutoAttack column on the first
    ``evaluate.autoattack.samples`` of those images (:func:`add_autoattack`)."""
    from .evaluation import summarize

    cfg = eval_config(params)
    seconds = dict(seconds)
    standard: dict[str, Any] = {}
    known = facts.get("method") is not None and facts.get("seed") is not None
    if params.evaluate.autoattack.applies(f"{facts['method']}-seed{facts['seed']}" if known else out.name):
        t1 = time.perf_counter()
        records, standard["autoattack"] = add_autoattack(params, model, x, y, records)
        seconds["autoattack_seconds"] = round(time.perf_counter() - t1, 2)
    atomic_write_text(out / "records.csv", records.to_csv(index=False))
    # summary.json: only what the seed and the profile determine (the same bits on every CPU run);
    # the wall-clock time goes beside it
    summary = {"method": facts["method"], "seed": facts["seed"], "dataset": params.data.name, "model": facts["model"],
               **{k: v for k, v in facts.items() if k not in ("method", "seed", "model")},
               "n": len(records), "eval_seed": cfg.seed, "eps": cfg.eps, "alpha": cfg.alpha,
               "columns": cfg.columns(), "accuracy": summarize(records, cfg.columns()), **standard}
    atomic_write_json(out / "summary.json", summary)
    atomic_write_json(out / "timing.json", {**seconds, "device": str(next(model.parameters()).device)})
    return out


def add_autoattack(params: Params, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
                   records: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
    """AutoAttack ``standard`` (Croce and Hein 2020; :func:`aad_lib.autoattack.standard_records`)
    at ``evaluate.eps`` with seed ``evaluate.seed`` on the first ``evaluate.autoattack.samples`` of
    the evaluated images ``x``, ``y`` (0: all), ``evaluate.batch_size`` at a time. Returns the
    evaluation ``records`` with its ``AutoAttack``, ``conf:``, ``pair:`` and ``by:`` columns (empty
    on the rows past the subset) and the summary's ``autoattack`` entry in RobustBench's field names
    (:func:`aad_lib.autoattack.robustbench_summary`). The records' ``Clean`` column is the one clean
    accuracy: an image it counts wrong is not robust (the two clean passes see the same model and
    images, so they differ at most where a batch of another size rounds a tie the other way; a
    warning names how many)."""
    import warnings

    from .autoattack import COLUMN, robustbench_summary, standard_records

    e = params.evaluate
    k = min(e.autoattack.samples or len(records), len(records))
    column = standard_records(model, x[:k], y[:k], e.eps, e.seed, e.batch_size, progress=params.progress)
    clean = records["Clean"].iloc[:k].to_numpy()
    if differ := int((column["Clean"].to_numpy() != clean).sum()):
        warnings.warn(f"{COLUMN}'s clean pass disagrees with the evaluation's on {differ} of {k} images; "
                      "the evaluation's is kept.", stacklevel=2)
    column[COLUMN] = column[COLUMN].to_numpy() & clean
    records = records.join(column.drop(columns="Clean"))
    return records, robustbench_summary(records, e.eps, e.seed)


def run_pairs(params: Params, group: str | None = "main") -> list[tuple[str, int]]:
    """The (method, seed) pairs ``dvc repro`` trains (:meth:`aad_lib.params.RunParams.pairs`)."""
    return params.run.pairs(group)


def method_seeds(params: Params, method: str) -> list[int]:
    """The seeds ``method`` is trained with (from whichever run group lists it)."""
    return params.run.seeds_of(method)
