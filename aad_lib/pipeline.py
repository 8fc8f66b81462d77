"""The pipeline's steps as functions of the params dict: prepare data, train one method/seed,
evaluate one model, and which (method, seed) pairs a run trains. The CLI (and so DVC), the
notebooks and the tests all call these; DVC's train and evaluate stages depend on this file, so
the readers of finished results live apart, in :mod:`aad_lib.results`."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from . import data, models
from .evaluation import EvalConfig, evaluate, summarize
from .files import atomic_write_json, atomic_write_text
from .runtime import pick_device, seed_everything
from .training import TrainConfig, checkpoint, load_model, recipes, train
from .validation import AadError, check_count, choose

TRAIN_KEYS = set(TrainConfig.__dataclass_fields__) - {"method", "options", "seed"}


# ---------------------------------------------------------------- paths

def prepared_path(params: dict[str, Any]) -> Path:
    return Path(params["data"]["prepared"]) / f"{params['data']['name']}.pt"


def model_dir(method: str, seed: int) -> Path:
    return Path("models") / method / f"seed{seed}"


def train_log_path(params: dict[str, Any], method: str, seed: int) -> Path:
    return Path(params["reports"]["dir"]) / "train" / f"{method}-seed{seed}.csv"


def eval_dir(params: dict[str, Any], method: str, seed: int) -> Path:
    return Path(params["reports"]["dir"]) / "eval" / f"{method}-seed{seed}"


# ---------------------------------------------------------------- data

def prepare_data(params: dict[str, Any]) -> Path:
    """Materialise the configured dataset's train/test split (optionally a class-balanced subset)
    as uint8 tensors in one checksummed file, plus a summary JSON under reports/data/."""
    d = params["data"]
    out = prepared_path(params)
    payload: dict[str, torch.Tensor] = {}
    summary: dict[str, Any] = {"dataset": d["name"]}
    for split, subset in (("train", d["train_subset"]), ("test", d["test_subset"])):
        ds = data.load(d["name"], d["root"], split)
        idx = balanced_subset(ds.labels, subset) if subset else torch.arange(len(ds))
        payload[f"{split}_images"] = ds.images[idx].clone()
        payload[f"{split}_labels"] = ds.labels[idx].clone()
        summary[split] = {"n": len(idx), "per_class": torch.bincount(ds.labels[idx]).tolist()}
    checkpoint.save(out, payload, {"kind": "prepared-data", "dataset": d["name"], **summary})
    atomic_write_json(Path(params["reports"]["dir"]) / "data" / f"{d['name']}.json", summary)
    return out


def balanced_subset(labels: torch.Tensor, n: int) -> torch.Tensor:
    """Indices of the first ``n // C`` samples of each of the C classes, in dataset order."""
    classes = torch.unique(labels)
    per_class = n // len(classes)
    if per_class < 1:
        raise AadError(f"a subset of {n} cannot hold one sample of each of {len(classes)} classes.")
    idx = torch.cat([torch.nonzero(labels == c).squeeze(1)[:per_class] for c in classes])
    return idx.sort().values


def load_split(params: dict[str, Any], split: str) -> data.ImageTensorDataset:
    """The prepared ``split`` (run ``aad data prepare`` first)."""
    choose(split, data.SPLITS, "split")
    path = prepared_path(params)
    if not path.exists():
        raise AadError(f"{path} not found; run `aad data prepare` (or `dvc repro prepare`) first.")
    payload, _ = checkpoint.load(path)
    return data.ImageTensorDataset(payload[f"{split}_images"], payload[f"{split}_labels"], params["data"]["name"], split)


# ---------------------------------------------------------------- training

def method_recipe(params: dict[str, Any], method: str) -> str:
    """The registered training recipe behind ``method``: the method itself, or for a named
    variant (``methods.<name>.recipe: aalp``, e.g. one point of the lambda sweep) its recipe."""
    settings = (params.get("methods") or {}).get(method) or {}
    if "recipe" in settings:
        return choose(settings["recipe"], recipes.RECIPES, f"recipe of method {method!r}")
    known = sorted(recipes.RECIPES) + sorted(k for k, v in (params.get("methods") or {}).items() if v and "recipe" in v)
    return choose(method, known, "training method")


def train_config(params: dict[str, Any], method: str, seed: int) -> TrainConfig:
    """``train`` merged with ``methods.<method>``; keys a method does not know are errors."""
    recipe = method_recipe(params, method)
    merged = {k: v for k, v in params["train"].items()}
    overrides = {k: v for k, v in ((params.get("methods") or {}).get(method) or {}).items() if k != "recipe"}
    options = {}
    for key, value in overrides.items():
        if key in TRAIN_KEYS:
            merged[key] = {**merged[key], **value} if isinstance(value, dict) and key == "attack" else value
        else:
            choose(key, sorted(TRAIN_KEYS | set(recipes.OPTIONS[recipe])), f"setting for method {method!r}")
            options[key] = value
    return TrainConfig(method=recipe, seed=seed, options=options, **merged)


def check_params(params: dict[str, Any]) -> None:
    """Checks that need the registries (config.validate checks keys and types): every method to
    run resolves to a recipe with known settings, the model and dataset exist, and the analysis
    attack is one of the evaluation columns."""
    for group in GROUPS:
        for method, seed in run_pairs(params, group):
            if "." in method:  # DVC reads `methods.<name>` as a dotted path: a dot would split the name
                raise AadError(f"method name {method!r} must not contain '.' (DVC splits parameter names on dots); "
                               f"write e.g. {method.replace('.', 'p')!r}.")
            train_config(params, method, seed)
    data.info(params["data"]["name"])
    if not params["model"]["name"].startswith("timm:"):
        choose(params["model"]["name"], models.names(), "model")
    columns = eval_config(params).columns()[1:]
    attack = params.get("analysis", {}).get("attack")
    if attack is not None:
        choose(attack, columns, "analysis.attack (an evaluation column)")
    attention = params.get("attention")
    if attention is not None:
        check_attention_params(params, columns)
    if params.get("compression") is not None:
        check_compression_params(params)


def check_attention_params(params: dict[str, Any], columns: list[str]) -> None:
    """Notebook 04's settings: models and columns it reads must be trained and evaluated."""
    a = params["attention"]
    trained = sorted({m for m, _ in run_pairs(params, None)})
    choose(a["analysis_data"], ("eval", "imagenet"), "attention.analysis_data")
    for name in a["analysis_models"]:
        if not name.startswith("timm:"):
            choose(name, trained, "attention.analysis_models entry (a trained method or timm:<name>)")
    for name in a["defense_methods"]:
        choose(name, trained, "attention.defense_methods entry (a trained method)")
    for key in ("pgd_column", "cw_column"):
        choose(a[key], columns, f"attention.{key} (an evaluation column)")
    if not 0 < a["top_fraction"] <= 1:
        raise AadError(f"attention.top_fraction must lie in (0, 1], got {a['top_fraction']!r}.")
    if not 0 < a["iter_alpha"] <= a["analysis_eps"]:
        raise AadError(f"attention.iter_alpha must lie in (0, analysis_eps = {a['analysis_eps']}], got {a['iter_alpha']!r}.")


def model_spec(params: dict[str, Any]) -> dict[str, Any]:
    """The arguments of ``models.create`` for the configured model and dataset."""
    info = data.info(params["data"]["name"])
    return {"name": params["model"]["name"], "num_classes": info.num_classes, "in_channels": info.channels,
            "size": info.size, "mean": list(info.mean), "std": list(info.std)}


def train_method(params: dict[str, Any], method: str, seed: int, resume: bool = True) -> Path:
    """Train ``method`` with ``seed`` into ``models/<method>/seed<seed>/``."""
    cfg = train_config(params, method, seed)
    device = pick_device(params["device"])
    seed_everything(seed)
    spec = model_spec(params)
    model = models.create(**spec)
    out = model_dir(method, seed)
    train(model, load_split(params, "train"), cfg, out, model_spec=spec, test_set=load_split(params, "test"),
          device=device, progress=params["progress"], resume=resume, log_path=train_log_path(params, method, seed))
    return out


# ---------------------------------------------------------------- ComDefend (notebook 05)

def purifier_dir(params: dict[str, Any], variant: str) -> Path:
    return Path("models") / f"comdefend-{variant}" / f"seed{params['compression']['comdefend']['seed']}"


def purifier_log_path(params: dict[str, Any], variant: str) -> Path:
    seed = params["compression"]["comdefend"]["seed"]
    return Path(params["reports"]["dir"]) / "train" / f"comdefend-{variant}-seed{seed}.csv"


def purifier_spec(params: dict[str, Any], variant: str) -> dict[str, Any]:
    """The arguments of :class:`~aad_lib.defenses.ComDefend` for ``variant`` on the configured data."""
    from .defenses.comdefend import VARIANTS

    c = params["compression"]["comdefend"]
    return {"in_channels": data.info(params["data"]["name"]).channels,
            "variant": choose(variant, VARIANTS, "ComDefend variant (compression.comdefend_variants)"),
            "sigma": c["sigma"], "test_sigma": c["test_sigma"], "width": c["width"],
            "residual_width": c["residual_width"], "levels": c["levels"], "depth": c["depth"]}


def purifier_config(params: dict[str, Any]) -> TrainConfig:
    """ComDefend's training run (the authors' recipe: Adam, batch 20, lambda 1e-4) on the training loop."""
    c = params["compression"]["comdefend"]
    return TrainConfig(method="comdefend", epochs=c["epochs"], batch_size=c["batch_size"], lr=c["lr"],
                       optimizer="adam", options={"comdefend_lambda": c["lambda"]}, seed=c["seed"],
                       monitor_samples=c["monitor_samples"])


def train_purifier(params: dict[str, Any], variant: str, resume: bool = True) -> Path:
    """Train ComDefend ``variant`` on the clean training images into ``models/comdefend-<variant>/seed<s>/``
    (epoch checkpoints, resume, log under reports/train/ as for the classifiers)."""
    from .defenses.comdefend import ComDefend

    cfg = purifier_config(params)
    spec = purifier_spec(params, variant)
    seed_everything(cfg.seed)
    model = ComDefend(**spec)
    out = purifier_dir(params, variant)
    train(model, load_split(params, "train"), cfg, out, model_spec={"purifier": "comdefend", **spec},
          test_set=load_split(params, "test"), device=pick_device(params["device"]), progress=params["progress"],
          resume=resume, log_path=purifier_log_path(params, variant))
    return out


def load_purifier(params: dict[str, Any], variant: str, device: torch.device | str = "cpu") -> Any:
    """The trained ComDefend ``variant`` (checksum verified), eval mode."""
    from .defenses.comdefend import ComDefend

    path = purifier_dir(params, variant) / "model.pt"
    if not path.exists():
        raise AadError(f"{path} not found; train it with `aad train-purifier --variant {variant}` "
                       f"(or `dvc repro train_comdefend`).")
    payload, meta = checkpoint.load(path)
    spec = {k: v for k, v in (meta.get("model_spec") or {}).items() if k != "purifier"}
    model = ComDefend(**spec)
    model.load_state_dict(payload["model"])
    return model.to(device).eval()


def check_compression_params(params: dict[str, Any]) -> None:
    """Notebook 05's settings: the classifier is trained, every defense and variant exists."""
    from .defenses import make
    from .defenses.comdefend import VARIANTS

    c = params["compression"]
    choose(c["classifier"], sorted({m for m, _ in run_pairs(params, None)}),
           "compression.classifier (a trained method)")
    for spec in c["defenses"]:
        if not isinstance(spec, dict) or "name" not in spec:
            raise AadError(f"every compression.defenses entry must be a mapping with a transform name, e.g. "
                           f"{{name: webp, quality: 60}}; got {spec!r}.")
        make(**spec)
    for variant in c["comdefend_variants"]:
        choose(variant, VARIANTS, "compression.comdefend_variants entry")
    for codec in c["sweep_codecs"]:
        choose(codec, ("webp", "jpeg", "webp+flip", "flip+webp"), "compression.sweep_codecs entry")
    if not 0 < c["alpha"] <= c["eps"]:
        raise AadError(f"compression.alpha must lie in (0, eps = {c['eps']}], got {c['alpha']!r}.")
    check_count(c["audit"]["samples"], "compression.audit.samples", 1)


# ---------------------------------------------------------------- evaluation

def eval_config(params: dict[str, Any]) -> EvalConfig:
    e = params["evaluate"]
    return EvalConfig(eps=e["eps"], alpha=e["alpha"], pgd_steps=list(e["pgd_steps"]), cw_steps=list(e["cw_steps"]),
                      kappa=e["kappa"], random_start=e["random_start"], batch_size=e["batch_size"], seed=e["seed"],
                      stop_when_fooled=e["stop_when_fooled"])


def evaluate_method(params: dict[str, Any], method: str, seed: int) -> Path:
    """Table 2 row of one trained model: per-sample records (CSV) and a summary (JSON metrics)."""
    device = pick_device(params["device"])
    model = load_model(model_dir(method, seed) / "model.pt", device)
    test = load_split(params, "test")
    n = params["evaluate"]["samples"] or len(test)
    x, y = test.tensors(device, n)
    cfg = eval_config(params)
    seed_everything(cfg.seed)
    t0 = time.perf_counter()
    records = evaluate(model, x, y, cfg, progress=params["progress"])
    seconds = time.perf_counter() - t0
    out = eval_dir(params, method, seed)
    atomic_write_text(out / "records.csv", records.to_csv(index=False))
    # summary.json is the DVC metric: only what the seed and the profile determine (the same bits on
    # every CPU run); the wall-clock time goes beside it
    summary = {"method": method, "seed": seed, "dataset": params["data"]["name"], "model": params["model"]["name"],
               "n": len(records), "eval_seed": cfg.seed, "eps": cfg.eps, "alpha": cfg.alpha,
               "columns": cfg.columns(), "accuracy": summarize(records, cfg.columns())}
    atomic_write_json(out / "summary.json", summary)
    atomic_write_json(out / "timing.json", {"seconds": round(seconds, 2), "device": str(device)})
    return out


# run group -> (its methods key, its seeds key) under `run:`; each group is a DVC matrix stage pair
GROUPS = {"main": ("methods", "seeds"), "extra": ("extra_methods", "extra_seeds"),
          "attention": ("attention_methods", "attention_seeds")}


def run_pairs(params: dict[str, Any], group: str | None = "main") -> list[tuple[str, int]]:
    """The (method, seed) pairs ``dvc repro`` trains: ``main`` = run.methods x run.seeds (Table 2),
    ``extra`` = run.extra_methods x run.extra_seeds (ablations and the lambda sweep, fewer seeds),
    ``attention`` = run.attention_methods x run.attention_seeds (the ARP models of notebook 04),
    None = every group."""
    if group is None:
        return list(dict.fromkeys(pair for g in GROUPS for pair in run_pairs(params, g)))
    methods_key, seeds_key = GROUPS[choose(group, GROUPS, "run group")]
    run = params["run"]
    return [(m, s) for m in run[methods_key] for s in run[seeds_key]]


def method_seeds(params: dict[str, Any], method: str) -> list[int]:
    """The seeds ``method`` is trained with (from whichever run group lists it)."""
    return [s for m, s in run_pairs(params, None) if m == method]
