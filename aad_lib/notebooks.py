"""Run the numbered notebooks through papermill (the DVC stages, the tests and the CLI use this)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .validation import AadError, choose

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
