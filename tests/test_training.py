import pytest
import torch

from aad_lib import data, models
from aad_lib.training import TrainConfig, checkpoint, load_model, recipes, train
from aad_lib.validation import AadError


@pytest.fixture
def small_set():
    return data.fake(n=60, shape=(1, 12, 12), seed=1)


def _cfg(method="madry", epochs=2, **kw):
    return TrainConfig(method=method, epochs=epochs, batch_size=20, lr=1e-3,
                       attack={"eps": 0.2, "alpha": 0.1, "steps": 2}, seed=3, **kw)


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


def test_resume_equals_uninterrupted_run_bit_for_bit(tmp_path, small_set):
    full = _model()
    train(full, small_set, _cfg(epochs=3), tmp_path / "full", progress=False)
    part = _model()
    train(part, small_set, _cfg(epochs=3), tmp_path / "part", progress=False)
    # simulate a crash after epoch 1: drop later checkpoints and resume with a fresh model object
    for k in (2, 3):
        for ext in (".pt", ".json"):
            (tmp_path / "part" / "checkpoints" / f"epoch_{k:03d}{ext}").unlink()
    resumed = _model()
    log = train(resumed, small_set, _cfg(epochs=3), tmp_path / "part", progress=False)
    assert [r["epoch"] for r in log] == [1, 2, 3]
    for (k, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k


def test_changed_config_does_not_resume(tmp_path, small_set):
    train(_model(), small_set, _cfg(epochs=1), tmp_path, progress=False)
    log = train(_model(), small_set, _cfg(epochs=1, options={}, lr_gamma=0.5), tmp_path, progress=False)
    assert len(log) == 1


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
