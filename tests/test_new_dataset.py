"""A new dataset end to end, as the README's worked example does it: a generated `folder:` tree of
colour images (4 classes, 3 x 32 x 32) and a generated `npz:` file, each prepared, two methods
trained and evaluated with the `aad` commands (and once more from the checkpoint, outside the
pipeline), and the whole pipeline with all five notebooks run by `dvc repro` on the folder dataset,
in copies of the project. Small on purpose (the smoke profile, a few dozen images)."""
from __future__ import annotations

import json
import os
import shutil

import nbformat
import numpy as np
import pytest
import yaml
from PIL import Image

from aad_lib import config
from aad_lib.training import checkpoint

from .conftest import PROJECT_FILES, ROOT, run_command

pytestmark = pytest.mark.slow
# the smoke profile (one epoch, short attacks) with two methods only, and every section pointed at them
SETTINGS = ["run.methods=[standard,madry]", "run.extra_methods=[]", "run.attention_methods=[]",
            "attention.defense_methods=[standard,madry]", "compression.classifier=standard", "evaluate.samples=20",
            "integrity.samples=10"]


def _colour_folder(root, classes=4, per_class=12, size=32):
    """One sub-folder per class; each class a different dominant colour plus noise."""
    rng = np.random.default_rng(0)
    for c in range(classes):
        folder = root / f"class_{c}"
        folder.mkdir(parents=True)
        for i in range(per_class):
            image = rng.integers(0, 80, (size, size, 3), dtype=np.uint8)
            image[..., c % 3] += np.uint8(100 + 15 * (c // 3))
            Image.fromarray(image).save(folder / f"{i}.png")


@pytest.fixture(scope="module")
def projects(tmp_path_factory):
    """One copy of the project per dataset (module-wide: the notebook test reuses the models the
    first test trained, which `aad train` finds finished and does not retrain)."""
    made = {}

    def project_for(dataset: str):
        if dataset not in made:
            root = tmp_path_factory.mktemp("new_dataset")
            for name in PROJECT_FILES:
                src, dst = ROOT / name, root / name
                dst.parent.mkdir(parents=True, exist_ok=True)
                (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
            _colour_folder(root / "data" / "shapes")
            rng = np.random.default_rng(1)
            np.savez(root / "data" / "grey.npz", x=rng.random((40, 16, 16)).astype(np.float32), y=np.arange(40) % 4)
            run_command(["aad", "profile", "use", "smoke"], root)
            made[dataset] = root
        return made[dataset]

    return project_for


def _aad(project, *args, dataset):
    sets = [f"--set={s}" for s in [f"data.name={dataset}", *SETTINGS]]
    env = {**os.environ, "PYTHONPATH": str(project)}
    return run_command(["aad", *args, *sets], project, env=env)


@pytest.mark.parametrize("dataset, shape, classes", [("folder:data/shapes", (3, 32), 4), ("npz:data/grey.npz", (1, 16), 4)])
def test_prepare_train_evaluate_a_new_dataset(projects, dataset, shape, classes):
    project = projects(dataset)
    _aad(project, "data", "prepare", dataset=dataset)
    summary = json.loads((project / "reports" / "data" / "dataset.json").read_text())
    assert (summary["info"]["channels"], summary["info"]["size"], summary["info"]["num_classes"]) == (*shape, classes)
    assert sum(summary["train"]["per_class"]) + sum(summary["test"]["per_class"]) in (48, 40)
    for method in ("standard", "madry"):
        _aad(project, "train", "--method", method, "--seed", "0", dataset=dataset)
        _aad(project, "evaluate", "--method", method, "--seed", "0", dataset=dataset)
        result = json.loads((project / "reports" / "eval" / f"{method}-seed0" / "summary.json").read_text())
        assert result["dataset"] == dataset and result["n"] == min(20, sum(summary["test"]["per_class"]))
        spec = checkpoint.read_meta(project / "models" / method / "seed0" / "model.pt")["model_spec"]
        assert (spec["in_channels"], spec["size"], spec["num_classes"]) == (*shape, classes)
        assert spec["mean"] == summary["info"]["mean"]  # the model normalises with the data's own statistics
    # the same model evaluated from its checkpoint, outside the pipeline: the same records and accuracies
    checkpoint_out = project / "reports" / "eval" / "outside"
    _aad(project, "evaluate", "--checkpoint", "models/madry/seed0/model.pt", "--out", str(checkpoint_out), dataset=dataset)
    inside = json.loads((project / "reports" / "eval" / "madry-seed0" / "summary.json").read_text())
    outside = json.loads((checkpoint_out / "summary.json").read_text())
    assert outside["accuracy"] == inside["accuracy"] and outside["method"] == "madry" and outside["seed"] == 0
    assert (checkpoint_out / "records.csv").read_text() == (project / "reports" / "eval" / "madry-seed0" / "records.csv").read_text()


# What a tiny run keeps of the smoke profile when it shrinks another profile: its sizes and step
# counts, not its MNIST-scale steps (alpha) and radii, which the colour profiles set for themselves.
_NOT_SHRUNK = {("train", "attack", "alpha"), ("evaluate", "alpha"), ("attention", "analysis_eps")}


def _smoke_sizes() -> dict:
    """profiles/smoke.yaml's own keys, without ``extends`` and without _NOT_SHRUNK."""
    raw = yaml.safe_load((ROOT / "profiles" / "smoke.yaml").read_text())
    raw.pop("extends")
    for path in _NOT_SHRUNK:
        node = raw
        for key in path[:-1]:
            node = node[key]
        node.pop(path[-1], None)
    return raw


def _colour_npz(path, classes=10, per_class=12, size=32):
    """The npz twin of _colour_folder: (N, H, W, C) uint8 x, int y."""
    rng = np.random.default_rng(2)
    x = rng.integers(0, 80, (classes * per_class, size, size, 3), dtype=np.uint8)
    y = np.repeat(np.arange(classes), per_class)
    for c in range(classes):
        x[y == c, ..., c % 3] += np.uint8(100 + 15 * (c // 3))
    np.savez(path, x=x, y=y)


@pytest.mark.parametrize("paper_profile, dataset", [("paper-svhn", "folder:data/shapes10"),
                                                    ("paper-cifar10", "npz:data/colour10.npz")])
def test_dvc_repro_runs_every_notebook_on_a_paper_colour_profile(tmp_path, paper_profile, dataset):
    """Each colour paper profile, end to end on tiny synthetic data of its shape (3 x 32 x 32, 10
    classes): `aad profile new` derives a profile for the data from the paper profile (its model,
    radii and optimiser), the smoke profile's sizes shrink it, and `dvc repro` runs the whole pipeline
    with all five notebooks through papermill (fewer models than Table 2). The two profiles take
    the two file kinds, folder: and npz:."""
    project = tmp_path / "project"
    for name in PROJECT_FILES:
        src, dst = ROOT / name, project / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
    _colour_folder(project / "data" / "shapes10", classes=10, per_class=12)
    _colour_npz(project / "data" / "colour10.npz")
    env = {**os.environ, "PYTHONPATH": str(project)}
    made = run_command(["aad", "profile", "new", "tiny", "--data", dataset, "--from", paper_profile], project, env=env)
    assert "3x32x32, 10 classes, 100 train / 20 test" in made.stdout, made.stdout
    derived = config.resolve_profile("tiny", project)
    paper = config.resolve_profile(paper_profile, project)
    assert derived["model"] == paper["model"] and derived["train"]["lr"] == paper["train"]["lr"]
    assert derived["train"]["attack"] == paper["train"]["attack"]  # the paper's colour radius and step kept
    assert derived["evaluate"]["eps"] == paper["evaluate"]["eps"] and derived["evaluate"]["samples"] == 20
    shrunk = config.deep_merge(_smoke_sizes(), {
        "extends": "tiny", "run": {"methods": ["standard", "madry", "alp", "aalp"],
                                   "extra_methods": ["standard+flip"], "attention_methods": ["arp"]},
        "attention": {"defense_methods": ["standard", "madry", "arp"]},
        "compression": {"comdefend_variants": ["plain"], "samples": 20}, "evaluate": {"samples": 20},
        "integrity": {"samples": 10}})
    (project / "profiles" / "tiny-smoke.yaml").write_text(yaml.safe_dump(shrunk, sort_keys=False))
    run_command(["aad", "profile", "use", "tiny-smoke"], project, env=env)
    run_command(["git", "init", "-q"], project)
    run_command(["dvc", "repro"], project, env=env)
    summary = json.loads((project / "reports" / "data" / "dataset.json").read_text())
    assert summary["info"]["channels"] == 3 and summary["info"]["num_classes"] == 10 and len(summary["classes"]) == 10
    spec = checkpoint.read_meta(project / "models" / "aalp" / "seed0" / "model.pt")["model_spec"]
    assert spec["name"] == paper["model"]["name"] and spec["in_channels"] == 3 and spec["num_classes"] == 10
    result = json.loads((project / "reports" / "eval" / "madry-seed0" / "summary.json").read_text())
    assert result["eps"] == pytest.approx(paper["evaluate"]["eps"])
    for name in ("01_data_analysis", "02_guided_dropout", "03_adaptive_weighting", "04_attention_rectification",
                 "05_compression_defenses"):
        executed = nbformat.read(project / "reports" / "notebooks" / f"{name}.ipynb", as_version=4)
        assert not [o for c in executed.cells for o in c.get("outputs", []) if o.get("output_type") == "error"], name
    for table in ("01_table1_sets", "03_table2", "04_defense", "05_gap"):
        assert (project / "reports" / "tables" / f"{table}.csv").exists(), table
