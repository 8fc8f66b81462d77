"""Run the numbered notebooks through papermill (the DVC stages, the tests and the CLI use this)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .validation import AadError, choose

if TYPE_CHECKING:
    from .params import Params

NOTEBOOK_DIR = Path("notebooks")


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
    """What every notebook starts from: the typed, checked params, the reports folder, the device
    and the first ``evaluate.samples`` test images (the ones every model was evaluated on)."""

    params: Params
    out: Path
    device: Any
    x: Any
    y: Any

    def model(self, method: str, seed: int | None = None) -> Any:
        """The trained ``method`` (seed ``analysis.figure_seed`` by default), eval mode."""
        from .pipeline import model_dir
        from .training import load_model

        seed = self.params.analysis.figure_seed if seed is None else seed
        return load_model(model_dir(method, seed) / "model.pt", self.device)

    def analysis_model(self, name: str) -> Any:
        """A trained method (seed ``analysis.figure_seed``) or ``timm:<name>`` with its pretrained
        ImageNet weights (the paper profile's Inception v3 checkpoints; needs the hub once)."""
        if not name.startswith("timm:"):
            return self.model(name)
        from . import models

        return models.create(name, num_classes=1000, in_channels=3, size=299, pretrained=True).to(self.device).eval()

    def has(self, method: str) -> bool:
        """Whether ``dvc repro`` trains ``method`` (in any run group)."""
        return bool(self.params.run.seeds_of(method))


def setup(params_path: str = "params.yaml", overrides: list[str] | None = None, reports_dir: str | None = None) -> Context:
    """Load and check params (with ``overrides``), pick the device, load the evaluated test images."""
    from . import config, pipeline
    from .runtime import pick_device

    params = config.load_params(params_path, overrides)
    device = pick_device(params.device)
    test = pipeline.load_split(params, "test")
    x, y = test.tensors(device, params.evaluate.samples or len(test))
    out = Path(reports_dir) if reports_dir else params.reports.path
    run = params.run
    print(f"profile {params.profile!r}: dataset {params.data.name}, model {params.model.name}, "
          f"methods {list(run.methods)} x seeds {list(run.seeds)}, extra {list(run.extra_methods)} x "
          f"seeds {list(run.extra_seeds)}, {x.shape[0]} test images, device {device}")
    return Context(params, out, device, x, y)
