from __future__ import annotations

import os
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
