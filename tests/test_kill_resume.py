"""A training run killed with SIGKILL (no cleanup, no atexit) resumes from its last checkpoint and
ends bit-for-bit equal to a run that was never interrupted (CPU).

The kill lands at a known point, not after a guessed sleep: the child holds (sleeps) at that point
and writes a marker, and only then does the parent send SIGKILL. Every child reports the epochs it
trained, so a "resume" that quietly retrains from scratch (which also ends equal) fails."""
import json
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
import json, os, re, sys, time, torch
from aad_lib import data, models
from aad_lib.training import TrainConfig, checkpoint, loop, train
torch.set_num_threads(1)
out, hold, marker = sys.argv[1], sys.argv[2], sys.argv[3]
trained = []
real_step, real_json = loop.train_step, checkpoint.atomic_write_json


def wait_for_the_kill(where):
    with open(marker, "w") as fh:
        fh.write(where)
    time.sleep(600)


def step(recipe, batch, optimizer, where="training"):
    epoch = int(re.search(r"epoch (\\d+)", where).group(1))
    if epoch not in trained:
        trained.append(epoch)
    if hold and where.endswith(hold):
        wait_for_the_kill(where)
    return real_step(recipe, batch, optimizer, where=where)


def write_json(path, obj):
    if hold and str(path).endswith(hold):
        wait_for_the_kill(str(path))
    return real_json(path, obj)


loop.train_step, checkpoint.atomic_write_json = step, write_json
torch.manual_seed(0)
model = models.create("lenet_small", size=28)
cfg = TrainConfig(method="aalp", epochs=4, batch_size=20, lr=1e-3, attack={"eps": 0.3, "alpha": 0.15, "steps": 2},
                  eps_warmup_epochs=1.0, seed=5)
train(model, data.fake(n=200, shape=(1, 28, 28), seed=2), cfg, out, progress=False,
      model_spec={"name": "lenet_small", "size": 28})
print(json.dumps({"trained": trained}))
"""
# where the child is killed: in epoch 3 after 5 of its 10 optimiser steps (that progress is lost),
# or after epoch 3's checkpoint payload is written but before its metadata (a torn checkpoint)
HOLDS = {"mid-epoch 3": "epoch 3, batch 5", "torn epoch 3 checkpoint": "epoch_003.json"}


def _start(out, hold="", marker=""):
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(out), hold, str(marker)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(child):
    """Wait for a child that must complete; return the epochs it trained."""
    try:
        out, err = child.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        raise
    assert child.returncode == 0, err[-2000:]
    return json.loads(out.strip().splitlines()[-1])["trained"]


def _files(folder):
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.iterdir()}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("clean")
    assert _finish(_start(out)) == [1, 2, 3, 4]
    return out


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
@pytest.mark.parametrize("where", sorted(HOLDS))
def test_sigkill_mid_training_then_resume_equals_uninterrupted(tmp_path, uninterrupted, where):
    """Catches a resume that drifts from the uninterrupted run after a real SIGKILL (RNG, optimiser
    or scheduler state not restored, a half-finished epoch's progress kept), one that retrains from
    scratch instead (it trains epochs 1-2 again and rewrites their checkpoints), and, for the torn
    checkpoint, one that trusts a payload without metadata or gives up on the earlier checkpoints."""
    killed, marker = tmp_path / "killed", tmp_path / "held"
    child = _start(killed, HOLDS[where], marker)
    deadline = time.time() + 180
    try:
        while not marker.exists():
            assert child.poll() is None, child.stderr.read()[-2000:]
            assert time.time() < deadline, "the child did not reach the kill point within 3 minutes"
            time.sleep(0.05)
    finally:  # the kill, and on a failure above no child left behind
        child.send_signal(signal.SIGKILL)
        child.communicate()
    assert child.returncode == -signal.SIGKILL

    ckpts = killed / "checkpoints"
    torn = ["epoch_003.pt"] if where == "torn epoch 3 checkpoint" else []
    assert sorted(p.name for p in ckpts.glob("epoch_*.pt")) == ["epoch_001.pt", "epoch_002.pt", *torn]
    assert not (ckpts / "epoch_003.json").exists() and not (killed / "model.pt").exists()
    log_at_kill = pd.read_csv(killed / "log.csv")
    assert log_at_kill["epoch"].tolist() == [1, 2]
    kept = {k: v for k, v in _files(ckpts).items() if k.startswith(("epoch_001.", "epoch_002."))}

    assert _finish(_start(killed)) == [3, 4]  # resumed after epoch 2: 1 and 2 are not trained again
    assert {k: v for k, v in _files(ckpts).items() if k in kept} == kept  # ... nor rewritten

    a, _ = checkpoint.load(killed / "model.pt")
    b, _ = checkpoint.load(uninterrupted / "model.pt")
    assert a["model"].keys() == b["model"].keys()
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    # the per-epoch log (losses, accuracies) matches too, all but the wall-clock column, which for
    # epochs 1-2 is still the killed run's own
    log_a = pd.read_csv(killed / "log.csv")
    log_b = pd.read_csv(uninterrupted / "log.csv")
    assert log_a["epoch"].tolist() == [1, 2, 3, 4]
    assert log_a.drop(columns="seconds").equals(log_b.drop(columns="seconds"))
    assert log_a["seconds"][:2].tolist() == log_at_kill["seconds"].tolist()
