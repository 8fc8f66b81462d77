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


def _python_minors(spec: str) -> list[str]:
    """``">=3.11,<3.14"`` -> ``["3.11", "3.12", "3.13"]`` (the one form the project uses)."""
    m = re.fullmatch(r">=\s*3\.(\d+)\s*,\s*<\s*3\.(\d+)", spec.replace(" ", ""))
    assert m, f"requires-python {spec!r} should read '>=3.X,<3.Y'"
    return [f"3.{minor}" for minor in range(int(m.group(1)), int(m.group(2)))]


def test_python_versions_agree_across_pyproject_environment_yml_and_readme():
    """The Pythons the project installs on (3.11 to 3.13: every pin has wheels for each, checked with
    `pip download --only-binary=:all: --python-version 3.X`) are stated once in pyproject.toml and
    repeated, in step, by environment.yml and the README's quick start; CI runs one of them."""
    import sys

    spec = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    minors = _python_minors(spec)
    assert minors[0] == "3.11" and len(minors) >= 2, minors
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda_python = [d for d in env["dependencies"] if isinstance(d, str) and re.match(r"python\b", d)]
    assert conda_python == [f"python{spec.replace(' ', '')}"], (conda_python, spec)
    readme = (ROOT / "README.md").read_text()
    stated = f"Python {minors[0]} to {minors[-1]}"
    assert re.search(rf"^## Quick start \(.*{re.escape(stated)}\b", readme, re.M), f"README quick start should say {stated!r}"
    assert f"{sys.version_info.major}.{sys.version_info.minor}" in minors, "this interpreter is outside requires-python"


def test_python_range_parsing():
    assert _python_minors(">=3.11,<3.14") == ["3.11", "3.12", "3.13"]
    assert _python_minors(">= 3.11, < 3.12") == ["3.11"]
