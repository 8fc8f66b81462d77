from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

os.environ.setdefault("MPLBACKEND", "Agg")
# The `aad`, `dvc` and `papermill` commands of this interpreter's environment come first.
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
ROOT = Path(__file__).resolve().parents[1]
# One intra-op thread for the in-process tests (set once here, for the whole session): their tensors
# are tiny, and on a busy 2-core machine two threads spin against each other and make a small
# training run ~20x slower. Stage and notebook subprocesses choose their own threads.
torch.set_num_threads(1)


@pytest.fixture
def tiny_model() -> torch.nn.Module:
    """The CPU-profile LeNet with fixed random weights, in eval mode."""
    from aad_lib import models

    torch.manual_seed(0)
    return models.for_dataset("lenet_small", "mnist5k").eval()


@pytest.fixture
def digits() -> tuple[torch.Tensor, torch.Tensor]:
    """32 real test digits from the bundled MNIST-5k (fetched offline if needed)."""
    from aad_lib import data

    root = ROOT / "data"
    if not (root / "mnist5k" / "images.npy").exists():
        data.fetch("mnist5k", root)
    return data.load("mnist5k", root, "test").tensors(n=32)


# What the end-to-end tests copy into a fresh project: the tracked inputs of `dvc repro`.
PROJECT_FILES = ["aad_lib", "docs", "notebooks", "profiles", "dvc.yaml", "params.yaml", "data.dvc", ".dvc/config",
                 ".dvc/.gitignore", ".dvc/plots", ".dvcignore", ".gitignore", "pyproject.toml"]


def run_command(cmd: list[str], cwd: Path, check: bool = True, env: dict[str, str] | None = None
                ) -> subprocess.CompletedProcess:
    """Run ``cmd`` in ``cwd``; with ``check`` a failure raises with the tail of both streams."""
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    if check and out.returncode:
        raise AssertionError(f"{cmd} failed ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return out


@pytest.fixture(scope="session")
def smoke_project(tmp_path_factory) -> Path:
    """A copy of the project that ran the whole smoke pipeline (`dvc repro`, every notebook through
    papermill) once for the session, with every process's aad_lib imports logged under
    ``<project>.imports/`` (aad_lib.import_log) for the stage-dependency test."""
    root = tmp_path_factory.mktemp("project")
    for name in PROJECT_FILES:
        src, dst = ROOT / name, root / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
    env = {**os.environ, "AAD_IMPORT_LOG": str(import_log_dir(root)),
           # the copied aad_lib, not the installed one, is the code under test
           "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    run_command(["git", "init", "-q"], root)
    run_command(["aad", "data", "fetch", "mnist5k"], root)
    run_command(["dvc", "commit", "--force", "--quiet", "data.dvc"], root)  # as `make data`: the digits in DVC's cache
    run_command(["aad", "profile", "use", "smoke"], root)
    run_command(["dvc", "repro"], root, env=env)
    return root


def import_log_dir(project: Path) -> Path:
    """Where the smoke pipeline's processes logged their imports (outside the project: DVC never sees it)."""
    return project.parent / f"{project.name}.imports"
