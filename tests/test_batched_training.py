"""Batched training: several seeds of one recipe as one stack of models (aad_lib.training.stack,
aad_lib.training.batched) against the same models trained one at a time.

Why not bit for bit: a stacked forward computes all models' convolutions in one grouped call,
whose float rounding differs from a single model's kernels (about 1e-7 relative). One step
therefore agrees to rounding; over many steps PGD's sign() can turn a rounding difference of a
near-zero input gradient into a different pixel, and Adam (which normalises each weight's step)
turns rounding differences of near-zero weight gradients into steps of full size, so whole runs
agree to seed noise, not to rounding. The step tests use SGD, whose steps are proportional to the
gradient, and check Adam's bookkeeping exactly on equal gradients.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from aad_lib import cli, data, models
from aad_lib.training import TrainConfig, checkpoint, loop, make_optimizer, recipes, train, train_stack, train_step
from aad_lib.training.batched import stack_obstacle, use_stack
from aad_lib.training.stack import ModelStack, interleave, optimizer_state, stacked_optimizer_state
from aad_lib.validation import AadError

from .conftest import ROOT
from .test_training import _count_epochs  # the same step counter the one-model resume tests use

ATTACK = {"eps": 0.3, "alpha": 0.1, "steps": 3}
SPEC12 = {"name": "lenet_small", "size": 12}


def _model(seed: int, spec: dict = SPEC12) -> torch.nn.Module:
    torch.manual_seed(seed)
    return models.create(**spec)


def _max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)


# ------------------------------------------------------------------------------------- one step

# tolerance on every weight after 3 SGD steps; TRADES' attack starts where its KL is ~0, so its first
# sign step follows rounding noise on some pixels (measured: 0 pixels differ from equal weights, a few
# after weights differing by 1e-8), hence the looser bound, still 1000x under the distance between seeds
STEP_TOLERANCE = {"standard": 1e-6, "madry": 1e-6, "alp": 1e-6, "aalp": 1e-6, "madry+gd": 1e-6,
                  "standard+flip": 1e-6, "trades": 1e-3}


def _steps(method: str, seeds: tuple[int, int], attack_seeds: tuple[int, int], optimizer: str = "sgd",
           steps: int = 3, options: dict | None = None) -> tuple[ModelStack, list[torch.nn.Module]]:
    """``steps`` steps of a 2-model stack and of the two models alone, each model on its own
    batches (batch k of model j: rows 16*(j+k) mod 64) with its own attack generator."""
    x_all, y_all = data.fake(n=64, shape=(1, 12, 12), seed=1).tensors()
    recipe = recipes.get(method)
    cfg = TrainConfig(method, epochs=1, attack=ATTACK, optimizer=optimizer, lr=0.05 if optimizer == "sgd" else 1e-3,
                      options=options or {})
    alone = [_model(s).train() for s in seeds]
    stack = ModelStack([_model(s) for s in seeds])
    stack_opt, opts = make_optimizer(stack, cfg), [make_optimizer(m, cfg) for m in alone]
    stack_gens = tuple(torch.Generator().manual_seed(s) for s in attack_seeds)
    gens = [torch.Generator().manual_seed(s) for s in attack_seeds]
    for step in range(steps):
        idx = [torch.arange(16) + 16 * ((step + j) % 4) for j in range(2)]
        for m, i, g, o in zip(alone, idx, gens, opts):
            train_step(recipe, recipes.Batch(m, x_all[i], y_all[i], cfg.attack, cfg.options, g), o)
        stack.train()
        batch = recipes.Batch(stack, interleave([x_all[i] for i in idx]), interleave([y_all[i] for i in idx]),
                              cfg.attack, cfg.options, stack_gens)
        out = train_step(recipe, batch, stack_opt)
        assert out.loss.shape == (2,)
    return stack, alone


@pytest.mark.parametrize("method", sorted(STEP_TOLERANCE))
def test_stacked_steps_equal_separate_steps_for_every_weight(method):
    stack, alone = _steps(method, (0, 1), (10, 11))
    for k, model in enumerate(alone):
        assert _max_diff(stack.model_state(k), model.state_dict()) < STEP_TOLERANCE[method], (method, k)
    assert _max_diff(alone[0].state_dict(), alone[1].state_dict()) > 0.1  # the seeds' models are far apart


def test_guided_dropout_with_rescale_and_adam_steps_match():
    """ALP + Guided Dropout with its rescaled mask (a per-model mask, not one over the stack) under
    Adam: every weight within 1e-4 after three steps (Adam amplifies rounding of tiny gradients)."""
    stack, alone = _steps("alp+gd", (0, 1), (10, 11), optimizer="adam", options={"gd_rescale": True})
    for k, model in enumerate(alone):
        assert _max_diff(stack.model_state(k), model.state_dict()) < 1e-4


def test_the_step_comparison_can_fail():
    """Another attack seed for one model (its random starts) moves its weights far beyond the tolerance."""
    stack, _ = _steps("madry", (0, 1), (10, 11))
    _, other = _steps("madry", (0, 1), (10, 99))
    assert _max_diff(stack.model_state(1), other[1].state_dict()) > 1e-4
    assert _max_diff(stack.model_state(0), other[0].state_dict()) < 1e-6


def test_stacked_adam_is_each_models_adam_bit_for_bit():
    """Equal gradients: one Adam over stacked weights and each model's own Adam take the same
    steps, and the state cut out of the stacked optimiser (and stacked back) is each model's own."""
    a, b = _model(0), _model(1)
    stack = ModelStack([a, b])
    cfg = TrainConfig("standard", epochs=1, weight_decay=1e-4)
    stack_opt, opts = make_optimizer(stack, cfg), [make_optimizer(m, cfg) for m in (a, b)]
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        grads = {n: torch.randn(w.shape, generator=g) for n, w in stack.weights.items()}
        for name, w in stack.weights.items():
            w.grad = grads[name].clone()
        for k, m in enumerate((a, b)):
            for name, p in m.named_parameters():
                p.grad = grads[name][k].clone()
        stack_opt.step()
        for o in opts:
            o.step()
    for k, (m, o) in enumerate(zip((a, b), opts)):
        assert all(torch.equal(v, m.state_dict()[n]) for n, v in stack.model_state(k).items())
        own, cut = o.state_dict(), optimizer_state(stack_opt.state_dict(), k)
        assert cut["param_groups"] == own["param_groups"]
        for i in own["state"]:
            assert all(torch.equal(cut["state"][i][n], v) for n, v in own["state"][i].items())
    back = stacked_optimizer_state([o.state_dict() for o in opts])
    assert all(torch.equal(back["state"][0][n], v) for n, v in stack_opt.state_dict()["state"][0].items())


def test_model_stack_refuses_other_architectures_and_wrong_row_counts():
    with pytest.raises(AadError, match="one architecture"):
        ModelStack([_model(0), _model(0, {"name": "lenet", "size": 12})])
    with pytest.raises(AadError, match="at least two"):
        ModelStack([_model(0)])
    with pytest.raises(AadError, match="multiple of 2 rows"):
        ModelStack([_model(0), _model(1)])(torch.rand(3, 1, 12, 12))
    with pytest.raises(AadError, match="one generator per model"):
        recipes.Batch(ModelStack([_model(0), _model(1)]), torch.rand(4, 1, 12, 12), torch.zeros(4, dtype=torch.long),
                      TrainConfig("madry", epochs=1).attack, {}, torch.Generator())


def test_batch_norm_statistics_stay_per_model():
    """A stack of BatchNorm models in train mode: each model's running statistics are those of its own rows."""
    def net(seed):
        torch.manual_seed(seed)
        return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten(),
                                   torch.nn.Linear(4 * 10 * 10, 3)).train()
    a, b = net(0), net(1)
    stack = ModelStack([a, b]).train()
    xa, xb = torch.rand(6, 1, 12, 12), torch.rand(6, 1, 12, 12) * 0.5
    out = stack(interleave([xa, xb]))
    assert torch.allclose(out, interleave([a(xa), b(xb)]), atol=1e-5)
    for k, m in enumerate((a, b)):
        state = stack.model_state(k)
        assert torch.allclose(state["1.running_mean"], m.state_dict()["1.running_mean"], atol=1e-6)
    assert not torch.allclose(stack.model_state(0)["1.running_mean"], stack.model_state(1)["1.running_mean"])


# ------------------------------------------------------------------------------------- whole runs

def _digits(n: int) -> tuple[data.ImageTensorDataset, data.ImageTensorDataset]:
    root = ROOT / "data"
    if not (root / "mnist5k" / "images.npy").exists():
        data.fetch("mnist5k", root)
    full = data.load("mnist5k", root, "train")
    return data.ImageTensorDataset(full.images[:n], full.labels[:n], "mnist5k", "train"), data.load("mnist5k", root, "test")


def test_batched_run_writes_each_models_files_within_seed_noise_of_separate_runs(tmp_path):
    """2 seeds x 2 epochs of Madry training (eps warm-up, monitor) on 200 digits: each model's
    checkpoints, model.pt (with its separate run's fingerprint) and log; logged losses within 0.5%,
    every weight within 0.05 (seeds differ by > 0.1), the schedule columns equal."""
    train_set, test_set = _digits(200)
    spec = {"name": "lenet_small", "in_channels": 1, "size": 28}
    cfgs = [TrainConfig("madry", epochs=2, batch_size=50, attack={"eps": 0.3, "alpha": 0.15, "steps": 2}, seed=s,
                        eps_warmup_epochs=1.0, monitor_samples=50, monitor_steps=2) for s in (0, 1)]
    alone = [_model(c.seed, spec) for c in cfgs]
    logs = [train(m, train_set, c, tmp_path / f"alone{c.seed}", model_spec=spec, test_set=test_set, progress=False)
            for m, c in zip(alone, cfgs)]
    stacked = [_model(c.seed, spec) for c in cfgs]
    stacked_logs = train_stack(stacked, train_set, cfgs, [tmp_path / f"seed{c.seed}" for c in cfgs], model_spec=spec,
                               test_set=test_set, progress=False, log_paths=[tmp_path / f"m-seed{c.seed}.csv" for c in cfgs])
    for k, c in enumerate(cfgs):
        out = tmp_path / f"seed{c.seed}"
        assert sorted(p.name for p in (out / "checkpoints").glob("*.pt")) == ["epoch_001.pt", "epoch_002.pt"]
        assert (tmp_path / f"m-seed{c.seed}.csv").read_text().count("\n") == 3
        meta = checkpoint.read_meta(out / "model.pt")
        assert meta["fingerprint"] == checkpoint.read_meta(tmp_path / f"alone{c.seed}" / "model.pt")["fingerprint"]
        assert not stacked[k].training
        assert _max_diff(stacked[k].state_dict(), alone[k].state_dict()) < 0.05
        for row, want in zip(stacked_logs[k], logs[k]):
            assert (row["epoch"], row["eps"], row["lr"]) == (want["epoch"], want["eps"], want["lr"])
            assert row["loss"] == pytest.approx(want["loss"], rel=5e-3)
            assert abs(row["test_clean_acc"] - want["test_clean_acc"]) <= 0.1
        payload, _ = checkpoint.load(out / "checkpoints" / "epoch_002.pt")
        assert all(torch.equal(v, stacked[k].state_dict()[n]) for n, v in payload["model"].items())
        assert payload["optimizer"]["state"][0]["exp_avg"].shape == stacked[k].state_dict()["body.conv.0.weight"].shape
    assert _max_diff(alone[0].state_dict(), alone[1].state_dict()) > 0.1


def _tiny_stack(tmp_path: Path, name: str, epochs: int = 3, lr: float = 1e-3) -> tuple[list, list]:
    train_set = data.fake(n=60, shape=(1, 12, 12), seed=1)
    cfgs = [TrainConfig("aalp", epochs=epochs, batch_size=20, lr=lr, attack={"eps": 0.2, "alpha": 0.1, "steps": 2},
                        seed=s, lr_milestones=[2], lr_gamma=0.1) for s in (3, 4)]
    built = [_model(c.seed) for c in cfgs]
    logs = train_stack(built, train_set, cfgs, [tmp_path / name / f"seed{c.seed}" for c in cfgs], model_spec=SPEC12,
                       progress=False)
    return built, logs


class _Crash(Exception):
    """A training process dying mid-run."""


def test_interrupted_batched_run_resumes_each_model_and_ends_as_uninterrupted(tmp_path, monkeypatch):
    """The stack dies in epoch 2 (after epoch 1's checkpoints); the rerun resumes both models from
    epoch 1 (optimiser and lr schedule too: the lr drops after epoch 2) and ends bit for bit equal
    to the uninterrupted stacked run (the stacked path is deterministic on the CPU)."""
    whole, whole_logs = _tiny_stack(tmp_path, "whole")
    real = loop.train_step

    def crash(recipe, batch, optimizer, where="training"):
        if "epoch 2," in where:
            raise _Crash(where)
        return real(recipe, batch, optimizer, where=where)

    monkeypatch.setattr(loop, "train_step", crash)
    with pytest.raises(_Crash, match="seeds 3,4 epoch 2, batch 0"):
        _tiny_stack(tmp_path, "cut")
    assert not (tmp_path / "cut" / "seed3" / "model.pt").exists()
    monkeypatch.setattr(loop, "train_step", real)
    trained = _count_epochs(monkeypatch)
    again, logs = _tiny_stack(tmp_path, "cut")
    assert trained == [2, 3]
    for k in range(2):
        assert _max_diff(again[k].state_dict(), whole[k].state_dict()) == 0
        assert [r["loss"] for r in logs[k]] == [r["loss"] for r in whole_logs[k]]
        assert [r["lr"] for r in logs[k]] == pytest.approx([1e-3, 1e-4, 1e-4])


def test_a_model_whose_config_changed_is_not_resumed(tmp_path, monkeypatch):
    """After a finished stacked run, seed 4's folder is replaced by a finished run of another
    learning rate. Rerun: seed 3 is finished and trains nothing; seed 4 starts afresh (not from its
    old weights), alone at its epoch, so as its separate run, bit for bit."""
    whole, _ = _tiny_stack(tmp_path, "run", epochs=2)
    shutil.rmtree(tmp_path / "run" / "seed4")
    train_set = data.fake(n=60, shape=(1, 12, 12), seed=1)
    other = TrainConfig("aalp", epochs=2, batch_size=20, lr=3e-3, attack={"eps": 0.2, "alpha": 0.1, "steps": 2},
                        seed=4, lr_milestones=[2], lr_gamma=0.1)
    train(_model(4), train_set, other, tmp_path / "run" / "seed4", model_spec=SPEC12, progress=False)
    separate = _model(4)
    train(separate, train_set, TrainConfig(**{**other.__dict__, "lr": 1e-3}), tmp_path / "separate",
          model_spec=SPEC12, progress=False)
    trained = _count_epochs(monkeypatch)
    again, _ = _tiny_stack(tmp_path, "run", epochs=2)
    assert trained == [1, 2]
    assert _max_diff(again[0].state_dict(), whole[0].state_dict()) == 0
    assert _max_diff(again[1].state_dict(), separate.state_dict()) == 0


def test_unstackable_recipe_or_model_trains_one_after_another_with_a_notice(tmp_path, capsys):
    """ARP's Grad-CAM and a model that draws random numbers in its forward pass cannot be stacked:
    the seeds train one at a time in the process (the separate runs' bits), after one line on stderr."""
    x = torch.rand(2, 1, 12, 12)
    assert "Grad-CAM" in stack_obstacle(recipes.get("arp"), [_model(0), _model(1)], x)
    assert stack_obstacle(recipes.get("aalp"), [_model(0), _model(1)], x) == ""

    def noisy(seed):
        torch.manual_seed(seed)
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Dropout(0.5), torch.nn.Linear(144, 10))
    train_set = data.fake(n=20, shape=(1, 12, 12), seed=1)
    cfgs = [TrainConfig("standard", epochs=1, batch_size=10, seed=s) for s in (0, 1)]
    built = [noisy(c.seed) for c in cfgs]
    train_stack(built, train_set, cfgs, [tmp_path / f"s{c.seed}" for c in cfgs], progress=False)
    assert "cannot train seeds 0,1 as one stack (its model cannot be called with stacked weights" in capsys.readouterr().err
    alone = noisy(1)
    train(alone, train_set, cfgs[1], tmp_path / "alone", progress=False)
    assert _max_diff(built[1].state_dict(), alone.state_dict()) == 0


def test_stack_settings_are_checked():
    train_set = data.fake(n=20, shape=(1, 12, 12), seed=1)
    same = [TrainConfig("madry", epochs=1, seed=0), TrainConfig("madry", epochs=1, seed=0)]
    with pytest.raises(AadError, match="distinct seeds"):
        train_stack([_model(0), _model(0)], train_set, same, ["a", "b"], progress=False)
    other = [TrainConfig("madry", epochs=1, seed=0), TrainConfig("madry", epochs=2, seed=1)]
    with pytest.raises(AadError, match="every training setting but the seed"):
        train_stack([_model(0), _model(1)], train_set, other, ["a", "b"], progress=False)


def test_stacking_pays_on_cuda_only_unless_forced():
    assert (use_stack("auto", "cpu"), use_stack("auto", "cuda"), use_stack("on", "cpu"), use_stack("off", "cuda")) == \
        (False, True, True, False)
    with pytest.raises(AadError, match="batched training mode"):
        use_stack("yes", "cpu")


# ------------------------------------------------------------------------------------------- CLI

@pytest.mark.parametrize("argv, message", [
    (["--seed", "0", "--seeds", "0,1"], "not both"),
    (["--seeds", "0,1,0"], "names seed 0 more than once"),
    (["--seeds", "0,one"], "'one' is not"),
    (["--seeds", "0,-1"], "'-1' is not"),
    (["--seeds", "0,,1"], "comma-separated integers"),
    (["--seeds", ""], "comma-separated integers"),
    (["--seed", "1", "--batched", "on"], "with one --seed there is one model"),
])
def test_seeds_option_errors_are_clear(argv, message, capsys):
    assert cli.main(["train", "--method", "madry", *argv]) == 2
    assert message in capsys.readouterr().err


def test_parse_seeds():
    assert cli.parse_seeds("0,1,2") == [0, 1, 2] and cli.parse_seeds(" 5 , 3") == [5, 3] and cli.parse_seeds("7") == [7]


def test_aad_train_seeds_stacked_equals_seeds_one_by_one_and_seed_resumes_it(tmp_path, monkeypatch, capsys):
    """`aad train --seeds 0,1 --batched on` and `--batched off` in two copies of the project: the
    same files per seed, weights within seed noise; `--seed 1` afterwards finds the stacked run
    finished (same fingerprint) and trains nothing."""
    sets = ["data.train_subset=100", "data.test_subset=20", "train.epochs=1", "train.attack.steps=1",
            "train.monitor_samples=20", "train.monitor_steps=1", "progress=false"]
    flags = [f for s in sets for f in ("--set", s)]
    _digits(1)  # the bundled digits are in data/
    projects = {}
    for mode in ("on", "off"):
        root = tmp_path / mode
        (root / "profiles").mkdir(parents=True)
        for p in (ROOT / "profiles").glob("*.yaml"):
            shutil.copy(p, root / "profiles")
        shutil.copy(ROOT / "params.yaml", root)
        (root / "data").symlink_to(ROOT / "data")
        monkeypatch.chdir(root)
        assert cli.main(["data", "prepare", *flags]) == 0
        assert cli.main(["train", "--method", "madry", "--seeds", "0,1", "--batched", mode, *flags]) == 0
        projects[mode] = root
    capsys.readouterr()
    for seed in (0, 1):
        on, off = (projects[m] / "models" / "madry" / f"seed{seed}" for m in ("on", "off"))
        assert sorted(p.name for p in on.rglob("*")) == sorted(p.name for p in off.rglob("*"))
        assert (projects["on"] / "reports" / "train" / f"madry-seed{seed}.csv").exists()
        a, b = (checkpoint.load(d / "model.pt") for d in (on, off))
        assert a[1]["fingerprint"] == b[1]["fingerprint"]
        assert _max_diff(a[0]["model"], b[0]["model"]) < 0.05
    trained = _count_epochs(monkeypatch)
    assert cli.main(["train", "--method", "madry", "--seed", "1", *flags]) == 0  # cwd: the "off" copy
    monkeypatch.chdir(projects["on"])
    assert cli.main(["train", "--method", "madry", "--seed", "1", *flags]) == 0
    assert trained == []
