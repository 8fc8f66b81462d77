"""A training run killed with SIGKILL (no cleanup, no atexit) resumes from its last checkpoint and
ends bit-for-bit equal to a run that was never interrupted (CPU)."""
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch

from aad_lib.training import checkpoint

SCRIPT = """
import sys, torch
from aad_lib import data, models
from aad_lib.training import TrainConfig, train
torch.set_num_threads(1)
torch.manual_seed(0)
model = models.create("lenet_small", size=28)
cfg = TrainConfig(method="aalp", epochs=4, batch_size=20, lr=1e-3, attack={"eps": 0.3, "alpha": 0.15, "steps": 2},
                  eps_warmup_epochs=1.0, seed=5)
train(model, data.fake(n=400, shape=(1, 28, 28), seed=2), cfg, sys.argv[1], progress=False,
      model_spec={"name": "lenet_small", "size": 28})
"""


def _start(out):
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
def test_sigkill_mid_training_then_resume_equals_uninterrupted(tmp_path):
    killed = tmp_path / "killed"
    child = _start(killed)
    deadline = time.time() + 120
    while not (killed / "checkpoints" / "epoch_002.json").exists():
        assert child.poll() is None, child.stderr.read().decode()[-2000:]
        assert time.time() < deadline, "no checkpoint within 2 minutes"
        time.sleep(0.05)
    time.sleep(0.3)  # well inside epoch 3
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL
    assert not (killed / "model.pt").exists()
    last = sorted(p.name for p in (killed / "checkpoints").glob("epoch_*.pt"))[-1]
    assert last in ("epoch_002.pt", "epoch_003.pt")

    resumed = _start(killed)
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read().decode()[-2000:]
    clean = _start(tmp_path / "clean")
    assert clean.wait(timeout=300) == 0, clean.stderr.read().decode()[-2000:]

    a, _ = checkpoint.load(killed / "model.pt")
    b, _ = checkpoint.load(tmp_path / "clean" / "model.pt")
    assert a["model"].keys() == b["model"].keys()
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    # the per-epoch log (losses, accuracies) matches too, all but the wall-clock column
    log_a = pd.read_csv(killed / "log.csv").drop(columns="seconds")
    log_b = pd.read_csv(tmp_path / "clean" / "log.csv").drop(columns="seconds")
    assert log_a["epoch"].tolist() == [1, 2, 3, 4] and log_a.equals(log_b)
