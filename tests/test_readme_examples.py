"""The README's notebook examples run as written: every `papermill` and `aad notebook` command line
of its bash blocks (read from the README, so the two cannot drift) executed in a copy of the project
that ran the smoke pipeline, and each executed notebook free of errors. Lines that use a shell
variable belong to a longer worked example (the new-dataset one: tests/test_new_dataset.py)."""
from __future__ import annotations

import re
import shlex
import sys
import time
from pathlib import Path

import nbformat
import pytest

from .conftest import ROOT, run_command
from .project_copies import copy_project, project_env

BLOCK = re.compile(r"```bash\n(.*?)```", re.S)
EXAMPLE = re.compile(r"^\.venv/bin/(papermill|aad notebook)\s")


def readme_notebook_commands(readme: str) -> list[str]:
    """The self-contained `papermill` and `aad notebook` lines of ``readme``'s bash blocks, comments removed."""
    lines = [line.split("  #")[0].strip() for block in BLOCK.findall(readme) for line in block.splitlines()]
    return [line for line in lines if EXAMPLE.match(line) and "$" not in line]


def test_readme_examples_are_found():
    commands = readme_notebook_commands((ROOT / "README.md").read_text())
    assert any(c.startswith(".venv/bin/papermill ") for c in commands), commands
    assert any(c.startswith(".venv/bin/aad notebook ") for c in commands), commands
    sample = "```bash\n.venv/bin/papermill a.ipynb b.ipynb -p x 1   # note\n.venv/bin/aad notebook 01 $S\necho\n```"
    assert readme_notebook_commands(sample) == [".venv/bin/papermill a.ipynb b.ipynb -p x 1"]


def _executed_notebook(argv: list[str], project: Path) -> Path:
    """The executed copy a papermill or `aad notebook` command wrote."""
    if argv[0] == "papermill":
        return project / argv[2]
    return project / "reports" / "notebooks" / f"{argv[2]}.ipynb"


def _mtimes(folder: Path) -> dict[Path, int]:
    return {path: path.stat().st_mtime_ns for path in folder.rglob("*") if path.is_file()}


@pytest.mark.slow
def test_readme_notebook_examples_run_as_written(smoke_project, tmp_path):
    project = copy_project(smoke_project, tmp_path / "project")
    commands = readme_notebook_commands((ROOT / "README.md").read_text())
    seconds = {}
    for command in commands:
        argv = shlex.split(command)
        argv[0] = argv[0].removeprefix(".venv/bin/")  # this environment's commands (project_env's PATH)
        executed = _executed_notebook(argv, project)
        executed.unlink(missing_ok=True)
        pipeline_tables = _mtimes(project / "reports" / "tables")
        start = time.perf_counter()
        run_command([str(Path(sys.executable).parent / argv[0]), *argv[1:]], project, env=project_env(project))
        seconds[command] = round(time.perf_counter() - start, 1)
        if "reports_dir" in argv:  # what the notebook wrote went there, and the pipeline's tables stay
            elsewhere = project / argv[argv.index("reports_dir") + 1]
            assert list((elsewhere / "tables").glob("*.csv")), f"{command}: nothing written to {elsewhere}"
            assert _mtimes(project / "reports" / "tables") == pipeline_tables, command
        nb = nbformat.read(executed, as_version=4)
        errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, (command, errors[0].get("evalue"))
        texts = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
        assert "profile 'smoke'" in texts, command  # the setup cell ran on the project's (smoke) parameters
    print("seconds per README example:", seconds)
