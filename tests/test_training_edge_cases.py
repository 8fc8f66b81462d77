"""Edges of the training modules (``aad_lib.training.{batched,runs,stack,loop,recipes}``) that
mutation testing found unguarded: the stack probe's report and its probe rows, how ``train_stack``
hands back logs and log paths and sizes the stacked monitor, each output's rows per model, what a
model's run writes and deletes (``model.json``, the CSV log), where the attack randomness comes
from, the per-epoch line, the optimiser step's treatment of weights the loss does not reach, and
two checks that only a CUDA machine can run (skipped elsewhere)."""
from __future__ import annotations

import csv

import pytest
import torch
from torch import nn

from aad_lib import data
from aad_lib.runtime import derive_seed, generator
from aad_lib.training import checkpoint, loop, make_optimizer, recipes, runs, train, train_stack, train_step
from aad_lib.training.batched import stack_obstacle
from aad_lib.training.stack import ModelStack
from aad_lib.validation import AadError

from .test_batched_training import _model as _net
from .test_training import SPEC, _assert_same_rows, _assert_same_weights, _cfg, _count_epochs, _model

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def _tiny_set(n: int = 8, seed: int = 1) -> data.ImageTensorDataset:
    return data.fake(n=n, shape=(1, 12, 12), seed=seed)


def _tiny_cfg(seed: int = 3, epochs: int = 1, **kw):
    """RAW training (no attack to compute), 12 x 12 images in batches of 4."""
    return _cfg("standard", epochs=epochs, batch_size=4, seed=seed, **kw)


# ------------------------------------------------------------------------ the stack probe

class _FailsWhenCalled(nn.Module):
    """A model with one weight whose forward pass raises ``err`` (a model the stack cannot call)."""

    def __init__(self, err: Exception):
        super().__init__()
        self.lin = nn.Linear(4, 2)
        self.err = err

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise self.err


PREFIX = "its model cannot be called with stacked weights"


@pytest.mark.parametrize("err, expected", [
    (ValueError(""), f"{PREFIX} (ValueError: )"),
    (AssertionError(), f"{PREFIX} (AssertionError: )"),
    (ValueError("  \n  "), f"{PREFIX} (ValueError: )"),
    (RuntimeError("the first line\nthe second line"), f"{PREFIX} (RuntimeError: the first line)"),
    (TypeError("\n  indented line\nmore"), f"{PREFIX} (TypeError: indented line)"),
    (ValueError("x" * 200 + "\nmore"), f"{PREFIX} (ValueError: {'x' * 160})"),
], ids=["empty", "bare-assert", "blank", "two-lines", "indented", "long"])
def test_stack_obstacle_reports_the_probe_errors_first_line_cut_to_160_characters(err, expected):
    """A model whose stacked call fails is reported as ``its model cannot be called with stacked
    weights (<type>: <the first line of the stripped message, at most 160 characters>)``; an error
    without a message (a bare ``assert``) gives an empty text there instead of failing itself."""
    models = [_FailsWhenCalled(err), _FailsWhenCalled(err)]
    assert stack_obstacle(recipes.get("standard"), models, torch.rand(2, 1, 2, 2)) == expected


@pytest.mark.parametrize("method", ["standard", "aalp"])
def test_stack_obstacle_accepts_more_than_two_probe_images(method):
    """``stack_obstacle`` takes at least two images (N >= 2): a stackable model and recipe probed
    with 5 images (the Guided Dropout recipe also through ``penultimate`` + ``head``) has no obstacle."""
    assert stack_obstacle(recipes.get(method), [_net(0), _net(1)], torch.rand(5, 1, 12, 12)) == ""


def test_a_recipe_registered_without_a_stack_obstacle_can_train_a_stack(monkeypatch):
    """``@recipe`` without ``stack_obstacle`` registers a recipe whose obstacle is empty, so
    ``stack_obstacle`` lets a stackable model train with it as one stack."""
    monkeypatch.setattr(recipes, "RECIPES", {})
    recipes.recipe("probe-stackable", needs_attack=False)(recipes.standard)
    probe = recipes.get("probe-stackable")
    assert probe.stack_obstacle == ""
    assert stack_obstacle(probe, [_net(0), _net(1)], torch.rand(2, 1, 12, 12)) == ""


def test_model_stack_error_names_the_index_of_the_odd_model():
    """A stack of models of different architectures names the first odd model by its index in
    the list: index 1 of [small, big], index 2 of [small, small, big]."""
    big = {"name": "lenet", "size": 12}
    with pytest.raises(AadError, match=r"^model 1 of the stack differs from model 0"):
        ModelStack([_net(0), _net(0, big)])
    with pytest.raises(AadError, match=r"^model 2 of the stack differs from model 0"):
        ModelStack([_net(0), _net(1), _net(0, big)])


# ------------------------------------------------------------------------ train_stack

def test_a_model_alone_at_its_epoch_returns_and_writes_its_separate_runs_log(tmp_path):
    """Seed 3 has finished, seed 4 starts afresh: seed 4 trains alone, as its separate run, and
    ``train_stack`` returns (and writes to its ``log.csv``) that run's one-epoch log, while seed
    3's finished log comes back unchanged."""
    train_set, cfgs = _tiny_set(), [_tiny_cfg(seed) for seed in (3, 4)]
    finished = train(_net(3), train_set, cfgs[0], tmp_path / "seed3", model_spec=SPEC, progress=False)
    separate = train(_net(4), train_set, cfgs[1], tmp_path / "separate", model_spec=SPEC, progress=False)
    logs = train_stack([_net(3), _net(4)], train_set, cfgs, [tmp_path / "seed3", tmp_path / "seed4"],
                       model_spec=SPEC, progress=False)
    _assert_same_rows(logs[0], finished, ignore=())
    _assert_same_rows(logs[1], separate)
    with open(tmp_path / "seed4" / "log.csv", newline="") as f:
        assert [row["epoch"] for row in csv.DictReader(f)] == ["1"]


def test_models_trained_one_after_another_write_their_logs_at_log_paths(tmp_path):
    """Where the models do not train as one stack (here: a single model), each model's log is
    written at its ``log_paths`` entry and no ``log.csv`` appears in its folder."""
    log_path = tmp_path / "seed3.csv"
    logs = train_stack([_net(3)], _tiny_set(), [_tiny_cfg(3, epochs=2)], [tmp_path / "run"],
                       progress=False, log_paths=[log_path])
    assert not (tmp_path / "run" / "log.csv").exists()
    with open(log_path, newline="") as f:
        assert [row["epoch"] for row in csv.DictReader(f)] == ["1", "2"] == [str(r["epoch"]) for r in logs[0]]


def test_the_stacked_monitor_sees_the_first_monitor_samples_test_images(tmp_path, monkeypatch, capsys):
    """In a stacked run each model's end-of-epoch monitor measures the first ``monitor_samples``
    (4) images of a 10-image test set, as the separate run's monitor does."""
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    real = runs.monitor

    def spy(model, x, y, cfg):
        seen.append((x.clone(), y.clone()))
        return real(model, x, y, cfg)

    monkeypatch.setattr(runs, "monitor", spy)
    test_set = _tiny_set(n=10, seed=2)
    cfgs = [_tiny_cfg(seed, monitor_samples=4, monitor_steps=1) for seed in (3, 4)]
    logs = train_stack([_net(3), _net(4)], _tiny_set(), cfgs, [tmp_path / "s3", tmp_path / "s4"],
                       test_set=test_set, progress=False)
    assert "one after another" not in capsys.readouterr().err  # the stacked path ran
    x4, y4 = test_set.tensors(n=4)
    assert len(seen) == 2 and all(torch.equal(x, x4) and torch.equal(y, y4) for x, y in seen)
    assert all("test_adv_acc" in log[0] for log in logs)


# ------------------------------------------------------------------------ recipes

def test_unknown_recipe_error_names_what_is_unknown():
    """``recipes.get`` of an unknown name says it is an unknown training method and suggests the
    closest one."""
    with pytest.raises(AadError, match=r"^unknown training method 'madri'\. Did you mean 'madry'\?"):
        recipes.get("madri")


def test_step_output_per_model_gives_each_model_its_own_predictions():
    """``StepOutput.per_model(2)`` of interleaved rows gives model k its loss, parts and every
    k-th row of the clean and adversarial predictions (rows 0, 2 for model 0; 1, 3 for model 1)."""
    out = recipes.StepOutput(torch.tensor([1.5, 2.5]), {"ce": [0.5, 0.7]}, clean_pred=torch.tensor([0, 10, 1, 11]),
                             adv_pred=torch.tensor([5, 15, 6, 16]))
    first, second = out.per_model(2)
    assert (first.loss.item(), first.parts, first.clean_pred.tolist(), first.adv_pred.tolist()) == \
        (1.5, {"ce": 0.5}, [0, 1], [5, 6])
    assert (second.loss.item(), second.parts, second.clean_pred.tolist(), second.adv_pred.tolist()) == \
        (2.5, {"ce": 0.7}, [10, 11], [15, 16])


# ------------------------------------------------------------------------ runs: randomness, metadata, files

def test_attack_randomness_is_derived_from_the_runs_seed_and_epoch():
    """An epoch's attack generator is seeded with ``derive_seed(seed, "attack", epoch)``: runs of
    seeds 3 and 4 draw different attack starts in the same epoch, and each draw is that seed's."""
    draws = {}
    for seed in (3, 4):
        for epoch in (1, 2):
            draws[seed, epoch] = torch.rand(6, generator=runs.attack_generator(_tiny_cfg(seed), epoch, "cpu"))
            expected = torch.rand(6, generator=generator(derive_seed(seed, "attack", epoch)))
            assert torch.equal(draws[seed, epoch], expected), (seed, epoch)
    assert not torch.equal(draws[3, 1], draws[4, 1]) and not torch.equal(draws[3, 2], draws[4, 2])


def test_model_json_records_the_training_time_as_the_sum_of_the_epoch_seconds(tmp_path):
    """``model.json``'s ``train_seconds`` (the "train minutes" of ``tables.training_budget``) is
    the sum of the log's per-epoch ``seconds``."""
    log = train(_model(), _tiny_set(), _tiny_cfg(epochs=2), tmp_path, model_spec=SPEC, progress=False)
    meta = checkpoint.read_meta(tmp_path / "model.pt")
    assert meta["train_seconds"] == log[0]["seconds"] + log[1]["seconds"] > 0


def test_model_json_records_the_torch_version_it_was_trained_with(tmp_path):
    """``model.json`` records the torch version that trained the weights under ``torch``."""
    train(_model(), _tiny_set(), _tiny_cfg(), tmp_path, model_spec=SPEC, progress=False)
    assert checkpoint.read_meta(tmp_path / "model.pt")["torch"] == torch.__version__


def test_a_checkpoint_with_the_documented_fingerprint_is_resumed(tmp_path, monkeypatch):
    """A run folder whose epoch checkpoint carries the documented fingerprint,
    ``cfg.fingerprint({"model": spec, "data": [name, size, content hash]})`` (what a previous
    release wrote), is resumed: a finished 1-epoch run trains nothing and returns the saved
    weights and log."""
    train_set, cfg = _tiny_set(), _tiny_cfg()
    fp = cfg.fingerprint({"model": SPEC, "data": [train_set.name, len(train_set), train_set.content_hash()]})
    saved = _net(7)
    optimizer = make_optimizer(saved, cfg)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, cfg.lr_milestones, cfg.lr_gamma)
    row = {"epoch": 1, "loss": 2.25, "train_clean_acc": 0.5, "train_adv_acc": float("nan"), "eps": 0.2,
           "lr": cfg.lr, "loss_ce": 2.25, "seconds": 1.5}
    checkpoint.save(tmp_path / "checkpoints" / "epoch_001.pt",
                    {"model": saved.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()},
                    {"kind": "epoch", "epoch": 1, "method": cfg.method, "fingerprint": fp, "log": [row]})
    trained = _count_epochs(monkeypatch)
    model = _model()
    log = train(model, train_set, cfg, tmp_path, model_spec=SPEC, progress=False)
    assert trained == []
    _assert_same_rows(log, [row], ignore=())
    _assert_same_weights(model, saved)


def test_a_fresh_start_deletes_the_old_runs_model_json(tmp_path, monkeypatch):
    """Starting another config over a finished run deletes its final ``model.pt`` and ``model.json``
    before the first epoch, so if the new run dies at once no metadata of the old model remains
    (``read_meta`` of ``model.pt`` and ``epoch_models`` would otherwise read the old run's spec)."""
    train(_model(), _tiny_set(), _tiny_cfg(), tmp_path, model_spec=SPEC, progress=False)
    assert (tmp_path / "model.json").exists()

    def dies(recipe, batch, optimizer, where="training"):
        raise RuntimeError(f"killed at {where}")

    monkeypatch.setattr(loop, "train_step", dies)
    with pytest.raises(RuntimeError, match="killed at standard epoch 1, batch 0"):
        train(_model(), _tiny_set(), _tiny_cfg(lr=3e-3), tmp_path, model_spec=SPEC, progress=False)
    assert not (tmp_path / "model.pt").exists() and not (tmp_path / "model.json").exists()
    with pytest.raises(AadError, match="has no metadata file model.json"):
        checkpoint.read_meta(tmp_path / "model.pt")


def test_write_log_writes_integers_exactly_and_floats_to_six_significant_digits(tmp_path):
    """The CSV log writes floats with 6 significant digits but integers (the epoch) as they are:
    epoch 1234567 stays ``1234567`` (6 significant digits would write ``1.23457e+06``)."""
    path = tmp_path / "log.csv"
    runs.write_log(path, [{"epoch": 1234567, "loss": 0.123456789, "train_clean_acc": float("nan"), "seconds": 12.0}])
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows == [{"epoch": "1234567", "loss": "0.123457", "train_clean_acc": "nan", "train_adv_acc": "",
                     "test_clean_acc": "", "test_adv_acc": "", "eps": "", "lr": "", "seconds": "12"}]


# ------------------------------------------------------------------------ loop

def test_progress_prints_one_line_per_epoch(tmp_path, capsys):
    """With ``progress=True`` the one-model loop prints one summary line per epoch (method, epoch,
    loss, training accuracy, seconds), as ``runs.describe`` words it."""
    log = train(_model(), _tiny_set(), _tiny_cfg(epochs=2), tmp_path, progress=True)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert lines == [f"standard epoch {r['epoch']}: loss {r['loss']:.4f}, train clean {r['train_clean_acc']:.3f} "
                     f"({r['seconds']:.1f} s)" for r in log]


class _TwoBranches(nn.Module):
    """Two linear heads on flattened 2 x 2 images; ``use`` picks the one the forward pass runs."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.a, self.b = nn.Linear(4, 3), nn.Linear(4, 3)
        self.use = "a"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return getattr(self, self.use)(x.flatten(1))


def test_a_step_leaves_weights_its_loss_does_not_reach_untouched():
    """``train_step`` steps only the weights its loss reaches: after a step through head ``a``,
    a step through head ``b`` leaves ``a`` exactly as it was (no gradient, so Adam skips it; a
    zero gradient would let its momentum move it) and moves ``b``."""
    model = _TwoBranches()
    optimizer = make_optimizer(model, _tiny_cfg())
    recipe = recipes.get("standard")
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(6, 1, 2, 2, generator=g), torch.tensor([0, 1, 2, 0, 1, 2])

    def step(use: str) -> None:
        model.use = use
        train_step(recipe, recipes.Batch(model, x, y, _tiny_cfg().attack, {}, g), optimizer)

    step("a")
    a_before = {k: v.clone() for k, v in model.a.state_dict().items()}
    b_before = {k: v.clone() for k, v in model.b.state_dict().items()}
    step("b")
    assert all(torch.equal(v, a_before[k]) for k, v in model.a.state_dict().items())
    assert all(not torch.equal(v, b_before[k]) for k, v in model.b.state_dict().items())


# ------------------------------------------------------------------------ CUDA only

@needs_cuda
def test_models_built_on_the_cpu_train_as_one_stack_on_cuda(tmp_path, capsys):
    """Models handed over on the CPU with ``device="cuda"`` are probed on CUDA, so they train as
    one stack (no notice), and end on CUDA."""
    nets = [_net(3), _net(4)]
    train_stack(nets, _tiny_set(), [_tiny_cfg(seed) for seed in (3, 4)], [tmp_path / "s3", tmp_path / "s4"],
                device="cuda", progress=False)
    assert "one after another" not in capsys.readouterr().err
    assert all(p.device.type == "cuda" for m in nets for p in m.parameters())


@needs_cuda
def test_the_monitor_runs_on_cuda_data_with_a_random_start():
    """The end-of-epoch monitor on CUDA images draws its PGD random start from a generator on
    their device: it runs, and the same call gives the same accuracies."""
    model = _model().cuda()
    x, y = _tiny_set(n=6, seed=2).tensors("cuda")
    cfg = _tiny_cfg(monitor_steps=2)
    assert cfg.attack.random_start
    first = runs.monitor(model, x, y, cfg)
    assert set(first) == {"test_clean_acc", "test_adv_acc"} and 0 <= first["test_adv_acc"] <= 1
    assert runs.monitor(model, x, y, cfg) == first
