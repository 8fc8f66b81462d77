"""The notebooks' first cell (`notebooks.setup`) works wherever a notebook is opened: it finds the
project root from ``notebooks/`` (JupyterLab), the root (papermill, `aad notebook`) or any folder
below, resolves relative paths against that root, and takes ``overrides`` in every form papermill
and the CLI pass them. Fast: a tiny project with the smoke profile's prepared data."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from aad_lib import config, notebooks, pipeline
from aad_lib.validation import AadError

from .conftest import ROOT


@pytest.fixture
def project(tmp_path, digits, monkeypatch) -> Path:
    """A project with the smoke profile active and its data prepared (``digits`` fetched the data)."""
    root = tmp_path / "project"
    root.mkdir()
    for name in ("profiles", "notebooks"):
        shutil.copytree(ROOT / name, root / name)
    shutil.copy(ROOT / "dvc.yaml", root / "dvc.yaml")
    (root / "data").mkdir()
    (root / "data" / "mnist5k").symlink_to(ROOT / "data" / "mnist5k")
    config.use_profile("smoke", root)
    monkeypatch.chdir(root)
    pipeline.prepare_data(config.load_params(root / "params.yaml"))
    return root


@pytest.mark.parametrize("where", ["notebooks", ".", "notebooks/deeper/still"])
def test_setup_finds_the_project_root_and_works_from_it(project, monkeypatch, where):
    start = project / where
    start.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(start)
    ctx = notebooks.setup("params.yaml", '["evaluate.samples=20"]', None)
    assert ctx.root == project.resolve() and Path.cwd() == project.resolve()
    assert ctx.x.shape[0] == 20 and ctx.params.profile == "smoke"
    assert ctx.out == project.resolve() / "reports"
    assert notebooks.setup(reports_dir="elsewhere/out").out == project.resolve() / "elsewhere" / "out"


def test_no_project_root_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(AadError, match=r"no project root found: no folder at or above .* holds both dvc.yaml and params.yaml"):
        notebooks.setup()
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")  # a DVC project without params.yaml is not ours
    with pytest.raises(AadError, match=str(tmp_path)):
        notebooks.find_root(tmp_path)


def test_find_root_walks_up_to_the_folder_with_both_markers():
    assert notebooks.find_root(ROOT / "notebooks") == ROOT.resolve()
    assert notebooks.find_root(ROOT / "aad_lib" / "sections") == ROOT.resolve()
    assert notebooks.find_root(ROOT) == ROOT.resolve()
    assert Path(os.getcwd()).resolve() == Path.cwd().resolve()  # finding moves nothing


@pytest.mark.parametrize("value, expected", [
    (None, []),
    ("", []),
    ([], []),
    (["evaluate.samples=200"], ["evaluate.samples=200"]),
    (("train.epochs=3", "seed=1"), ["train.epochs=3", "seed=1"]),
    ('["evaluate.samples=200"]', ["evaluate.samples=200"]),  # papermill -p overrides '["..."]'
    ("[evaluate.samples=200, train.epochs=3]", ["evaluate.samples=200", "train.epochs=3"]),  # YAML flow list
    ('["run.methods=[madry,alp]"]', ["run.methods=[madry,alp]"]),
    ("evaluate.samples=200", ["evaluate.samples=200"]),  # papermill -p overrides evaluate.samples=200
    ("  evaluate.samples=200 ", ["evaluate.samples=200"]),
])
def test_overrides_in_every_form_papermill_and_the_cli_pass(value, expected):
    assert notebooks.parse_overrides(value) == expected


@pytest.mark.parametrize("value, message", [
    ("[evaluate.samples=200", "not a valid JSON/YAML list"),
    ('{"evaluate.samples": 200}', "must be a list of key.sub=value strings"),
    (200, "must be a list of key.sub=value strings, .* got int 200"),
    ("[1, 2]", "every override must be a key.sub=value string; got 1 \\(int\\)"),
    ('[{"evaluate.samples": 200}]', "every override must be a key.sub=value string"),
])
def test_bad_overrides_name_the_value_and_the_forms_accepted(value, message):
    with pytest.raises(AadError, match=message):
        notebooks.parse_overrides(value)


def test_an_override_string_that_is_not_key_value_fails_when_params_load(project):
    with pytest.raises(AadError, match="override 'evaluate' must look like key.subkey=value"):
        notebooks.setup(overrides="evaluate")
