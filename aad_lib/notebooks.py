"""The notebooks' setup and their papermill runner (the DVC stages, the tests and the CLI use this).

A notebook runs wherever it is opened: from JupyterLab (working directory ``notebooks/``), from the
repository root, through papermill or ``aad notebook``. :func:`setup` finds the project root (the
nearest folder at or above the working directory holding ``dvc.yaml`` and ``params.yaml``) and
works from there, so every relative path of params.yaml (data, models, reports) means the same
thing in all four.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from .validation import AadError, choose

if TYPE_CHECKING:
    from .params import Params

NOTEBOOK_DIR = Path("notebooks")
# What marks the project root: the pipeline and its active parameters, side by side.
ROOT_MARKERS = ("dvc.yaml", "params.yaml")


def find_root(start: str | Path | None = None) -> Path:
    """The project root: the nearest folder at or above ``start`` (default: the working directory)
    that holds both ``dvc.yaml`` and ``params.yaml``, as an absolute path."""
    here = Path.cwd() if start is None else Path(start)
    here = here.resolve()
    for folder in (here, *here.parents):
        if all((folder / marker).is_file() for marker in ROOT_MARKERS):
            return folder
    raise AadError(f"no project root found: no folder at or above {here} holds both {' and '.join(ROOT_MARKERS)}. "
                   "Open the notebook inside a clone of the project (its notebooks/ folder or the root), "
                   "or run `aad profile use default` at the root if params.yaml is missing.")


def parse_overrides(value: str | Sequence[str] | None) -> list[str]:
    """The notebook parameter ``overrides`` as a list of ``key.sub=value`` strings.

    Accepts a list (the notebook's default, papermill ``-y`` and ``aad notebook --set``), a JSON or
    YAML list in a string (papermill ``-p overrides '["evaluate.samples=200"]'`` passes a string),
    one ``key.sub=value`` string, or ``None``/``""`` for none. Values stay text here: they are typed
    once, when params.yaml is loaded (:func:`aad_lib.config.apply_override`)."""
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return []
        if not text.startswith(("[", "{")):  # one key.sub=value
            return [text]
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise AadError(f"overrides {text!r} is not a valid JSON/YAML list ({err.__class__.__name__}); "
                           "write it as '[\"key.sub=value\", ...]'.") from err
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise AadError(f"overrides must be a list of key.sub=value strings, a JSON/YAML list of them or one "
                       f"key.sub=value string; got {type(value).__name__} {value!r}.")
    bad = [item for item in value if not isinstance(item, str)]
    if bad:
        raise AadError(f"every override must be a key.sub=value string; got {bad[0]!r} ({type(bad[0]).__name__}) "
                       f"in {list(value)!r}. Quote the items when a value holds a comma or brackets: "
                       "'[\"run.methods=[madry,alp]\"]'.")
    return [item.strip() for item in value]


def names(root: str | Path = ".") -> list[str]:
    """Notebook names without extension, e.g. ``03_adaptive_weighting``."""
    return sorted(p.stem for p in (Path(root) / NOTEBOOK_DIR).glob("[0-9][0-9]_*.ipynb"))


def kernel_name() -> str:
    """This project's kernel (``aad``, registered by ``make setup``) or, outside it, ``python3``."""
    from jupyter_client.kernelspec import find_kernel_specs

    return "aad" if "aad" in find_kernel_specs() else "python3"


def run(name: str, output_dir: str | Path = "reports/notebooks", parameters: dict[str, Any] | None = None,
        root: str | Path = ".", progress: bool = True) -> Path:
    """Execute ``notebooks/<name>.ipynb`` with papermill into ``output_dir/<name>.ipynb``, with
    the working directory at ``root`` so relative paths in params.yaml resolve."""
    import papermill

    choose(name, names(root), "notebook")
    source = Path(root) / NOTEBOOK_DIR / f"{name}.ipynb"
    target = Path(output_dir) / f"{name}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        papermill.execute_notebook(str(source), str(target), parameters=parameters or {}, kernel_name=kernel_name(),
                                   cwd=str(root), progress_bar=progress, log_output=False)
    except papermill.PapermillExecutionError as err:
        raise AadError(f"notebook {name} failed in cell {err.exec_count}: {err.ename}: {err.evalue} "
                       f"(executed copy with the traceback: {target})") from err
    return target


@dataclass
class Context:
    """What every notebook starts from: the typed, checked params, the reports folder, the device,
    the first ``evaluate.samples`` test images (the ones every model was evaluated on) and the
    project root (the working directory once :func:`setup` ran)."""

    params: Params
    out: Path
    device: Any
    x: Any
    y: Any
    root: Path

    def model(self, method: str, seed: int | None = None) -> Any:
        """The trained ``method`` (seed ``analysis.figure_seed`` by default), eval mode."""
        from .pipeline import model_dir
        from .training import load_model

        seed = self.params.analysis.figure_seed if seed is None else seed
        return load_model(self.root / model_dir(method, seed) / "model.pt", self.device)

    def analysis_model(self, name: str) -> Any:
        """A trained method (seed ``analysis.figure_seed``) or ``timm:<name>`` with its pretrained
        ImageNet weights (paper-imagenet's Inception v3 checkpoints; needs the hub once)."""
        if not name.startswith("timm:"):
            return self.model(name)
        from . import models

        return models.create(name, num_classes=1000, in_channels=3, size=299, pretrained=True).to(self.device).eval()

    def has(self, method: str) -> bool:
        """Whether ``dvc repro`` trains ``method`` (in any run group)."""
        return bool(self.params.run.seeds_of(method))


def setup(params_path: str | Path = "params.yaml", overrides: str | Sequence[str] | None = None,
          reports_dir: str | Path | None = None, root: str | Path | None = None) -> Context:
    """Find the project root (:func:`find_root`, or ``root``) and work from it, load and check
    params (with ``overrides``, see :func:`parse_overrides`), pick the device, load the evaluated
    test images. Relative ``params_path`` and ``reports_dir`` are relative to the project root."""
    from . import config, pipeline
    from .runtime import pick_device

    project = find_root(root)
    if Path.cwd().resolve() != project:
        # params.yaml's paths (data, models, reports) are relative to the root, for every caller
        print(f"working directory: {project} (the project root; the notebook was started in {Path.cwd()})")
        os.chdir(project)
    params = config.load_params(project / params_path, parse_overrides(overrides), root=project)
    device = pick_device(params.device)
    test = pipeline.load_split(params, "test")
    x, y = test.tensors(device, params.evaluate.samples or len(test))
    out = project / (reports_dir if reports_dir else params.reports.path)
    run = params.run
    print(f"profile {params.profile!r}: dataset {params.data.name}, model {params.model.name}, "
          f"methods {list(run.methods)} x seeds {list(run.seeds)}, extra {list(run.extra_methods)} x "
          f"seeds {list(run.extra_seeds)}, {x.shape[0]} test images, device {device}")
    return Context(params, out, device, x, y, project)
