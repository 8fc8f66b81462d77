"""The run's manifest on the report's index: the commit the site was built from, the profile, the
versions of the packages the numbers depend on, the device the stages ran on and this machine's
CPU/GPU model, and the wall time of every stage that records one (the evaluations'
``timing.json``, the training logs' per-epoch ``seconds``, papermill's duration of each notebook)."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import nbformat
import pandas as pd

from ..validation import AadError

PACKAGES = ("torch", "torchvision", "timm", "numpy", "dvc", "papermill", "torchattacks")


@dataclass(frozen=True)
class StageTime:
    """One stage's wall time: its kind (``train``, ``evaluate``, ``notebook``), what it ran
    (``alp-seed0``), the seconds, the file they were read from, and a detail (device, epochs)."""

    kind: str
    name: str
    seconds: float
    source: str
    detail: str = ""


@dataclass(frozen=True)
class Manifest:
    """Everything the index's manifest shows (:func:`collect`)."""

    commit: str
    profile: str
    python: str
    packages: dict[str, str]
    devices: list[str]
    cpu: str
    gpu: str
    built: str
    stages: list[StageTime] = field(default_factory=list)

    def totals(self) -> dict[str, float]:
        """Seconds per stage kind, in the order the kinds first appear."""
        out: dict[str, float] = {}
        for stage in self.stages:
            out[stage.kind] = out.get(stage.kind, 0.0) + stage.seconds
        return out


def git_commit(root: str | Path) -> str:
    """``<sha> (branch)`` of the repository at ``root``, `` + uncommitted changes`` when the tree
    differs from it; says so when ``root`` is no repository or has no commit yet."""
    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)

    try:
        head = git("rev-parse", "HEAD")
    except FileNotFoundError:
        return "unknown (git is not installed)"
    if head.returncode:
        inside = git("rev-parse", "--is-inside-work-tree").returncode == 0
        return "no commit yet" if inside else "not a git repository"
    branch = git("rev-parse", "--abbrev-ref", "HEAD").stdout.strip()
    dirty = git("status", "--porcelain", "--untracked-files=no").stdout.strip()
    return f"{head.stdout.strip()} ({branch})" + (" + uncommitted changes" if dirty else "")


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed version of each package (``not installed`` where missing)."""
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def cpu_model() -> str:
    """This machine's CPU model (``/proc/cpuinfo`` on Linux, else the platform's word), with the
    number of logical cores."""
    name = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        name = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                     if line.startswith("model name")), "")
    name = name or platform.processor() or platform.machine() or "unknown CPU"
    return f"{name}, {os.cpu_count()} logical cores"


def gpu_model() -> str:
    """This machine's CUDA GPU model(s), or ``none`` when torch sees no CUDA device."""
    import torch

    if not torch.cuda.is_available():
        return "none (torch sees no CUDA device)"
    return ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))


def stage_times(reports: str | Path) -> list[StageTime]:
    """The wall time of every stage that left one under ``reports``: training (sum of the log's
    per-epoch ``seconds``), evaluation (``timing.json``: seconds plus AutoAttack's) and notebooks
    (papermill's ``duration`` in the executed notebook's metadata)."""
    reports = Path(reports)
    times = []
    for log in sorted((reports / "train").glob("*.csv")):
        frame = pd.read_csv(log)
        if "seconds" not in frame.columns:
            raise AadError(f"training log {log} has no 'seconds' column (columns: {list(frame.columns)}).")
        kind = "train-purifier" if log.stem.startswith("comdefend-") else "train"
        times.append(StageTime(kind, log.stem, float(frame["seconds"].sum()), str(log.relative_to(reports)),
                               f"{len(frame)} epochs"))
    for timing in sorted((reports / "eval").glob("*/timing.json")):
        record = json.loads(timing.read_text())
        autoattack = float(record.get("autoattack_seconds", 0.0))
        detail = f"device {record.get('device', '?')}" + (f", AutoAttack {autoattack:.1f} s" if autoattack else "")
        times.append(StageTime("evaluate", timing.parent.name, float(record["seconds"]) + autoattack,
                               str(timing.relative_to(reports)), detail))
    for executed in sorted((reports / "notebooks").glob("*.ipynb")):
        run = nbformat.read(executed, as_version=4).metadata.get("papermill", {})
        if run.get("duration") is not None:
            times.append(StageTime("notebook", executed.stem, float(run["duration"]), str(executed.relative_to(reports)),
                                   f"started {run.get('start_time', '?')}"))
    return times


def devices(reports: str | Path) -> list[str]:
    """The devices the evaluations ran on (``timing.json``), each once."""
    found = [json.loads(p.read_text()).get("device", "?") for p in sorted(Path(reports).glob("eval/*/timing.json"))]
    return list(dict.fromkeys(found))


def collect(root: str | Path, reports: str | Path, profile: str) -> Manifest:
    """The manifest of the run under ``reports`` in the project at ``root`` (``profile``: the
    params' profile)."""
    return Manifest(
        commit=git_commit(root), profile=profile, python=sys.version.split()[0], packages=package_versions(),
        devices=devices(reports), cpu=cpu_model(), gpu=gpu_model(),
        built=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), stages=stage_times(reports))
