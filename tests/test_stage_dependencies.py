"""DVC's stages depend on exactly the code they run: nothing missing (an edit would not rerun the
stage, and its results would silently come from old code) and nothing extra (an edit would rerun
stages it cannot change, e.g. all 28 evaluations for a table-writer edit).

The smoke pipeline runs once per session with ``AAD_IMPORT_LOG`` set (tests/conftest.py): every
process that imports ``aad_lib`` logs the modules it imported, and a notebook's Jupyter kernel is
folded into the ``aad notebook`` command that started it. Each stage's ``aad_lib`` dependencies in
dvc.yaml (a folder stands for every module in it) must equal the files of the modules its command
imported, over all of the stage's matrix instances.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from .conftest import ROOT, import_log_dir


def stage_commands() -> dict[str, str]:
    """dvc.yaml's stage name -> its command with ``${...}`` left in (anchors and merges resolved)."""
    return {name: stage["cmd"] for name, stage in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"].items()}


def declared_code(stage: dict) -> set[str]:
    """The ``aad_lib`` files a stage's deps name, folders expanded to their modules."""
    files = set()
    for dep in stage.get("deps", []):
        if not str(dep).startswith("aad_lib"):
            continue
        path = ROOT / dep
        files |= {str(p.relative_to(ROOT)) for p in path.rglob("*.py")} if path.is_dir() else {dep}
    return files


def module_file(name: str) -> str:
    """``aad_lib.sections.aalp`` -> ``aad_lib/sections/aalp/__init__.py``; a module -> its .py."""
    path = ROOT / Path(*name.split("."))
    return str((path / "__init__.py" if path.is_dir() else path.with_suffix(".py")).relative_to(ROOT))


def logged_commands(log_dir: Path) -> list[tuple[str, set[str]]]:
    """(command line after ``aad``, files of the aad_lib modules it and its kernels imported)."""
    records = [json.loads(p.read_text()) for p in log_dir.glob("*.json")]
    commands = {r["pid"]: r for r in records if Path(r["argv"][0]).name == "aad"}
    for r in records:
        if r["pid"] not in commands and r["ppid"] in commands:  # a notebook's kernel: its command's code
            commands[r["ppid"]]["modules"] = sorted(set(commands[r["ppid"]]["modules"]) | set(r["modules"]))
    return [(" ".join(r["argv"][1:]), {module_file(m) for m in r["modules"]}) for r in commands.values()]


def pattern(cmd: str) -> re.Pattern:
    """``aad train --method ${item.method} ...`` -> a regex of the command line after ``aad``."""
    body = cmd.removeprefix("aad ")
    return re.compile("".join(r"\S+" if part.startswith("${") else re.escape(part)
                              for part in re.split(r"(\$\{[^}]+\})", body)) + "$")


def test_pattern_and_module_file_helpers():
    assert pattern("aad train --method ${item.method} --seed ${item.seed}").match("train --method alp+gd --seed 0")
    assert not pattern("aad train --method ${item.method} --seed ${item.seed}").match("train-purifier --variant plain")
    assert module_file("aad_lib.sections.aalp") == "aad_lib/sections/aalp/__init__.py"
    assert module_file("aad_lib.attacks.pgd") == "aad_lib/attacks/pgd.py"


@pytest.mark.slow
def test_every_stage_depends_on_exactly_the_code_it_imports(smoke_project):
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    logged = logged_commands(import_log_dir(smoke_project))
    assert logged, "the smoke pipeline logged no command (AAD_IMPORT_LOG not honoured?)"
    problems, matched = [], set()
    for name, stage in stages.items():
        runs = [files for line, files in logged if pattern(stage["cmd"]).match(line)]
        if not runs:
            problems.append(f"{name}: no logged run of `{stage['cmd']}` (did the smoke pipeline run it?)")
            continue
        matched.add(name)
        imported = set().union(*runs)
        declared = declared_code(stage)
        if missing := sorted(imported - declared):
            problems.append(f"{name}: imports but does not depend on {missing}")
        if extra := sorted(declared - imported):
            problems.append(f"{name}: depends on but never imports {extra}")
    assert not problems, "dvc.yaml's code dependencies differ from what the stages run:\n" + "\n".join(problems)
    assert matched == set(stages)


def test_every_code_dependency_in_dvc_yaml_exists():
    """A dependency on a moved or deleted module fails `dvc repro` with a missing-dependency error."""
    for name, stage in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"].items():
        for dep in stage.get("deps", []):
            if str(dep).startswith("aad_lib"):
                assert (ROOT / dep).exists(), f"stage {name}: dependency {dep} does not exist"
