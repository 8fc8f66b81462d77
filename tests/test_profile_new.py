"""`aad profile new`: a profile for a new dataset, sizes and radii read from the data (aad_lib.profile_builder)."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import yaml

from aad_lib import config
from aad_lib.profile_builder import new_profile
from aad_lib.validation import AadError

from .conftest import ROOT


@pytest.fixture
def project(tmp_path, monkeypatch):
    """The project's profiles in a scratch folder with three generated datasets (cwd there)."""
    shutil.copytree(ROOT / "profiles", tmp_path / "profiles")
    rng = np.random.default_rng(0)
    data = tmp_path / "data"
    data.mkdir()
    np.savez(data / "colour.npz", x=rng.integers(0, 256, (60, 32, 32, 3), dtype=np.uint8), y=np.arange(60) % 10)
    np.savez(data / "grey.npz", x=rng.random((40, 16, 16)).astype(np.float32), y=np.arange(40) % 4)
    np.savez(data / "large.npz", x=rng.integers(0, 256, (20, 96, 96, 3), dtype=np.uint8), y=np.arange(20) % 2)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _written(project, name):
    return yaml.safe_load((project / "profiles" / f"{name}.yaml").read_text())


def test_colour_data_from_the_grey_default_takes_the_cifar_radius(project):
    path, shape, scale = new_profile("colour", "npz:data/colour.npz", project)
    assert (shape.channels, shape.size, len(shape.classes), shape.n_train, shape.n_test) == (3, 32, 10, 50, 10)
    p = config.resolve_profile("colour", project)
    assert p["evaluate"]["eps"] == pytest.approx(8 / 255) and p["evaluate"]["alpha"] == pytest.approx(2 / 255)
    # training: the default's 3 steps of 2.5 * eps / 3 (Madry et al.'s rule)
    assert p["train"]["attack"]["steps"] == 3 and p["train"]["attack"]["alpha"] == pytest.approx(2.5 * (8 / 255) / 3)
    assert p["compression"]["eps"] == pytest.approx(8 / 255)
    # the ARP analysis radius scaled with the radius: 0.2 at 0.3 becomes 0.2 * (8/255) / 0.3
    assert p["attention"]["analysis_eps"] == pytest.approx(0.2 * (8 / 255) / 0.3)
    assert p["evaluate"]["samples"] == 10 and p["compression"]["samples"] == 10 and p["integrity"]["samples"] == 10
    assert p["data"]["name"] == "npz:data/colour.npz" and p["model"]["name"] == "lenet_small"
    text = path.read_text()
    assert "3x32x32 images, 10 classes, 50 train / 10 test" in text and "CIFAR-10 radius 8/255" in text


def test_grey_data_keep_the_default_radius_and_its_measured_training_step(project):
    new_profile("grey", "npz:data/grey.npz", project)
    written = _written(project, "grey")
    assert written["train"]["attack"] == {"eps": 0.3, "alpha": 0.15, "steps": 3}
    assert "attention" not in written and "eps" not in written.get("compression", {})
    assert config.resolve_profile("grey", project)["compression"]["eps"] == 0.1  # the default's, unchanged


def test_large_colour_images_take_the_imagenet_radius(project):
    _, shape, scale = new_profile("large", "npz:data/large.npz", project)
    assert shape.size == 96 and scale.eps == pytest.approx(4 / 255) and scale.eval_alpha == pytest.approx(1 / 255)


def test_a_paper_base_of_the_same_image_kind_keeps_its_settings(project):
    new_profile("svhn-like", "npz:data/colour.npz", project, extends="paper-svhn")
    p, paper = config.resolve_profile("svhn-like", project), config.resolve_profile("paper-svhn", project)
    assert p["train"]["attack"] == paper["train"]["attack"] and p["evaluate"]["eps"] == paper["evaluate"]["eps"]
    assert p["model"]["name"] == "resnet9" and p["compression"]["eps"] == paper["compression"]["eps"]


def test_stated_values_win_and_the_step_follows_the_radius(project):
    _, _, scale = new_profile("stated", "npz:data/colour.npz", project, eps=0.05, steps=5)
    assert (scale.eps, scale.eval_alpha, scale.train_steps) == (0.05, 0.0125, 5)
    assert scale.train_alpha == pytest.approx(2.5 * 0.05 / 5) and scale.source.startswith("stated: eps 0.05")
    _, _, scale = new_profile("stated2", "npz:data/colour.npz", project, eps=0.05, alpha=0.02)
    assert scale.eval_alpha == 0.02


def test_size_resizes_and_a_model_that_does_not_fit_fails_before_anything_is_written(project):
    _, shape, _ = new_profile("resized", "npz:data/colour.npz", project, size=16)
    assert shape.size == 16 and _written(project, "resized")["data"]["size"] == 16
    with pytest.raises(AadError, match=r"model 'lenet_small' does not fit .*1x30x30.*divisible by 4"):
        new_profile("bad", "npz:data/grey.npz", project, size=30)
    assert not (project / "profiles" / "bad.yaml").exists()


def test_an_existing_profile_is_kept_unless_forced(project):
    new_profile("mine", "npz:data/grey.npz", project)
    before = (project / "profiles" / "mine.yaml").read_text()
    with pytest.raises(AadError, match="exists; choose another name or pass --force"):
        new_profile("mine", "npz:data/colour.npz", project)
    assert (project / "profiles" / "mine.yaml").read_text() == before
    new_profile("mine", "npz:data/colour.npz", project, force=True)
    assert "npz:data/colour.npz" in (project / "profiles" / "mine.yaml").read_text()


@pytest.mark.parametrize("kwargs, message", [
    ({"name": "a b"}, "use letters, digits"),
    ({"spec": "npz:data/missing.npz"}, "missing.npz"),
    ({"spec": "fake"}, "generated noise"),
    ({"eps": 2.0}, r"eps must be a number in \(0, 1\]"),
    ({"eps": 0.1, "alpha": -1.0}, r"alpha must be a number in \(0, 1\]"),
    ({"steps": 0}, "steps"),
    ({"extends": "defualt"}, "Did you mean 'default'"),
])
def test_bad_requests_are_clear_errors(project, kwargs, message):
    args = {"name": "x", "spec": "npz:data/grey.npz", **kwargs}
    with pytest.raises(AadError, match=message):
        new_profile(args.pop("name"), args.pop("spec"), project, **args)
    assert not (project / "profiles" / "x.yaml").exists()


def test_valid_case_of_the_same_entry_point(project):
    """The bad-request battery's valid twin: the same call with good values writes a profile."""
    path, _, _ = new_profile("x", "npz:data/grey.npz", project, eps=0.2, steps=2)
    assert config.resolve_profile("x", project)["evaluate"]["eps"] == 0.2 and path.exists()
