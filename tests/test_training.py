import contextlib
import re

import pytest
import torch

from aad_lib import data, models
from aad_lib.attacks.settings import AttackSettings
from aad_lib.training import TrainConfig, checkpoint, load_model, loop, recipes, train
from aad_lib.validation import AadError



@pytest.fixture
def small_set():
    return data.fake(n=60, shape=(1, 12, 12), seed=1)


def _cfg(method="madry", epochs=2, **kw):
    kw = {"batch_size": 20, "lr": 1e-3, "attack": {"eps": 0.2, "alpha": 0.1, "steps": 2}, "seed": 3, **kw}
    return TrainConfig(method=method, epochs=epochs, **kw)


def _model():
    torch.manual_seed(0)
    return models.create("lenet_small", size=12)


# every classifier recipe; the purifier recipe (comdefend) trains a ComDefend: tests/test_compression.py
@pytest.mark.parametrize("method", sorted(set(recipes.RECIPES) - {"comdefend"}))
def test_every_recipe_trains_and_logs(tmp_path, small_set, method):
    log = train(_model(), small_set, _cfg(method, epochs=1), tmp_path, progress=False,
                model_spec={"name": "lenet_small", "size": 12})
    assert len(log) == 1 and log[0]["loss"] == log[0]["loss"]
    assert (tmp_path / "log.csv").exists() and (tmp_path / "checkpoints" / "epoch_001.pt").exists()
    reloaded = load_model(tmp_path / "model.pt")
    assert not reloaded.training


def test_resume_equals_uninterrupted_run_bit_for_bit(tmp_path, small_set, monkeypatch):
    """Catches a resume that drifts from the uninterrupted run (RNG drawn from the batch count,
    optimiser or scheduler state not restored: the lr drops after epoch 2) and a loop that quietly
    retrains from scratch instead of resuming (it would end equal too, so the epochs trained are counted)."""
    cfg = _cfg(epochs=3, lr_milestones=[2], lr_gamma=0.1)
    full = _model()
    full_log = train(full, small_set, cfg, tmp_path / "full", progress=False)
    part = _model()
    part_log = train(part, small_set, cfg, tmp_path / "part", progress=False)
    # simulate a crash after epoch 1: drop later checkpoints and resume with a fresh model object
    for k in (2, 3):
        for ext in (".pt", ".json"):
            (tmp_path / "part" / "checkpoints" / f"epoch_{k:03d}{ext}").unlink()
    trained = _count_epochs(monkeypatch)
    resumed = _model()
    log = train(resumed, small_set, cfg, tmp_path / "part", progress=False)
    assert [r["epoch"] for r in log] == [1, 2, 3]
    _assert_same_weights(resumed, full)
    _assert_same_rows(log, full_log)
    _assert_same_rows(log[:1], part_log[:1], ignore=())  # epoch 1's row, seconds too, comes from the checkpoint
    assert sorted(trained) == [2, 3]


# each change alters the weights trained; a loop that resumes anyway ends with the wrong ones
CHANGES = {
    "lr": ("madry", {"lr": 3e-3}),
    "option": ("alp", {"options": {"alp_weight": 2.0}}),
    "attack": ("madry", {"attack": {"eps": 0.1, "alpha": 0.1, "steps": 2}}),
    "milestones": ("madry", {"lr_milestones": [1], "lr_gamma": 0.1}),
}


@pytest.mark.parametrize("change,before", [("lr", "finished"), ("lr", "interrupted after epoch 1"),
                                           ("option", "interrupted after epoch 1"), ("attack", "finished"),
                                           ("milestones", "interrupted after epoch 1")])
def test_changed_config_does_not_resume(tmp_path, small_set, monkeypatch, change, before):
    """Catches a loop that resumes from a checkpoint of another config (fingerprint ignored or not
    compared). Run A (config C1, 2 epochs) is finished, or killed after epoch 1; then config C2, which
    differs in one field that alters the weights, is trained in the same directory. It must train
    both epochs and end bit for bit equal, weights and log, to C2 trained in an empty directory:
    neither A's weights (a finished A resumed trains nothing) nor A's epoch 1 continued with C2."""
    method, kw = CHANGES[change]
    c1, c2 = _cfg(method), _cfg(method, **kw)
    assert c1.fingerprint() != c2.fingerprint()
    a = _model()
    train(a, small_set, c1, tmp_path / "run", progress=False)
    if before != "finished":
        for ext in (".pt", ".json"):
            (tmp_path / "run" / "checkpoints" / f"epoch_002{ext}").unlink()
    fresh = _model()
    fresh_log = train(fresh, small_set, c2, tmp_path / "fresh", progress=False)
    trained = _count_epochs(monkeypatch)
    b = _model()
    log = train(b, small_set, c2, tmp_path / "run", progress=False)
    _assert_same_weights(b, fresh)
    _assert_same_rows(log, fresh_log)
    assert not _same_weights(b, a)
    assert sorted(trained) == [1, 2]
    # A's checkpoints are gone: every epoch checkpoint left is C2's and loads C2's weights
    _assert_checkpoints_are(tmp_path / "run", [1, 2], tmp_path / "fresh", fresh_log, b)


class _Crash(Exception):
    """A training process dying mid-run (raised by :func:`_crash_in_epoch_2`)."""


@contextlib.contextmanager
def _crash_in_epoch_2(monkeypatch):
    """Within the block, training dies at the first step of epoch 2 (after epoch 1's checkpoint);
    the block must raise there, and the real training step is back afterwards."""
    real = loop.train_step

    def crash(recipe, batch, optimizer, where="training"):
        if "epoch 2," in where:
            raise _Crash(where)
        return real(recipe, batch, optimizer, where=where)

    monkeypatch.setattr(loop, "train_step", crash)
    with pytest.raises(_Crash, match="epoch 2, batch 0"):
        yield
    monkeypatch.setattr(loop, "train_step", real)


def test_stale_checkpoints_of_another_config_are_removed_before_its_first_epoch(tmp_path, small_set, monkeypatch):
    """Catches a loop that leaves a previous config's later checkpoints beside the new ones: run A
    (3 epochs) then run C2 (another lr) in the same directory, which crashes in its epoch 2. A's
    epochs 2 and 3 must not survive as if they were C2's (``epoch_models`` would hand them out, and a
    resume would pick them up); the rerun resumes C2's epoch 1 and equals C2 run in one go."""
    c1, c2 = _cfg(epochs=3), _cfg(epochs=3, lr=3e-3)
    train(_model(), small_set, c1, tmp_path / "run", progress=False)

    with _crash_in_epoch_2(monkeypatch):
        train(_model(), small_set, c2, tmp_path / "run", progress=False)
    ckpts = tmp_path / "run" / "checkpoints"
    assert sorted(p.name for p in ckpts.iterdir()) == ["epoch_001.json", "epoch_001.pt"]
    fp2 = checkpoint.read_meta(ckpts / "epoch_001.pt")["fingerprint"]

    fresh = _model()
    fresh_log = train(fresh, small_set, c2, tmp_path / "fresh", progress=False)
    assert fp2 == checkpoint.read_meta(tmp_path / "fresh" / "model.pt")["fingerprint"]
    trained = _count_epochs(monkeypatch)
    rerun = _model()
    log = train(rerun, small_set, c2, tmp_path / "run", progress=False)
    _assert_same_weights(rerun, fresh)
    _assert_same_rows(log, fresh_log)
    assert sorted(trained) == [2, 3]
    _assert_checkpoints_are(tmp_path / "run", [1, 2, 3], tmp_path / "fresh", fresh_log, rerun)


def test_finished_run_called_again_trains_nothing_and_changes_nothing(tmp_path, small_set, monkeypatch):
    """Catches a loop that retrains (or trains extra epochs of) a finished run when it is called again
    with the same config, rewrites its checkpoints or log, or returns the weights of the model object
    it was handed instead of the trained ones."""
    cfg = _cfg(epochs=2)
    done = _model()
    first_log = train(done, small_set, cfg, tmp_path, progress=False)
    files = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in (tmp_path / "checkpoints").iterdir()}
    log_csv = (tmp_path / "log.csv").read_text()
    trained = _count_epochs(monkeypatch)
    torch.manual_seed(99)
    again = models.create("lenet_small", size=12)  # other initial weights: what it returns must be loaded
    assert not _same_weights(again, done)
    log = train(again, small_set, cfg, tmp_path, progress=False)
    _assert_same_weights(again, done)
    assert not again.training
    _assert_same_rows(log, first_log, ignore=())  # the seconds column too: nothing was re-measured
    assert (tmp_path / "log.csv").read_text() == log_csv
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in (tmp_path / "checkpoints").iterdir()} == files
    assert trained == []
    reloaded, _ = checkpoint.load(tmp_path / "model.pt")
    assert all(torch.equal(reloaded["model"][k], v) for k, v in done.state_dict().items())


SPEC = {"name": "lenet_small", "size": 12}
OTHER_DATA = {
    "model spec (normalisation)": (dict(SPEC, mean=[0.3], std=[0.4]), None),
    "dataset length": (SPEC, lambda s: data.fake(n=80, shape=(1, 12, 12), seed=1)),
    "dataset name": (SPEC, lambda s: _renamed(data.fake(n=60, shape=(1, 12, 12), seed=2), "other")),
}


@pytest.mark.parametrize("change", sorted(OTHER_DATA))
def test_changed_model_spec_or_dataset_does_not_resume(tmp_path, small_set, monkeypatch, change):
    """Catches a fingerprint that leaves out the model spec or the dataset (the ``extra`` of
    ``TrainConfig.fingerprint``): with the config unchanged, a finished run on another spec or
    dataset would be resumed and its weights returned. The normalisation change is the dangerous one:
    mean/std are buffers, so the old state_dict loads silently into the new model."""
    spec, other = OTHER_DATA[change]
    cfg = _cfg(epochs=2)
    a = _model_from(SPEC)
    train(a, small_set, cfg, tmp_path / "run", progress=False, model_spec=SPEC)
    train_set = other(small_set) if other else small_set
    fresh = _model_from(spec)
    fresh_log = train(fresh, train_set, cfg, tmp_path / "fresh", progress=False, model_spec=spec)
    trained = _count_epochs(monkeypatch)
    b = _model_from(spec)
    log = train(b, train_set, cfg, tmp_path / "run", progress=False, model_spec=spec)
    _assert_same_weights(b, fresh)
    _assert_same_rows(log, fresh_log)
    assert not _same_weights(b, a)
    assert sorted(trained) == [1, 2]
    _assert_checkpoints_are(tmp_path / "run", [1, 2], tmp_path / "fresh", fresh_log, b)


def test_same_named_dataset_of_the_same_length_but_other_images_does_not_resume(tmp_path, small_set):
    """Catches a fingerprint that identifies the dataset by name and length only: a regenerated or
    re-split dataset of the same size (here other images and labels under the same name) resumes the
    old run and returns its weights."""
    cfg = _cfg(epochs=2)
    a = _model()
    train(a, small_set, cfg, tmp_path / "run", progress=False)
    other = data.fake(n=60, shape=(1, 12, 12), seed=2)
    assert other.name == small_set.name and len(other) == len(small_set)
    fresh = _model()
    train(fresh, other, cfg, tmp_path / "fresh", progress=False)
    b = _model()
    train(b, other, cfg, tmp_path / "run", progress=False)
    _assert_same_weights(b, fresh)


def test_retrain_with_another_config_that_crashes_leaves_no_final_model_of_the_old_one(tmp_path, small_set, monkeypatch):
    """Catches a loop that, starting another config over a finished run, leaves the old run's
    ``model.pt`` in place: if the new run dies, the directory holds the new config's checkpoints and
    log beside the old config's final model, and ``load_model`` silently returns the old weights."""
    train(_model(), small_set, _cfg(), tmp_path, progress=False)
    with _crash_in_epoch_2(monkeypatch):
        train(_model(), small_set, _cfg(lr=3e-3), tmp_path, progress=False)
    fp = checkpoint.read_meta(tmp_path / "checkpoints" / "epoch_001.pt")["fingerprint"]
    assert not (tmp_path / "model.pt").exists() or checkpoint.read_meta(tmp_path / "model.pt")["fingerprint"] == fp


def test_same_seed_same_weights(tmp_path, small_set):
    a, b = _model(), _model()
    train(a, small_set, _cfg(epochs=1), tmp_path / "a", progress=False)
    train(b, small_set, _cfg(epochs=1), tmp_path / "b", progress=False)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_truncated_or_tampered_checkpoint_is_refused(tmp_path):
    path = checkpoint.save(tmp_path / "m.pt", {"w": torch.ones(100)}, {"kind": "test"})
    payload, meta = checkpoint.load(path)
    assert torch.equal(payload["w"], torch.ones(100)) and meta["kind"] == "test"
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(AadError, match="corrupt or was modified"):
        checkpoint.load(path)
    path.write_bytes(blob)
    (tmp_path / "m.json").unlink()
    with pytest.raises(AadError, match="no metadata"):
        checkpoint.load(path)
    with pytest.raises(AadError, match="does not exist"):
        checkpoint.load(tmp_path / "other.pt")


def test_bad_training_settings():
    with pytest.raises(AadError, match="Did you mean 'trades'"):
        _cfg("trade")
    with pytest.raises(AadError, match="epochs must be an integer >= 1"):
        _cfg(epochs=0)
    with pytest.raises(AadError, match="attack.eps"):
        TrainConfig(method="madry", epochs=1, attack={"eps": -1.0, "alpha": 0.1, "steps": 1})
    with pytest.raises(AadError, match="option of method 'alp'"):
        _cfg("alp", options={"beta": 1.0})


def test_epoch_models_rebuild_every_saved_epoch(tmp_path, small_set):
    from aad_lib.training import epoch_models

    final = _model()
    train(final, small_set, _cfg("aalp", epochs=3), tmp_path, progress=False, model_spec={"name": "lenet_small", "size": 12})
    seen = list(epoch_models(tmp_path))
    assert [e for e, _ in seen] == [1, 2, 3] and not seen[0][1].training
    assert all(torch.equal(a, b) for a, b in zip(seen[-1][1].state_dict().values(), final.state_dict().values()))
    assert not all(torch.equal(a, b) for a, b in zip(seen[0][1].state_dict().values(), final.state_dict().values()))
    assert [e for e, _ in epoch_models(tmp_path, every=2)] == [1, 3]
    with pytest.raises(AadError, match="no epoch checkpoints"):
        list(epoch_models(tmp_path / "nothing"))


def _renamed(dataset, name):
    dataset.name = name
    return dataset


def _model_from(spec):
    torch.manual_seed(0)
    return models.create(**spec)


def _count_epochs(monkeypatch):
    """Record the epoch of every optimisation step ``train`` takes from now on (one entry per epoch)."""
    seen: list[int] = []
    real = loop.train_step

    def counting(recipe, batch, optimizer, where="training"):
        epoch = int(re.search(r"epoch (\d+)", where).group(1))
        if epoch not in seen:
            seen.append(epoch)
        return real(recipe, batch, optimizer, where=where)

    monkeypatch.setattr(loop, "train_step", counting)
    return seen


def _same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def _assert_same_rows(log, expected, ignore=("seconds",)):
    """Every log row equal (NaN == NaN), but for the wall-clock ``seconds`` unless ``ignore=()``."""
    assert len(log) == len(expected)
    for row, want in zip(log, expected):
        assert row.keys() == want.keys()
        for k in row:
            if k not in ignore:
                assert row[k] == want[k] or (row[k] != row[k] and want[k] != want[k]), (row["epoch"], k)


def _assert_checkpoints_are(out_dir, epochs, reference_dir, expected_log, final):
    """Exactly ``epochs`` epoch checkpoints, each of this run (the fingerprint of the same config
    trained in ``reference_dir``, the log up to that epoch), the last one holding ``final``'s weights."""
    ckpts = out_dir / "checkpoints"
    assert sorted(p.name for p in ckpts.glob("epoch_*.pt")) == [f"epoch_{e:03d}.pt" for e in epochs]
    fp = checkpoint.read_meta(reference_dir / "model.pt")["fingerprint"]
    assert checkpoint.read_meta(out_dir / "model.pt")["fingerprint"] == fp
    for e in epochs:
        payload, meta = checkpoint.load(ckpts / f"epoch_{e:03d}.pt")
        assert meta["fingerprint"] == fp and meta["epoch"] == e
        _assert_same_rows(meta["log"], expected_log[:e])
    assert all(torch.equal(payload["model"][k], v) for k, v in final.state_dict().items())


def test_recipe_decorator_registers_one_record_per_recipe(monkeypatch):
    """@recipe writes one :class:`Recipe` record: the step function, needs_attack (default True), a
    read-only copy of the options ({} when none), the monitor only when one is given, the kind of
    model it trains (default classifier) and how it describes its attack (default PGD-k words)."""
    monkeypatch.setattr(recipes, "RECIPES", {})

    def monitor(model, x, y, seed):
        return {}

    def step_a(b):
        return None

    def step_b(b):
        return None

    options = {"probe_weight": 0.5}
    assert recipes.recipe("probe-a", options=options, monitor=monitor)(step_a) is step_a
    recipes.recipe("probe-b", needs_attack=False, trains="purifier", describe=lambda a: "words")(step_b)
    a, b = recipes.RECIPES["probe-a"], recipes.RECIPES["probe-b"]
    assert list(recipes.RECIPES) == ["probe-a", "probe-b"]
    assert (a.name, a.step, a.needs_attack, a.monitor, a.trains) == ("probe-a", step_a, True, monitor, "classifier")
    assert (b.name, b.step, b.needs_attack, b.monitor, b.trains) == ("probe-b", step_b, False, None, "purifier")
    assert dict(a.options) == {"probe_weight": 0.5} and dict(b.options) == {}
    options["probe_weight"] = 9.0  # a copy: the caller's dict stays its own
    assert a.options["probe_weight"] == 0.5
    with pytest.raises(TypeError):
        a.options["probe_weight"] = 1.0  # read-only
    attack = AttackSettings(0.3, 0.1, 3)
    assert a.describe_attack(attack) == "PGD-3 eps 0.3 step 0.1"
    assert b.describe_attack(attack) == "none"  # no attack, whatever the describe function says
    assert recipes.classifier_recipes() == ["probe-a"]
    assert a.loss_passes == 1 and recipes.recipe("probe-d", loss_passes=2)(step_a) is step_a
    assert recipes.RECIPES["probe-d"].loss_passes == 2 and a.requires == ()
    recipes.recipe("probe-e", requires=("penultimate",))(step_a)
    assert recipes.RECIPES["probe-e"].requires == ("penultimate",)
    with pytest.raises(AadError, match="Did you mean 'cam_layer'"):
        recipes.recipe("probe-f", requires=("cam_layr",))(step_a)
    with pytest.raises(AadError, match="Did you mean 'classifier'"):
        recipes.recipe("probe-c", trains="clasifier")(step_a)


def _spy_recipe(monkeypatch, needs_attack):
    """Register ``spy``: a recipe whose predictions and loss parts are known per batch, and which
    records the eps it was given. Batch b (of sizes 20, 20, 10) reports part ``a`` = b + 1 and
    predicts the true label on its first 10 (clean) or first 5 (adversarial) images, class -1 elsewhere."""
    seen: list[dict] = []

    def spy(b: recipes.Batch) -> recipes.StepOutput:
        k = len(seen)
        seen.append({"n": b.x.shape[0], "eps": b.attack.eps})
        wrong = torch.full_like(b.y, -1)
        clean_pred = torch.where(torch.arange(b.x.shape[0]) < 10, b.y, wrong)
        adv_pred = torch.where(torch.arange(b.x.shape[0]) < 5, b.y, wrong)
        loss = b.model(b.x).pow(2).mean() * 0 + float(k + 1)  # differentiable, value k + 1
        return recipes.StepOutput(loss, {"a": float(k + 1)}, clean_pred=clean_pred, adv_pred=adv_pred)

    monkeypatch.setitem(recipes.RECIPES, "spy", recipes.Recipe("spy", spy, {}, needs_attack))
    return seen


@pytest.mark.parametrize("needs_attack", [True, False])
def test_log_row_is_the_sample_weighted_mean_of_what_the_recipe_reported(tmp_path, monkeypatch, needs_attack):
    """Catches a loop that mis-sums the training log: 50 images in batches of 20, 20, 10. Batch b
    reports loss = part a = b + 1, so the epoch's loss and loss_a are (20*1 + 20*2 + 10*3)/50 = 1.8;
    10 + 10 + 10 clean predictions are right of 50 (0.6) and 5 + 5 + 5 adversarial ones (0.3).
    A recipe that needs no attack reports NaN adversarial training accuracy."""
    seen = _spy_recipe(monkeypatch, needs_attack)
    train_set = data.fake(n=50, shape=(1, 12, 12), seed=1)
    log = train(_model(), train_set, _cfg("spy", epochs=1), tmp_path, progress=False)
    assert [s["n"] for s in seen] == [20, 20, 10]
    row = log[0]
    assert row["loss"] == pytest.approx(1.8) and row["loss_a"] == pytest.approx(1.8)
    assert row["train_clean_acc"] == pytest.approx(0.6)
    if needs_attack:
        assert row["train_adv_acc"] == pytest.approx(0.3)
    else:
        assert row["train_adv_acc"] != row["train_adv_acc"]


def test_eps_warmup_rises_batch_by_batch_and_lr_gamma_decays(tmp_path, monkeypatch):
    """Catches a warm-up computed per epoch instead of per batch, or a milestone that ignores
    lr_gamma: eps_warmup_epochs 2 over 3 batches an epoch gives fractions 0, 1/6, 2/6 in epoch 1 and
    3/6, 4/6, 5/6 in epoch 2 (of eps 0.2), then 1; the log's eps is the fraction at the epoch's end
    (0.5, 1, 1) and the lr halves at milestone 1 (gamma 0.5) and again at 2."""
    seen = _spy_recipe(monkeypatch, True)
    train_set = data.fake(n=50, shape=(1, 12, 12), seed=1)
    cfg = _cfg("spy", epochs=3, eps_warmup_epochs=2.0, lr_milestones=[1, 2], lr_gamma=0.5)
    log = train(_model(), train_set, cfg, tmp_path, progress=False)
    fractions = [0, 1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6, 1, 1, 1]
    assert [s["eps"] for s in seen] == pytest.approx([0.2 * f for f in fractions])
    assert [r["eps"] for r in log] == pytest.approx([0.1, 0.2, 0.2])
    assert [r["lr"] for r in log] == pytest.approx([5e-4, 2.5e-4, 2.5e-4])
    # a warm-up shorter than an epoch (0.5): fractions 0, (1/3)/0.5 = 2/3, then capped at 1
    seen.clear()
    train(_model(), train_set, _cfg("spy", epochs=1, eps_warmup_epochs=0.5), tmp_path / "short", progress=False)
    assert [s["eps"] for s in seen] == pytest.approx([0.0, 0.2 * 2 / 3, 0.2])
