"""The same seed and profile give the same bits on CPU: two runs of prepare -> train -> evaluate,
each command a fresh process, write identical metrics, records and model weights."""
import shutil
import sys
import subprocess
from pathlib import Path

import pytest

from .conftest import ROOT

COPY = ["aad_lib", "profiles", "params.yaml", "pyproject.toml"]
OUTPUTS = ["reports/eval/alp-seed0/summary.json", "reports/eval/alp-seed0/records.csv", "models/alp/seed0/model.pt",
           "artifacts/data/prepared.pt"]


def _run(cmd, cwd):
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    assert out.returncode == 0, f"{cmd}:\n{out.stderr[-2000:]}"


def _pipeline(root: Path) -> dict[str, bytes]:
    for name in COPY:
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(ROOT / name, root / name)
    for cmd in (["aad", "data", "fetch", "mnist5k"], ["aad", "profile", "use", "smoke"], ["aad", "data", "prepare"],
                ["aad", "train", "--method", "alp"], ["aad", "evaluate", "--method", "alp"]):
        _run(cmd, root)
    return {name: (root / name).read_bytes() for name in OUTPUTS}


@pytest.mark.slow
def test_same_seed_same_profile_same_bits(tmp_path):
    first = _pipeline(tmp_path / "a")
    second = _pipeline(tmp_path / "b")
    for name in OUTPUTS:
        assert first[name] == second[name], f"{name} differs between two runs with the same seed"


def test_seeding_requests_deterministic_kernels_without_loading_the_compiler():
    """seed_everything sets torch's deterministic-algorithms flag (warn only) as
    torch.use_deterministic_algorithms does, in a fresh process, without importing torch._dynamo
    (3.4 s per process here)."""
    code = ("import sys, torch\nfrom aad_lib.runtime import seed_everything\nseed_everything(0)\n"
            "print(torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),"
            " 'torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["True", "True", "False"]
