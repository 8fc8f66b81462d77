"""pyproject.toml and environment.yml pin the same packages at the same versions."""
import re
import tomllib

import yaml

from .conftest import ROOT


def _pins(lines):
    out = {}
    for line in lines:
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line.strip())
        if m:
            out[m.group(1).lower()] = m.group(2)
    return out


def test_pyproject_and_environment_yml_agree():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    pyproject = _pins(project["dependencies"] + extras["test"] + extras["peers"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_list = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    conda = _pins(pip_list)
    assert pyproject == conda
    assert all(re.fullmatch(r"[\w.\-]+==[\w.+\-]+", d) for d in project["dependencies"]), "every core dependency is pinned"


def test_peer_libraries_stay_out_of_the_core_install():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = " ".join(project["dependencies"]).lower()
    assert "torchattacks" not in core and "adversarial-robustness-toolbox" not in core
