"""``aad profile new``: a profile for a new dataset, its sizes read from the data.

A researcher with their own images should not have to learn forty knobs before the first run. This
module reads the data once (any ``data.name``: a registry name, ``torchvision:``, ``folder:`` or
``npz:``), then writes ``profiles/<name>.yaml`` that extends a base profile (``default`` unless
told) and lists only what the data changes, each line with the reason:

- ``data.name`` and ``data.size`` (the stored size, or the one asked for);
- ``data.train_subset`` capped at the base profile's training set (its ``train_subset``, else its
  dataset's size: the default profile trains on MNIST-5k's 4,000 images to fit its 45-minute CPU
  budget, so a larger dataset from it trains on the first 4,000, class-balanced);
- ``evaluate.samples`` and the section sample counts no larger than the test split;
- the attack radius and steps by image scale, unless stated (``--eps``, ``--alpha``, ``--steps``):

  ============================  ============  ==============  ==========================================
  images                        eps           evaluation step  convention
  ============================  ============  ==============  ==========================================
  grey (1 channel)              0.3           0.01             MNIST (Madry et al. 2018; AALP Table 2)
  colour, side <= 64            8/255         2/255            CIFAR-10 (Madry et al.; AALP, RobustBench)
  colour, side > 64             4/255         1/255            ImageNet (RobustBench's L-inf threat model)
  ============================  ============  ==============  ==========================================

  Training uses the base profile's number of PGD steps with step ``2.5 * eps / steps`` (Madry et
  al.'s rule; at the base profile's own radius its measured step is kept), the compression section
  the same radius (grey: the base profile's), and the ARP analysis radius is scaled from the base
  profile's by the ratio of the radii;
- the model, checked by one forward pass against the data's shape and classes before anything is
  written (so a model that cannot take the images fails here, not an hour into ``dvc repro``).

The written profile is validated exactly as ``aad profile use`` validates every profile.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from . import config
from .files import atomic_write_text
from .validation import AadError, check_count

GREY_EPS, GREY_ALPHA = 0.3, 0.01
SMALL_COLOUR_EPS, SMALL_COLOUR_ALPHA = 8 / 255, 2 / 255
LARGE_COLOUR_EPS, LARGE_COLOUR_ALPHA = 4 / 255, 1 / 255
LARGE_SIDE = 64


@dataclass(frozen=True)
class DataShape:
    """What a profile needs to know about a dataset: image shape, classes and split sizes.

    Arguments:
        spec (str): the ``data.name`` it was read from.
        channels (int): 1 (grey) or 3 (colour).
        size (int): the square side the pipeline will see.
        classes (list[str]): class names, label ``k`` is ``classes[k]``.
        n_train (int): training images. n_test (int): test images.
    """

    spec: str
    channels: int
    size: int
    classes: list[str]
    n_train: int
    n_test: int


@dataclass(frozen=True)
class AttackScale:
    """The L-inf radius and steps a profile uses, with where they came from (printed in the file)."""

    eps: float
    eval_alpha: float
    train_eps: float
    train_alpha: float
    train_steps: int
    source: str


def read_shape(spec: str, root: str | Path = "data", size: int = 0, test_fraction: float = 0.2,
               split_seed: int = 0) -> DataShape:
    """Read the data of ``data.name = spec`` once and report its shape, classes and split sizes.

    Registry datasets (``mnist5k``, ...) are loaded from ``root`` as the pipeline loads them; data
    sources (``torchvision:``, ``folder:``, ``npz:``) through :func:`aad_lib.data_sources.load_source`
    with the same ``size``, ``test_fraction`` and ``split_seed`` the profile will hold, so the counts
    are the prepared split's.
    """
    from . import data
    from .data_sources import DataSource, is_source, load_source

    check_count(size, "size", 0)
    if is_source(spec):
        loaded = load_source(DataSource.parse(spec), root, size=size, test_fraction=test_fraction,
                             split_seed=split_seed)
        _, channels, side, _ = loaded.train.images.shape
        return DataShape(spec, int(channels), int(side), list(loaded.classes), len(loaded.train), len(loaded.test))
    info = data.info(spec)  # a registry name: did-you-mean on a typo
    if spec == "fake":
        raise AadError("data.name 'fake' is generated noise for tests; a profile needs real data.")
    train, test = (data.load(spec, root, split) for split in ("train", "test"))
    side = size or info.size
    return DataShape(spec, info.channels, side, [str(k) for k in range(info.num_classes)], len(train), len(test))


def image_kind(channels: int, size: int) -> str:
    """``grey``, ``colour`` (side <= 64) or ``large colour``: the rows of the module docstring's table."""
    return "grey" if channels == 1 else "colour" if size <= LARGE_SIDE else "large colour"


_TABLE = {"grey": (GREY_EPS, GREY_ALPHA, "grey images: the MNIST radius 0.3, step 0.01 (Madry et al.; AALP)"),
          "colour": (SMALL_COLOUR_EPS, SMALL_COLOUR_ALPHA,
                     f"colour images of side <= {LARGE_SIDE}: the CIFAR-10 radius 8/255, step 2/255"),
          "large colour": (LARGE_COLOUR_EPS, LARGE_COLOUR_ALPHA,
                           f"colour images of side > {LARGE_SIDE}: the ImageNet radius 4/255, step 1/255")}


def attack_scale(shape: DataShape, base: dict[str, Any], eps: float | None = None, alpha: float | None = None,
                 steps: int | None = None) -> AttackScale:
    """The attack of a new profile for ``shape``, relative to the resolved ``base`` profile.

    Data of the base's own image kind (:func:`image_kind`) keep the base's radii and steps (a paper
    profile's settings are why one extends it); data of another kind take the module docstring's
    table. ``eps``/``alpha``/``steps`` given override either; a stated ``eps`` without ``alpha``
    evaluates with steps of ``eps / 4``, and training without the base's own step takes
    ``2.5 * eps / steps`` (Madry et al.'s rule)."""
    base_attack, base_eval = base["train"]["attack"], base["evaluate"]
    base_shape = _base_shape(base)
    same_kind = base_shape is not None and image_kind(*base_shape) == image_kind(shape.channels, shape.size)
    if same_kind:
        default = (base_eval["eps"], base_eval["alpha"],
                   f"{base['profile']}'s radius and steps ({image_kind(shape.channels, shape.size)} images, as its data)")
    else:
        default = _TABLE[image_kind(shape.channels, shape.size)]
    chosen_eps = default[0] if eps is None else eps
    chosen_alpha = (default[1] if eps is None else chosen_eps / 4) if alpha is None else alpha
    for value, what in ((chosen_eps, "eps"), (chosen_alpha, "alpha")):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value <= 1:
            raise AadError(f"{what} must be a number in (0, 1] (pixel units, images in [0, 1]), got {value!r}.")
    k = base_attack["steps"] if steps is None else steps
    check_count(k, "steps", 1)
    if same_kind and eps is None and steps is None:
        train_eps, train_alpha = base_attack["eps"], base_attack["alpha"]
    else:
        train_eps, train_alpha = chosen_eps, 2.5 * chosen_eps / k
    stated = [f"eps {eps}" if eps is not None else "", f"alpha {alpha}" if alpha is not None else "",
              f"steps {steps}" if steps is not None else ""]
    source = "stated: " + ", ".join(s for s in stated if s) if any(stated) else default[2]
    return AttackScale(float(chosen_eps), float(chosen_alpha), float(train_eps), float(train_alpha), k, source)


def _base_shape(base: dict[str, Any]) -> tuple[int, int] | None:
    """(channels, size) of a base profile's data when its name says it (a registry dataset)."""
    from . import data
    from .data_sources import is_source

    name = base["data"]["name"]
    if is_source(name) or name not in data.names():
        return None
    info = data.info(name)
    return info.channels, base["data"]["size"] or info.size


def check_model_fits(model: str, shape: DataShape) -> None:
    """Build ``model`` for the data's shape and run one forward pass (clear error if it cannot)."""
    import torch

    from . import models

    try:
        net = models.create(model, num_classes=len(shape.classes), in_channels=shape.channels, size=shape.size)
        with torch.no_grad():
            out = net.eval()(torch.zeros(1, shape.channels, shape.size, shape.size))
    except AadError as err:
        raise AadError(f"model {model!r} does not fit {shape.spec} ({shape.channels}x{shape.size}x{shape.size}, "
                       f"{len(shape.classes)} classes): {err}") from err
    if tuple(out.shape) != (1, len(shape.classes)):
        raise AadError(f"model {model!r} gives logits of shape {tuple(out.shape)} on one {shape.channels}x{shape.size}"
                       f"x{shape.size} image; {shape.spec} needs (1, {len(shape.classes)}).")


def profile_for(shape: DataShape, base: dict[str, Any], model: str | None = None, size: int = 0,
                eps: float | None = None, alpha: float | None = None, steps: int | None = None
                ) -> tuple[dict[str, Any], AttackScale]:
    """The keys a new profile changes relative to the resolved ``base`` profile (see the module
    docstring for each rule), and the attack scale it chose."""
    from . import data

    scale = attack_scale(shape, base, eps, alpha, steps)
    base_eps = base["evaluate"]["eps"]
    chosen_model = model or base["model"]["name"]
    check_model_fits(chosen_model, shape)
    budget = base["data"]["train_subset"] or data.SPLIT_SIZES.get(base["data"]["name"], (0, 0))[0]
    out: dict[str, Any] = {
        "data": {"name": shape.spec, "size": size,
                 "train_subset": budget if 0 < budget < shape.n_train else 0, "test_subset": 0},
        "model": {"name": chosen_model},
        "train": {"attack": {"eps": scale.train_eps, "alpha": scale.train_alpha, "steps": scale.train_steps}},
        "evaluate": {"eps": scale.eps, "alpha": scale.eval_alpha,
                     "samples": min(base["evaluate"]["samples"] or shape.n_test, shape.n_test)},
    }
    if scale.eps != base_eps:
        out["attention"] = {"analysis_eps": base["attention"]["analysis_eps"] * scale.eps / base_eps,
                            "iter_alpha": base["attention"]["iter_alpha"] * scale.eps / base_eps}
        out["compression"] = {"eps": scale.eps, "alpha": scale.eval_alpha}
    for section, key in (("compression", "samples"), ("integrity", "samples")):
        if base[section][key] > shape.n_test:
            out.setdefault(section, {})[key] = shape.n_test
    return out, scale


def write_profile(name: str, shape: DataShape, changes: dict[str, Any], scale: AttackScale, extends: str,
                  root: str | Path = ".", force: bool = False) -> Path:
    """Write ``profiles/<name>.yaml`` (atomically) and validate it as every profile is validated.

    Refuses to overwrite an existing profile unless ``force``; a profile that fails validation is
    removed again, so nothing half-written stays behind.
    """
    root = Path(root)
    if not name or not name.replace("-", "").replace("_", "").isalnum():
        raise AadError(f"profile name {name!r}: use letters, digits, '-' and '_' only.")
    path = root / config.PROFILES_DIR / f"{name}.yaml"
    if path.exists() and not force:
        raise AadError(f"{path} exists; choose another name or pass --force to overwrite it.")
    header = (f"# Profile for {shape.spec}: {shape.channels}x{shape.size}x{shape.size} images, "
              f"{len(shape.classes)} classes, {shape.n_train} train / {shape.n_test} test images\n"
              f"# (read from the data by `aad profile new`). Attack radius: {scale.source}; training: "
              f"PGD-{scale.train_steps}, step {scale.train_alpha:.4g}.\n"
              f"# Everything not listed here is profiles/{extends}.yaml's. `aad profile use {name}` activates it.\n")
    body = yaml.safe_dump({"extends": extends, **changes}, sort_keys=False, default_flow_style=None, width=100)
    previous = path.read_text() if path.exists() else None
    atomic_write_text(path, header + body)
    try:
        config.resolve_profile(name, root)
    except AadError:
        if previous is None:
            path.unlink()
        else:
            atomic_write_text(path, previous)
        raise
    return path


def new_profile(name: str, spec: str, root: str | Path = ".", extends: str = "default", model: str | None = None,
                size: int = 0, eps: float | None = None, alpha: float | None = None, steps: int | None = None,
                force: bool = False) -> tuple[Path, DataShape, AttackScale]:
    """Read the data, derive the profile and write it: what ``aad profile new`` runs."""
    root = Path(root)
    base = config.resolve_profile(extends, root)
    data_root = root / base["data"]["root"]
    shape = read_shape(spec, data_root, size, base["data"]["test_fraction"], base["data"]["split_seed"])
    changes, scale = profile_for(shape, base, model, size, eps, alpha, steps)
    return write_profile(name, shape, changes, scale, extends, root, force), shape, scale
