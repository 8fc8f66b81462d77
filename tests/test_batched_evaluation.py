"""Batched evaluation: several models' robustness tables as one stack of models
(aad_lib.evaluation.evaluate_models, `aad evaluate --seeds`) against each model evaluated alone.

Why not bit for bit: the stacked forward rounds differently from a single model's (about 1e-7
relative; tests/test_batched_training.py), and PGD's sign() can turn a rounding difference of a
near-zero input gradient into another pixel, so a trajectory may part from the separate one by a
pixel step. The records' verdicts (correct or not) agree on these models; their confidences and
logit distances agree to the tolerances below.
"""
from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
import torch

from aad_lib import cli, data
from aad_lib.attacks import pgd
from aad_lib.eval_config import EvalConfig
from aad_lib.evaluation import evaluate, evaluate_models
from aad_lib.training.stack import ModelStack
from aad_lib.validation import AadError

from .conftest import ROOT

VERDICT_COLUMNS = ["Clean", "FGSM", "PGD-2", "PGD-5", "CW-3"]


def _trained_linear(seed: int, x: torch.Tensor, y: torch.Tensor) -> torch.nn.Module:
    """A linear digit classifier, 60 SGD steps on ``x``: right on most digits, broken by a small eps."""
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(x[0].numel(), 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(60):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    opt.zero_grad()  # no gradient left on the weights (the tests check that evaluation leaves none)
    return model.eval()


@pytest.fixture
def three_models(digits):
    x, y = digits
    return [_trained_linear(seed, x, y) for seed in (0, 1, 2)], x, y


def _assert_same_records(alone: pd.DataFrame, stacked: pd.DataFrame) -> None:
    assert list(alone.columns) == list(stacked.columns)
    assert alone["index"].tolist() == stacked["index"].tolist() and alone["label"].tolist() == stacked["label"].tolist()
    for column in VERDICT_COLUMNS:
        assert alone[column].tolist() == stacked[column].tolist(), column
    for column in alone.columns:
        if column == "confidence" or column.startswith("conf:"):
            assert (alone[column] - stacked[column]).abs().max() < 1e-4, column
        elif column.startswith("pair:"):
            assert ((alone[column] - stacked[column]).abs() / (1 + alone[column].abs())).max() < 1e-4, column


@pytest.mark.parametrize("stop_when_fooled", [True, False])
def test_stacked_evaluation_gives_each_models_own_records(three_models, stop_when_fooled):
    """Three models evaluated as one stack, 32 digits in batches of 12 (a partial last batch): each
    model's records equal its own `evaluate` call's, with AutoAttack's stopping convention and
    without; the attacks break some digits and not others, so the comparison means something."""
    models, x, y = three_models
    cfg = EvalConfig(eps=0.15, alpha=0.06, pgd_steps=[2, 5], cw_steps=[3], batch_size=12, stop_when_fooled=stop_when_fooled)
    stacked = evaluate_models(models, x, y, cfg, progress=False)
    assert len(stacked) == 3
    for model, records in zip(models, stacked):
        alone = evaluate(model, x, y, cfg, progress=False)
        _assert_same_records(alone, records)
        assert 0 < alone["PGD-5"].sum() < alone["Clean"].sum()  # broken on some digits, not all


def test_stacked_evaluation_without_random_start(three_models):
    """No random start: every attack starts at the clean image in the stack as alone."""
    models, x, y = three_models
    cfg = EvalConfig(eps=0.15, alpha=0.06, pgd_steps=[2, 5], cw_steps=[3], batch_size=32, random_start=False)
    for model, records in zip(models, evaluate_models(models, x, y, cfg, progress=False)):
        _assert_same_records(evaluate(model, x, y, cfg, progress=False), records)


def test_models_are_left_as_they_were(three_models):
    """The models' weights, gradients and modes are untouched (the stack holds copies)."""
    models, x, y = three_models
    models[1].train()
    before = [{k: v.clone() for k, v in m.state_dict().items()} for m in models]
    evaluate_models(models, x[:8], y[:8], EvalConfig(eps=0.15, alpha=0.06, pgd_steps=[2], cw_steps=[], batch_size=8),
                    progress=False)
    assert [m.training for m in models] == [False, True, False]
    models[1].eval()
    for model, state in zip(models, before):
        assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
        assert all(p.grad is None for p in model.parameters())


def test_one_model_is_plain_evaluate_and_other_architectures_are_refused(three_models):
    models, x, y = three_models
    cfg = EvalConfig(eps=0.15, alpha=0.06, pgd_steps=[2], cw_steps=[], batch_size=16)
    (only,) = evaluate_models(models[:1], x, y, cfg, progress=False)
    pd.testing.assert_frame_equal(only, evaluate(models[0], x, y, cfg, progress=False))
    other = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(x[0].numel(), 5), torch.nn.Linear(5, 10))
    with pytest.raises(AadError, match="differs from model 0 in its state_dict keys or shapes"):
        evaluate_models([models[0], other], x, y, cfg, progress=False)


class _CountingStack(ModelStack):
    """A stack that records the number of rows of every forward pass."""

    def __init__(self, models):
        super().__init__(models)
        self.rows: list[int] = []

    def forward(self, x):
        self.rows.append(x.shape[0])
        return super().forward(x)


def test_an_attack_never_drops_rows_of_a_stack(three_models):
    """With stopping, a plain model's batch shrinks as images settle (40 rows -> fewer), while a
    stack's rows stay in place (every pass sees all 3 x 40 rows), with the same results."""
    models, x, y = three_models
    xs, ys = torch.cat([x, x[:8]]), torch.cat([y, y[:8]])  # 40 digits: above MIN_ACTIVE, so compaction can happen
    seen = []
    plain = models[0]
    hook = plain.register_forward_hook(lambda module, args, out: seen.append(args[0].shape[0]))
    alone = pgd(plain, xs, ys, 0.15, 0.06, 6, generator=torch.Generator().manual_seed(0), stop_when_fooled=True)
    hook.remove()
    assert min(seen) < 40  # settled digits left the plain batch
    stack = _CountingStack(models)
    rows = xs.repeat_interleave(3, 0)
    start = torch.Generator().manual_seed(0)
    from aad_lib.attacks.starts import ball_start

    shared = ball_start(xs, 0.15, "linf", start).repeat_interleave(3, 0)
    stacked = pgd(stack, rows, ys.repeat_interleave(3, 0), 0.15, 0.06, 6, stop_when_fooled=True, start=shared)
    assert set(stack.rows) == {120}
    assert (stacked[0::3] - alone).abs().max() < 1e-6  # model 0's rows: the plain run's result


def test_aad_evaluate_seeds_stacked_writes_what_one_by_one_writes(tmp_path, monkeypatch, capsys):
    """`aad evaluate --method madry --seeds 0,1 --batched on` writes each seed's records, summary and
    timing where `--seed S` does, with the same verdicts and accuracies; the AutoAttack column still
    runs per model (madry-seed0 is in the profile's list); `--batched off` and the errors."""
    sets = ["data.train_subset=100", "data.test_subset=20", "train.epochs=1", "train.attack.steps=1",
            "train.monitor_samples=20", "train.monitor_steps=1", "progress=false", "evaluate.samples=20",
            "evaluate.batch_size=8", "evaluate.pgd_steps=[2,40]", "evaluate.cw_steps=[40]",
            "evaluate.autoattack.samples=4"]
    flags = [f for s in sets for f in ("--set", s)]
    (tmp_path / "profiles").mkdir()
    for p in (ROOT / "profiles").glob("*.yaml"):
        shutil.copy(p, tmp_path / "profiles")
    shutil.copy(ROOT / "params.yaml", tmp_path)
    if not (ROOT / "data" / "mnist5k" / "images.npy").exists():
        data.fetch("mnist5k", ROOT / "data")
    (tmp_path / "data").symlink_to(ROOT / "data")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["data", "prepare", *flags]) == 0
    assert cli.main(["train", "--method", "madry", "--seeds", "0,1", "--batched", "off", *flags]) == 0
    assert cli.main(["evaluate", "--method", "madry", "--seeds", "0,1", "--batched", "on", *flags]) == 0
    stacked = {s: tmp_path / "reports" / "eval" / f"madry-seed{s}" for s in (0, 1)}
    kept = {s: tmp_path / f"stacked-seed{s}" for s in (0, 1)}
    for s in (0, 1):
        shutil.copytree(stacked[s], kept[s])
    capsys.readouterr()
    assert cli.main(["evaluate", "--method", "madry", "--seeds", "0,1", "--batched", "off", *flags]) == 0
    for s in (0, 1):
        alone, together = (pd.read_csv(d / "records.csv") for d in (stacked[s], kept[s]))
        assert list(alone.columns) == list(together.columns)
        verdicts = ["Clean", "FGSM", "PGD-2", "PGD-40", "CW-40"]
        assert alone[verdicts].equals(together[verdicts])
        summaries = [json.loads((d / "summary.json").read_text()) for d in (stacked[s], kept[s])]
        assert summaries[0] == summaries[1]
        timing = json.loads((kept[s] / "timing.json").read_text())
        assert timing["stacked_models"] == 2 and timing["stack_seconds"] >= timing["seconds"]
    assert "AutoAttack" in pd.read_csv(kept[0] / "records.csv").columns
    assert "AutoAttack" not in pd.read_csv(kept[1] / "records.csv").columns
    for argv, message in [(["--seeds", "0,1", "--seed", "0"], "give --seed S"),
                          (["--seed", "0", "--batched", "on"], "with one --seed there is one model"),
                          (["--seeds", "0,0"], "more than once")]:
        assert cli.main(["evaluate", "--method", "madry", *argv, *flags]) == 2
        assert message in capsys.readouterr().err
    assert cli.main(["evaluate", "--checkpoint", "models/madry/seed0/model.pt", "--seeds", "0,1", *flags]) == 2
    assert "--checkpoint or --model/--weights evaluates one model" in capsys.readouterr().err
