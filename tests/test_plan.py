"""`aad plan`: the projected cost of `dvc repro` (aad_lib.plan): its arithmetic by hand, and one real
projection of the smoke profile on this CPU."""
from __future__ import annotations

import math

import pytest
import torch

from aad_lib import config, plan
from aad_lib.params import parse
from aad_lib.validation import AadError

from .conftest import ROOT


def _params(profile: str = "smoke", **over):
    raw = config.resolve_profile(profile, ROOT)
    for key, value in over.items():
        raw = config.apply_override(raw, f"{key}={value}")
    return parse(raw)


def test_the_projection_is_steps_times_the_timed_step(monkeypatch):
    """Hand-computed: a training step costs 0.1 s, an attack step 0.01 s; the smoke profile trains
    on mnist5k's 4,000 digits (train_subset 500 -> 500) at batch 50."""
    params = _params(**{"run.methods": "[standard,madry]", "run.seeds": "[0,1]", "run.extra_methods": "[]",
                        "run.attention_methods": "[]", "methods.standard": "{epochs: 3}"})
    monkeypatch.setattr(plan, "train_step_seconds", lambda *a, **k: 0.1)
    monkeypatch.setattr(plan, "attack_step_seconds", lambda *a, **k: 0.01)
    rows, device = plan.project(params, progress=False)
    by = {r.group: r for r in rows}
    assert plan.split_sizes(params) == (500, 100)
    steps_per_epoch = math.ceil(500 / 50)
    # monitor: 50 images at once (batch min(500, 50)), monitor_steps 2 + 1 clean pass, every epoch
    monitor = math.ceil(50 / 50) * (2 + 1) * 0.01
    standard = 3 * (steps_per_epoch * 0.1 + monitor)
    madry = 2 * (steps_per_epoch * 0.1 + monitor)
    assert by["train"].stages == 4 and by["train"].seconds == pytest.approx(2 * standard + 2 * madry)
    # evaluate: 100 images in one batch, 1 (FGSM) + 5 (PGD) + 5 (CW) steps, four models
    assert by["evaluate"].stages == 4 and by["evaluate"].seconds == pytest.approx(4 * 11 * 0.01)
    assert by["train_extra"].seconds == 0.0 and by["train_comdefend"].seconds is None
    assert by["train_comdefend"].stages == 2  # two variants x the smoke profile's one seed
    assert {r.group: r for r in plan.project(_params("default"), progress=False)[0]}["train_comdefend"].stages == 6
    table = plan.plan_table(rows)
    assert table.iloc[-1]["projected minutes"] == pytest.approx(round((2 * standard + 2 * madry + 0.44) / 60, 1))
    assert "CPU" in device


def test_a_real_projection_of_the_smoke_profile_times_every_recipe(capsys):
    params = _params(**{"run.extra_methods": "[standard+gd]", "run.attention_methods": "[arp]"})
    rows, device = plan.project(params, repeats=1, progress=True)
    timed = capsys.readouterr().out
    for method in ("standard", "madry", "alp", "trades", "alp+gd", "alp+aw", "aalp", "standard+gd", "arp"):
        assert f"timing a training step of {method} ..." in timed
    by = {r.group: r for r in rows}
    assert by["train"].stages == 7 and by["train"].seconds > 0
    assert by["train_attention"].stages == 1 and "arp" in by["train_attention"].basis
    assert by["evaluate"].stages == 9 and by["evaluate"].seconds > 0


def test_a_dataset_with_no_known_size_and_no_prepared_split_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = _params(**{"data.name": "npz:data/x.npz"})
    with pytest.raises(AadError, match=r"not found and 'npz:data/x.npz' has no published size.*aad data prepare"):
        plan.split_sizes(params)


def test_a_paper_profile_plans_without_its_data(tmp_path, monkeypatch):
    """paper-cifar10's data is not here (no network): the plan uses CIFAR-10's published split."""
    monkeypatch.chdir(tmp_path)
    assert plan.split_sizes(_params("paper-cifar10")) == (50000, 10000)


def test_another_datasets_prepared_split_is_not_taken_for_this_ones(tmp_path, monkeypatch):
    """The project's prepared split is the default profile's mnist5k (4,000 / 1,000); planning
    paper-mnist (full MNIST) must use MNIST's 60,000 / 10,000, not the split that happens to be there."""
    from aad_lib.training import checkpoint

    monkeypatch.chdir(tmp_path)
    prepared = tmp_path / "artifacts" / "data" / "prepared.pt"
    prepared.parent.mkdir(parents=True)
    x, y = torch.zeros(20, 1, 28, 28, dtype=torch.uint8), torch.arange(20) % 10
    checkpoint.save(prepared, {"train_images": x, "train_labels": y, "test_images": x[:10], "test_labels": y[:10]},
                    {"kind": "prepared-data", "dataset": "mnist5k"})
    assert plan.split_sizes(_params("paper-mnist")) == (60000, 10000)
    assert plan.split_sizes(_params("default", **{"data.name": "mnist5k"})) == (20, 10)  # its own split counts
