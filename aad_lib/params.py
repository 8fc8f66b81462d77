"""The typed boundary: ``params.yaml`` (a dict that :mod:`aad_lib.config` has checked key by key
against the default profile) is parsed once into frozen dataclasses, and everything below the
CLI, the notebooks and the DVC entry points takes these types, never the dict.

Lists become tuples, sections become their dataclass, ``methods`` becomes a read-only mapping of
:class:`MethodSettings`, ``train.attack`` an :class:`~aad_lib.attacks.settings.AttackSettings`.
A key of ``params.yaml`` that a dataclass field spells differently (``lambda``, a Python keyword)
names it in the field's ``metadata``.

Checks that need the registries (recipes, models, datasets, defenses) and the cross-section
rules (a notebook reads only trained methods and evaluated columns) live here too:
:meth:`Params.check`.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .attacks.settings import AttackSettings
from .validation import AadError, check_count, choose

# run group -> (its methods field, its seeds field) under `run:`; each group is a DVC matrix stage pair
GROUPS = {"main": ("methods", "seeds"), "extra": ("extra_methods", "extra_seeds"),
          "attention": ("attention_methods", "attention_seeds")}


@dataclass(frozen=True)
class DataParams:
    """``data``: the dataset (a registry name, or ``torchvision:<Class>``, ``folder:<path>``,
    ``npz:<path>``: :mod:`aad_lib.data_sources`), where its raw files and the prepared split live,
    class-balanced subset sizes (0: the whole split), and for folder:/npz: data the image size and
    the seeded stratified test split."""

    name: str
    root: str
    prepared: str
    train_subset: int
    test_subset: int
    size: int = 0
    test_fraction: float = 0.2
    split_seed: int = 0


@dataclass(frozen=True)
class ModelParams:
    """``model``: a registry name (``aad_lib.models.names()``) or ``timm:<name>``."""

    name: str


@dataclass(frozen=True)
class RunParams:
    """``run``: the (method, seed) pairs ``dvc repro`` trains, in three groups (Table 2, the
    ablations and lambda sweep, the ARP models)."""

    methods: tuple[str, ...]
    seeds: tuple[int, ...]
    extra_methods: tuple[str, ...]
    extra_seeds: tuple[int, ...]
    attention_methods: tuple[str, ...]
    attention_seeds: tuple[int, ...]

    def pairs(self, group: str | None = "main") -> list[tuple[str, int]]:
        """``main`` = methods x seeds (Table 2), ``extra`` = extra_methods x extra_seeds (ablations
        and the lambda sweep), ``attention`` = attention_methods x attention_seeds (notebook 04),
        None = every group, each pair once."""
        if group is None:
            return list(dict.fromkeys(pair for g in GROUPS for pair in self.pairs(g)))
        methods_key, seeds_key = GROUPS[choose(group, GROUPS, "run group")]
        return [(m, s) for m in getattr(self, methods_key) for s in getattr(self, seeds_key)]

    def seeds_of(self, method: str) -> list[int]:
        """The seeds ``method`` is trained with (from whichever group lists it)."""
        return [s for m, s in self.pairs(None) if m == method]

    def trained(self) -> list[str]:
        """Every method some group trains, sorted."""
        return sorted({m for m, _ in self.pairs(None)})


@dataclass(frozen=True)
class TrainParams:
    """``train``: the training run every method starts from (``methods.<name>`` overrides it)."""

    epochs: int
    batch_size: int
    optimizer: str
    lr: float
    weight_decay: float
    momentum: float
    lr_milestones: tuple[int, ...]
    lr_gamma: float
    eps_warmup_epochs: float
    attack: AttackSettings
    monitor_samples: int
    monitor_steps: int


@dataclass(frozen=True)
class MethodSettings:
    """``methods.<name>``: the registered ``recipe`` behind a named variant (None: the name is the
    recipe) and the settings it changes, ``train`` keys and recipe options alike."""

    recipe: str | None
    settings: Mapping[str, Any]

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None) -> MethodSettings:
        raw = dict(raw or {})
        return cls(raw.pop("recipe", None), types.MappingProxyType(raw))


@dataclass(frozen=True)
class AutoAttackParams:
    """``evaluate.autoattack``: which evaluated models get the AutoAttack ``standard`` column
    (:mod:`aad_lib.autoattack`) and on how many images. ``models`` are shell patterns
    (:func:`fnmatch.fnmatchcase`) of a model's name, ``<method>-seed<seed>`` as its
    ``reports/eval/`` folder (a project checkpoint evaluated outside the pipeline keeps that name;
    any other model is named by its output folder, e.g. ``checkpoint-<name>``): ``["*"]`` every
    model, ``[]`` none. ``samples``: the first n of the evaluated images (0: all of them)."""

    models: tuple[str, ...] = ()
    samples: int = 0

    def __post_init__(self) -> None:
        check_count(self.samples, "evaluate.autoattack.samples", 0)

    def applies(self, name: str) -> bool:
        """Whether the model named ``name`` (``<method>-seed<seed>``) gets the column."""
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.models)


@dataclass(frozen=True)
class EvaluateParams:
    """``evaluate``: the robustness table's protocol (the AALP paper's: eps 0.3, step 0.01, random
    start, CW kappa 50) on the first ``samples`` test images (0: all); its columns and budget are
    :class:`aad_lib.evaluation.EvalConfig`'s (:func:`aad_lib.pipeline.eval_config`), and
    ``autoattack`` adds AutoAttack's column to some models (:class:`AutoAttackParams`)."""

    samples: int
    batch_size: int
    eps: float
    alpha: float
    pgd_steps: tuple[int, ...]
    cw_steps: tuple[int, ...]
    kappa: float
    random_start: bool
    seed: int
    stop_when_fooled: bool
    autoattack: AutoAttackParams = AutoAttackParams()


@dataclass(frozen=True)
class AnalysisParams:
    """``analysis``: the AALP data analysis (notebooks 01-03)."""

    attack: str
    figure_seed: int
    history_samples: int
    history_steps: int
    contribution_samples: int
    cam_examples: int
    bootstrap: int


@dataclass(frozen=True)
class ReportsParams:
    """``reports``: where every table, figure, metric and executed notebook goes."""

    dir: str

    @property
    def path(self) -> Path:
        return Path(self.dir)


@dataclass(frozen=True)
class IntegrityParams:
    """``integrity``: the gradient-masking checks and AutoAttack cross-check of each audited model."""

    samples: int
    autoattack_steps: int


@dataclass(frozen=True)
class ImageNetParams:
    """``attention.imagenet``: ILSVRC validation images with their bounding boxes (profile paper-imagenet)."""

    images: str
    annotations: str
    synsets: str
    samples: int
    size: int


@dataclass(frozen=True)
class AttentionParams:
    """``attention``: the ARP section (notebook 04)."""

    analysis_models: tuple[str, ...]
    analysis_data: str
    analysis_eps: float
    stroke_threshold: float
    top_fraction: float
    iterations: int
    iter_alpha: float
    completeness_bins: int
    defense_methods: tuple[str, ...]
    iter_ll_steps: int
    attention_steps: int
    pgd_column: str
    cw_column: str
    examples: int
    imagenet: ImageNetParams

    def check(self, trained: list[str], columns: list[str]) -> None:
        """The models and columns notebook 04 reads must be trained and evaluated."""
        choose(self.analysis_data, ("eval", "imagenet"), "attention.analysis_data")
        for name in self.analysis_models:
            if not name.startswith("timm:"):
                choose(name, trained, "attention.analysis_models entry (a trained method or timm:<name>)")
        for name in self.defense_methods:
            choose(name, trained, "attention.defense_methods entry (a trained method)")
        for key in ("pgd_column", "cw_column"):
            choose(getattr(self, key), columns, f"attention.{key} (an evaluation column)")
        if not 0 < self.top_fraction <= 1:
            raise AadError(f"attention.top_fraction must lie in (0, 1], got {self.top_fraction!r}.")
        if not 0 < self.iter_alpha <= self.analysis_eps:
            raise AadError(f"attention.iter_alpha must lie in (0, analysis_eps = {self.analysis_eps}], "
                           f"got {self.iter_alpha!r}.")


@dataclass(frozen=True)
class DeepFoolParams:
    """``compression.deepfool``: DeepFool's overshoot and step limit (Moosavi-Dezfooli et al., CVPR 2016)."""

    overshoot: float
    max_iter: int


@dataclass(frozen=True)
class ComDefendParams:
    """``compression.comdefend``: ComDefend's architecture and its training runs (Jia et al., CVPR 2019):
    one purifier per variant and seed of ``seeds``."""

    seeds: tuple[int, ...]
    epochs: int
    batch_size: int
    lr: float
    code_weight: float = field(metadata={"key": "lambda"})
    sigma: float = 20.0
    test_sigma: float = 1.0
    width: float = 1.0
    residual_width: float = 1.0
    levels: int = 1
    depth: int = 1
    monitor_samples: int = 0


@dataclass(frozen=True)
class AuditParams:
    """``compression.audit``: the integrity audit of the adaptive table (images, APGD-T or not)."""

    samples: int
    targeted: bool


@dataclass(frozen=True)
class CompressionParams:
    """``compression``: the input-transformation and ComDefend section (notebook 05)."""

    classifier: str
    samples: int
    eps: float
    alpha: float
    steps: int
    bim_steps: int
    deepfool: DeepFoolParams
    defenses: tuple[Mapping[str, Any], ...]
    sweep_codecs: tuple[str, ...]
    qualities: tuple[int, ...]
    comdefend_variants: tuple[str, ...]
    comdefend: ComDefendParams
    eot_samples: int
    audit: AuditParams
    draws: int
    examples: int

    def check(self, trained: list[str]) -> None:
        """The classifier is trained, every defense and ComDefend variant exists."""
        from .defenses import make
        from .defenses.comdefend import VARIANTS

        choose(self.classifier, trained, "compression.classifier (a trained method)")
        for spec in self.defenses:
            if not isinstance(spec, Mapping) or "name" not in spec:
                raise AadError(f"every compression.defenses entry must be a mapping with a transform name, e.g. "
                               f"{{name: webp, quality: 60}}; got {spec!r}.")
            make(**spec)
        for variant in self.comdefend_variants:
            choose(variant, VARIANTS, "compression.comdefend_variants entry")
        for codec in self.sweep_codecs:
            choose(codec, ("webp", "jpeg", "webp+flip", "flip+webp"), "compression.sweep_codecs entry")
        if not 0 < self.alpha <= self.eps:
            raise AadError(f"compression.alpha must lie in (0, eps = {self.eps}], got {self.alpha!r}.")
        check_count(self.audit.samples, "compression.audit.samples", 1)


@dataclass(frozen=True)
class Params:
    """Every knob of a run (``params.yaml``, resolved from a profile), typed. Build it with
    :func:`parse` (or :func:`aad_lib.config.load_params` from a file)."""

    seed: int
    device: str
    progress: bool
    data: DataParams
    model: ModelParams
    run: RunParams
    train: TrainParams
    methods: Mapping[str, MethodSettings]
    evaluate: EvaluateParams
    analysis: AnalysisParams
    reports: ReportsParams
    integrity: IntegrityParams
    attention: AttentionParams | None = None
    compression: CompressionParams | None = None
    profile: str = "?"

    def method(self, name: str) -> MethodSettings:
        """``methods.<name>`` (no settings when the profile lists none)."""
        return self.methods.get(name) or MethodSettings(None, types.MappingProxyType({}))


def parse(raw: Mapping[str, Any]) -> Params:
    """The typed parameters of a checked ``params.yaml`` dict (:func:`aad_lib.config.load`)."""
    return _build(Params, raw, "params")


def _build(cls: type, raw: Any, where: str) -> Any:
    if not isinstance(raw, Mapping):
        raise AadError(f"{where} must be a section (mapping), got {raw!r}.")
    hints = typing.get_type_hints(cls)
    values = {}
    for f in fields(cls):
        key = f.metadata.get("key", f.name)
        if key not in raw:
            if f.default is dataclasses.MISSING:
                raise AadError(f"{where}.{key} is missing; every profile extends the default, which sets it.")
            continue
        values[f.name] = _value(hints[f.name], raw[key], f"{where}.{key}")
    return cls(**values)


def _value(hint: Any, value: Any, where: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        return _value(next(a for a in args if a is not type(None)), value, where)
    if hint is AttackSettings:
        return AttackSettings(**value)
    if hint is MethodSettings:
        return MethodSettings.parse(value)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    if origin is tuple:
        return tuple(_value(args[0], v, where) for v in value)
    if origin is Mapping:
        if value is not None and not isinstance(value, Mapping):
            return value  # left for the section's check, which names what the entry should look like
        return types.MappingProxyType({k: _value(args[1], v, f"{where}.{k}") for k, v in (value or {}).items()})
    return value


__all__ = ["Params", "parse", "GROUPS", "DataParams", "ModelParams", "RunParams", "TrainParams", "MethodSettings",
           "EvaluateParams", "AutoAttackParams", "AnalysisParams", "ReportsParams", "IntegrityParams", "AttentionParams",
           "ImageNetParams", "CompressionParams", "ComDefendParams", "DeepFoolParams", "AuditParams"]
