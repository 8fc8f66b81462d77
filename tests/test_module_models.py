"""Models by parameter, ``module:<python.path>:<callable>``: a user's factory written into a temporary
folder on ``sys.path`` is resolved, called with the keywords its signature names, checked by one forward
pass, trained by the standard recipe and loaded back from its checkpoint."""
from __future__ import annotations

import doctest
import sys

import pytest
import torch

from aad_lib import data, models
from aad_lib.models import module_models
from aad_lib.training import TrainConfig, load_model, train
from aad_lib.validation import AadError

from .conftest import ROOT

MOD = "aad_test_user_nets"

USER_MODULE = '''
"""A user's own models: normalisation inside, images in [0, 1]."""
import torch
from torch import nn

NOT_CALLABLE = 3


class TinyNet(nn.Module):
    """conv3 (4 channels) -> ReLU -> dropout -> fc; every argument is recorded in ``received``."""

    def __init__(self, num_classes=10, in_channels=1, size=8):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 4, 3, padding=1)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(4 * size * size, num_classes)

    def forward(self, x):
        return self.fc(self.drop(torch.relu(self.conv((x - 0.5) / 0.25))).flatten(1))


class FeatureNet(TinyNet):
    """TinyNet with penultimate features, a head and a Grad-CAM layer."""

    cam_layer = "conv"

    def penultimate(self, x):
        return self.drop(torch.relu(self.conv((x - 0.5) / 0.25))).flatten(1)

    @property
    def head(self):
        return self.fc


def make(num_classes, in_channels, size):
    net = TinyNet(num_classes, in_channels, size)
    net.received = {"num_classes": num_classes, "in_channels": in_channels, "size": size}
    return net


def make_classes_only(num_classes):
    net = TinyNet(num_classes, 1, 8)
    net.received = {"num_classes": num_classes}
    return net


def make_any(**kwargs):
    net = TinyNet(**kwargs)
    net.received = dict(kwargs)
    return net


def make_keyword_only(*, size, num_classes, width=4):
    net = TinyNet(num_classes, 1, size)
    net.received = {"num_classes": num_classes, "size": size}
    return net


def make_features(num_classes, in_channels, size):
    return FeatureNet(num_classes, in_channels, size)


def make_not_a_module(num_classes):
    return [num_classes]


def make_wrong_classes(num_classes, in_channels, size):
    return TinyNet(7, in_channels, size)


def make_fixed_input(num_classes):
    return TinyNet(num_classes, 3, 32)  # fits 3 x 32 x 32 images only


def make_needs_depth(num_classes, depth):
    return TinyNet(num_classes)


def make_raises(num_classes):
    raise ValueError("this net needs a GPU")


def make_nan(num_classes, in_channels, size):
    net = TinyNet(num_classes, in_channels, size)
    with torch.no_grad():
        net.fc.bias.fill_(float("nan"))
    return net


def make_tuple(num_classes, in_channels, size):
    class Pair(TinyNet):
        def forward(self, x):
            z = super().forward(x)
            return z, z
    return Pair(num_classes, in_channels, size)


def _private():
    return TinyNet()
'''


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """``aad_test_user_nets`` (the factories above) and two modules that fail to import, on sys.path."""
    (tmp_path / f"{MOD}.py").write_text(USER_MODULE)
    (tmp_path / "aad_test_needs_dep.py").write_text("import aad_not_installed_xyz\n")
    (tmp_path / "aad_test_raises.py").write_text("raise RuntimeError('configuration missing')\n")
    (tmp_path / "aad_test_empty.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield MOD
    for name in (MOD, "aad_test_needs_dep", "aad_test_raises", "aad_test_empty"):
        sys.modules.pop(name, None)


def test_parse_splits_the_name():
    assert module_models.parse("module:pkg.sub:make_net") == ("pkg.sub", "make_net")
    assert models.parse("module:nets:Net") == ("nets", "Net")


@pytest.mark.parametrize("bad", ["module:", "module:nets", "module:nets:", "module::make", "module:a:b:c",
                                 "module:my-nets:make", "module:nets:make()", "module:nets.:make", "lenet"])
def test_parse_refuses_a_bad_form_and_shows_the_expected_one(bad):
    with pytest.raises(AadError, match=r"is not of the form 'module:<python\.path>:<callable>'"):
        module_models.parse(bad)


def test_names_list_the_module_form():
    assert "module:<path>:<callable>" in models.names()
    assert models.names()[:5] == ["lenet", "lenet_small", "resnet32", "resnet9", "timm:<name>"]


def test_create_builds_the_users_model(user_module):
    torch.manual_seed(0)
    model = models.create(f"module:{user_module}:make", num_classes=3, in_channels=2, size=8,
                          mean=[0.1], std=[9.0, 9.0, 9.0])  # mean/std ignored: the model normalises itself
    assert type(model).__name__ == "TinyNet" and type(model).__module__ == user_module
    assert model.received == {"num_classes": 3, "in_channels": 2, "size": 8}
    assert model(torch.rand(5, 2, 8, 8)).shape == (5, 3)
    direct = module_models.create_module_model(f"module:{user_module}:make", 4, 1, 8)
    assert direct.fc.out_features == 4


@pytest.mark.parametrize("factory, received", [
    ("make", {"num_classes": 5, "in_channels": 1, "size": 8}),
    ("make_classes_only", {"num_classes": 5}),
    ("make_any", {"num_classes": 5, "in_channels": 1, "size": 8}),
    ("make_keyword_only", {"num_classes": 5, "size": 8}),
    ("TinyNet", None),  # a class: its constructor's signature
])
def test_the_factory_gets_the_keywords_its_signature_names(user_module, factory, received):
    model = models.create(f"module:{user_module}:{factory}", num_classes=5, in_channels=1, size=8)
    if received is not None:
        assert model.received == received
    assert model.fc.out_features == 5


def test_factory_kwargs_reads_the_signature():
    def f(num_classes, size=1, other=2):
        ...

    assert module_models.factory_kwargs(f, 10, 3, 32) == {"num_classes": 10, "size": 32}
    assert module_models.factory_kwargs(lambda **kw: None, 10, 3, 32) == {"num_classes": 10, "in_channels": 3,
                                                                          "size": 32}
    assert module_models.factory_kwargs(lambda *a, num_classes: None, 10, 3, 32) == {"num_classes": 10}


@pytest.mark.parametrize("suffix, message", [
    ("aad_no_such_module_xyz:make", r"module:aad_no_such_module_xyz:make: cannot import module "
                                    r"'aad_no_such_module_xyz' .*must be importable: its folder on PYTHONPATH .*installed"),
    ("aad_test_needs_dep:make", r"importing module 'aad_test_needs_dep' raised ModuleNotFoundError: .*"
                                r"aad_not_installed_xyz.*a module it imports is missing"),
    ("aad_test_raises:make", r"importing module 'aad_test_raises' raised RuntimeError: configuration missing"),
    ("aad_test_empty:make", r"module 'aad_test_empty' has no attribute 'make', and no public callables"),
    (f"{MOD}:mak", rf"module:{MOD}:mak: module '{MOD}' has no attribute 'mak'\. Did you mean 'make'\?"),
    (f"{MOD}:NOT_CALLABLE", rf"{MOD}\.NOT_CALLABLE is not callable \(type int\)"),
    (f"{MOD}:torch", rf"{MOD}\.torch is not callable \(type module\)"),
    (f"{MOD}:make_not_a_module", rf"module:{MOD}:make_not_a_module\(num_classes=10\) returned list, not a "
                                 r"torch\.nn\.Module"),
    (f"{MOD}:make_needs_depth", rf"module:{MOD}:make_needs_depth requires 'depth', which the registry cannot give"),
    (f"{MOD}:make_raises", rf"module:{MOD}:make_raises\(num_classes=10\) raised ValueError: this net needs a GPU"),
    (f"{MOD}:make_wrong_classes", rf"module:{MOD}:make_wrong_classes returned logits of shape \(2, 7\) for 10 "
                                  r"classes on a \(2, 1, 8, 8\) batch"),
    (f"{MOD}:make_fixed_input", rf"module:{MOD}:make_fixed_input raised RuntimeError: .* on a \(2, 1, 8, 8\) "
                                r"batch: does it take 1 x 8 x 8 images\?"),
    (f"{MOD}:make_nan", r"returned non-finite logits \(NaN or inf\) on a \(2, 1, 8, 8\) batch of 0\.5s"),
    (f"{MOD}:make_tuple", r"returned tuple, not a tensor of logits, on a \(2, 1, 8, 8\) batch"),
])
def test_every_failure_is_a_clear_error(user_module, suffix, message):
    with pytest.raises(AadError, match=message):
        models.create(f"module:{suffix}", num_classes=10, in_channels=1, size=8)


def test_the_did_you_mean_lists_public_callables_only(user_module):
    with pytest.raises(AadError) as info:
        module_models.resolve(f"module:{user_module}:mak")
    listed = str(info.value).split("Its public callables: ")[1]
    assert "make_classes_only" in listed and "TinyNet" in listed
    assert "_private" not in listed and "NOT_CALLABLE" not in listed and "torch," not in listed


def test_pretrained_is_refused_for_a_users_model(user_module):
    with pytest.raises(AadError, match="pretrained=True does not apply"):
        models.create(f"module:{user_module}:make", size=8, pretrained=True)


def test_the_registry_checks_still_come_first(user_module):
    with pytest.raises(AadError, match="num_classes must be an integer >= 2"):
        models.create(f"module:{user_module}:make", num_classes=1, size=8)
    with pytest.raises(AadError, match="in_channels must be a positive integer"):
        models.create(f"module:{user_module}:make", in_channels=0, size=8)
    with pytest.raises(AadError, match="Did you mean 'lenet'"):
        models.create("lenett")


def _mixed_mode_model(user_module: str) -> torch.nn.Module:
    model = models.create(f"module:{user_module}:make", num_classes=3, in_channels=1, size=8).train()
    model.drop.eval()  # a submodule in its own mode: restored as it was, not to the parent's
    return model


def test_check_model_passes_restores_modes_and_writes_no_gradients(user_module):
    model = _mixed_mode_model(user_module)
    module_models.check_model(model, in_channels=1, size=8, num_classes=3, name="mine")
    assert model.training and model.conv.training and not model.drop.training
    assert all(p.grad is None for p in model.parameters())


def test_check_model_fails_with_the_shape_and_still_restores_modes(user_module):
    model = _mixed_mode_model(user_module)
    with pytest.raises(AadError, match=r"mine returned logits of shape \(2, 3\) for 5 classes on a \(2, 1, 8, 8\)"):
        module_models.check_model(model, in_channels=1, size=8, num_classes=5, name="mine")
    with pytest.raises(AadError, match=r"^TinyNet raised RuntimeError: .* on a \(2, 3, 8, 8\) batch: does it take "
                                       r"3 x 8 x 8 images\?"):
        module_models.check_model(model, in_channels=3, size=8, num_classes=3)
    assert model.training and model.conv.training and not model.drop.training
    assert all(p.grad is None for p in model.parameters())
    with pytest.raises(AadError, match="must be a torch.nn.Module, got function"):
        module_models.check_model(lambda x: x, 1, 8, 3)


def test_capabilities_say_what_needs_more_than_logits(user_module):
    plain = models.create(f"module:{user_module}:make", num_classes=3, size=8)
    rich = models.create(f"module:{user_module}:make_features", num_classes=3, size=8).eval()
    assert models.capabilities(plain) == {"penultimate": False, "cam_layer": False}
    assert models.capabilities(rich) == {"penultimate": True, "cam_layer": True}
    assert models.capabilities(models.create("lenet_small", size=8)) == {"penultimate": True, "cam_layer": True}
    x = torch.rand(2, 1, 8, 8)
    assert torch.allclose(rich.head(rich.penultimate(x)), rich(x))
    models.require(rich, "penultimate", "method 'aalp'")
    with pytest.raises(AadError, match=rf"module:{user_module}:make has no penultimate features: method 'aalp' "
                                       r"\(Guided Dropout\) needs model\.penultimate\(x\)"):
        models.require(plain, "penultimate", "method 'aalp' (Guided Dropout)", name=f"module:{user_module}:make")
    with pytest.raises(AadError, match=r"TinyNet names no Grad-CAM layer: Grad-CAM needs model\.cam_layer.*"
                                       r"its last convolution is 'conv'"):
        models.require(plain, "cam_layer", "Grad-CAM")
    plain.cam_layer = "nope"
    assert not models.capabilities(plain)["cam_layer"]
    plain.cam_layer = "conv"
    assert models.capabilities(plain)["cam_layer"]
    with pytest.raises(AadError, match="Did you mean 'cam_layer'"):
        models.require(plain, "cam_layr", "Grad-CAM")


def test_standard_training_and_loading_back(user_module, tmp_path):
    spec = {"name": f"module:{user_module}:make", "num_classes": 3, "in_channels": 1, "size": 8}
    torch.manual_seed(0)
    model = models.create(**spec)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    images = data.fake(n=8, shape=(1, 8, 8), num_classes=3)
    log = train(model, images, TrainConfig("standard", epochs=1, batch_size=4), tmp_path / "run",
                model_spec=spec, progress=False)
    assert len(log) == 1 and log[0]["loss"] == log[0]["loss"]
    assert not torch.equal(model.fc.weight, before["fc.weight"])  # it trained
    loaded = load_model(tmp_path / "run" / "model.pt")
    assert type(loaded).__name__ == "TinyNet" and not loaded.training
    state, again = model.state_dict(), loaded.state_dict()
    assert state.keys() == again.keys() and all(torch.equal(state[k], again[k]) for k in state)


def test_docstring_examples_run():
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    tests = finder.find(module_models, globs={})
    assert len([t for t in tests if t.examples]) >= 8
    with torch.random.fork_rng(devices=[]):
        for test in tests:
            torch.manual_seed(0)
            runner.run(test, out=report.append)
    assert runner.summarize(verbose=False).failed == 0, "".join(report)


def test_the_pipeline_refuses_a_recipe_the_users_model_cannot_serve(user_module):
    """Guided Dropout needs penultimate features and ARP a Grad-CAM layer: a logits-only module:
    model is refused with the reason before any data is read or any epoch runs; standard training
    passes that check."""
    from aad_lib import config, pipeline
    from aad_lib.params import parse as parse_params

    raw = config.resolve_profile("default", ROOT)
    raw["model"]["name"] = f"module:{user_module}:make"
    raw["data"]["prepared"] = "/nonexistent/prepared"  # the refusal comes before the data is read
    params = parse_params(raw)
    with pytest.raises(AadError, match=r"has no penultimate features: method 'aalp' \(Guided Dropout\) needs"):
        pipeline.train_method(params, "aalp", 0)
    with pytest.raises(AadError, match=r"names no Grad-CAM layer: method 'arp' \(ARP's Grad-CAM losses\) needs"):
        pipeline.train_method(params, "arp", 0)
    with pytest.raises(AadError, match="not found; run `aad data prepare`"):  # past the check: the data is next
        pipeline.train_method(params, "standard", 0)


def test_evaluate_checkpoint_arguments_are_checked(user_module, tmp_path):
    """`aad evaluate --model module:... --weights FILE`: a weights file that is missing, unreadable or
    of another model is refused with the reason; --checkpoint and --weights together are refused."""
    from aad_lib import config, pipeline
    from aad_lib.params import parse as parse_params

    params = parse_params(config.resolve_profile("default", ROOT))
    name = f"module:{user_module}:make"
    with pytest.raises(AadError, match="weights file .*nothing.pt does not exist"):
        pipeline.evaluate_checkpoint(params, model_name=name, weights=tmp_path / "nothing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a state dict")
    with pytest.raises(AadError, match="cannot read .*junk.pt as a state_dict"):
        pipeline.evaluate_checkpoint(params, model_name=name, weights=tmp_path / "junk.pt")
    torch.save({"other.weight": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(AadError, match="other.pt does not fit the model"):
        pipeline.evaluate_checkpoint(params, model_name=name, weights=tmp_path / "other.pt")
    with pytest.raises(AadError, match="not both or neither"):
        pipeline.evaluate_checkpoint(params, tmp_path / "model.pt", model_name=name, weights=tmp_path / "other.pt")


def test_evaluate_a_users_model_from_its_weights(user_module, tmp_path, digits):
    """A module: model with a plain state_dict file gets the same records and summary as a pipeline
    model, on the prepared test images, with the checkpoint named in the summary (the digits
    fixture fetches the bundled MNIST-5k when it is missing)."""
    import json

    from aad_lib import config, pipeline
    from aad_lib.params import parse as parse_params

    raw = config.resolve_profile("smoke", ROOT)
    raw["data"].update(root=str(ROOT / "data"), prepared=str(tmp_path / "prepared"), test_subset=20)
    raw["reports"]["dir"] = str(tmp_path / "reports")
    raw["evaluate"]["samples"] = 10
    raw["progress"] = False
    params = parse_params(raw)
    pipeline.prepare_data(params)
    name = f"module:{user_module}:make"
    torch.manual_seed(0)
    model = models.create(name, num_classes=10, in_channels=1, size=28)
    torch.save(model.state_dict(), tmp_path / "mine.pt")
    out = pipeline.evaluate_checkpoint(params, model_name=name, weights=tmp_path / "mine.pt")
    summary = json.loads((out / "summary.json").read_text())
    assert out.name == "checkpoint-mine" and summary["model"] == name and summary["checkpoint"].endswith("mine.pt")
    assert summary["n"] == 10 and summary["columns"][:2] == ["Clean", "FGSM"]
    assert (out / "records.csv").exists()
