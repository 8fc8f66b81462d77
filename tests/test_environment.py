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


def test_peer_packages_are_installed_at_their_pins():
    """The cross-checks against torchattacks and ART must run, never skip: CI installs both
    (`make setup`: ART through the ``peers`` extra, torchattacks with --no-deps). A missing or
    wrongly pinned peer fails here with the command that installs it."""
    import importlib.metadata as metadata

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    makefile = (ROOT / "Makefile").read_text()
    wanted = _pins(project["optional-dependencies"]["peers"])
    wanted.update(_pins(re.findall(r"--no-deps\s+(\S+==\S+)", makefile)))
    assert {"torchattacks", "adversarial-robustness-toolbox"} <= set(wanted)
    for name, version in wanted.items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        assert installed == version, (f"peer package {name}=={version} is needed by the cross-check tests "
                                      f"(found {installed}); run `make setup`.")
