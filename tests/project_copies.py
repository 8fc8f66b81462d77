"""Copies of the finished smoke project for tests that write into a project (running a notebook
rewrites its tables and figures): the session's ``smoke_project`` stays as `dvc repro` left it for
the tests that check its outputs and `dvc status`."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def copy_project(source: Path, target: Path) -> Path:
    """``source`` (a project that ran the pipeline) copied to ``target`` with its data, models and
    reports, without DVC's cache and temporary files (no test here runs DVC in the copy)."""
    def skip(folder: str, names: list[str]) -> set[str]:
        return {"cache", "tmp"} & set(names) if Path(folder) == source / ".dvc" else set()

    shutil.copytree(source, target, ignore=skip)
    return target


def project_env(project: Path) -> dict[str, str]:
    """The environment of a command or kernel run in ``project``: its copied aad_lib (the code
    under test) first on the path, and this interpreter's commands (`aad`, `papermill`) first."""
    return {**os.environ,
            "PYTHONPATH": os.pathsep.join([str(project), os.environ.get("PYTHONPATH", "")]),
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
