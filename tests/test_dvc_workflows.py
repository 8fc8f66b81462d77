"""The DVC paths a reader takes with a finished run, each tried as that reader would, on a git
repository holding the session's smoke run (dvc.lock and reports/ committed, as this repository
commits its default run):

- share: `dvc push` to a store, `git clone` + `dvc pull` elsewhere gives `dvc status` clean, and a
  notebook then runs on the pulled results without training anything;
- explore: `dvc exp run -S ...` and `dvc exp run --queue` + `dvc queue start` rerun only what the
  change touches, `dvc exp show` shows the parameter beside the headline metrics only, and a profile
  switch after queueing does not change what a queued experiment runs;
- compare: the top-level plots (`dvc plots show`) overlay every method of the run.

Experiments target the `series` stage (the headline metrics), so they retrain one model and skip
the notebooks; `dvc exp run` without a target reruns them too (README, "Sharing results").
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from .conftest import ROOT, run_command
from .project_copies import project_env

pytestmark = pytest.mark.slow

GIT = ["git", "-c", "user.name=aad tests", "-c", "user.email=tests@aad.invalid"]


def _run(cmd: list[str], root: Path, check: bool = True):
    """``cmd`` in ``root`` with that project's copied aad_lib first on the path (the code under test)."""
    return run_command(cmd, root, check=check, env=project_env(root))


def _committed_copy(smoke_project: Path, target: Path) -> Path:
    """``smoke_project`` (its DVC cache included) as a git repository with everything git tracks committed."""
    shutil.copytree(smoke_project, target, symlinks=True)
    shutil.rmtree(target / ".dvc" / "tmp", ignore_errors=True)
    run_command(GIT + ["add", "-A"], target)
    run_command(GIT + ["commit", "-q", "-m", "the smoke run"], target)
    return target


def _dvc_status_clean(root: Path) -> None:
    out = _run(["dvc", "status"], root).stdout
    assert "up to date" in out, f"dvc status is not clean in {root}:\n{out}"


def test_push_then_pull_into_a_fresh_clone_needs_no_training(smoke_project: Path, tmp_path: Path) -> None:
    origin = _committed_copy(smoke_project, tmp_path / "origin")
    tracked = _run(["git", "ls-files"], origin).stdout.split()
    assert "dvc.lock" in tracked and "reports/metrics/headline.json" in tracked
    assert not [f for f in tracked if f.startswith(("models/", "artifacts/", "data/")) or f.endswith("records.csv")]
    store = tmp_path / "team-store"
    _run(["dvc", "remote", "modify", "--local", "store", "url", str(store)], origin)
    _run(["dvc", "push"], origin)

    clone = tmp_path / "clone"
    _run(["git", "clone", "-q", str(origin), str(clone)], tmp_path)
    assert not (clone / ".dvc" / "cache").exists() and not (clone / "models").exists()  # git carried none of it
    refused = _run(["aad", "remote"], clone, check=False)  # the default store beside the clone: not there
    assert refused.returncode == 2 and "does not exist on this machine" in refused.stderr
    assert "dvc remote modify --local store url" in refused.stderr
    _run(["dvc", "remote", "modify", "--local", "store", "url", str(store)], clone)
    assert _run(["aad", "remote"], clone).stdout.strip() == f"store: {store}"
    _run(["dvc", "pull"], clone)
    _dvc_status_clean(clone)
    assert "Running stage" not in _run(["dvc", "repro", "--dry"], clone).stdout
    models = sorted((clone / "models").rglob("model.pt"))
    assert models, "dvc pull brought no checkpoint"
    before = {p: p.stat().st_mtime_ns for p in models}
    _run(["aad", "notebook", "02_guided_dropout"], clone)
    assert {p: p.stat().st_mtime_ns for p in models} == before  # read, not retrained


def _exp_show(root: Path) -> pd.DataFrame:
    out = _run(["dvc", "exp", "show", "--csv"], root).stdout
    from io import StringIO

    return pd.read_csv(StringIO(out))


def _wait_for_queue(root: Path, timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = _run(["dvc", "queue", "status"], root).stdout
        if not any(word in status for word in ("Queued", "Running")):
            assert "Failed" not in status, status + _run(["dvc", "queue", "logs", "alp-w025"], root, check=False).stdout
            return
        time.sleep(3)
    raise AssertionError(f"the queue did not finish in {timeout} s:\n{status}")


def test_experiments_set_queue_and_show_headline_metrics(smoke_project: Path, tmp_path: Path) -> None:
    root = _committed_copy(smoke_project, tmp_path / "explore")
    committed_log = pd.read_csv(root / "reports" / "train" / "alp-seed0.csv")

    ran = _run(["dvc", "exp", "run", "-n", "alp-w1", "-S", "methods.alp.alp_weight=1.0", "series"], root).stdout
    stages = {line.split("'")[1] for line in ran.splitlines() if line.startswith("Running stage")}
    assert stages == {"train@alp-0", "evaluate@alp-0", "series"}, ran
    assert not pd.read_csv(root / "reports" / "train" / "alp-seed0.csv")["loss"].equals(committed_log["loss"])

    _run(["git", "checkout", "-q", "--", "."], root)
    _run(["dvc", "checkout", "--force"], root)
    _run(["dvc", "exp", "run", "--queue", "-n", "alp-w025", "-S", "methods.alp.alp_weight=0.25", "series"], root)
    _run(["aad", "profile", "use", "default"], root)  # switching the profile after queueing ...
    _run(["dvc", "queue", "start"], root)
    _wait_for_queue(root)
    _run(["git", "checkout", "-q", "--", "params.yaml"], root)  # the workspace back on the committed smoke profile

    table = _exp_show(root).set_index("Experiment")
    weight = "methods.alp.alp_weight"
    assert table.loc["alp-w1", weight] == 1.0 and table.loc["alp-w025", weight] == 0.25
    assert table.loc["alp-w025", "data.train_subset"] == 500  # ... leaves the queued smoke experiment as queued
    # the metrics are the headline's three per method (the other reports/ columns are dependency hashes)
    assert {"alp.Clean", "alp.PGD-5", "aalp.AutoAttack"} <= set(table.columns), list(table.columns)
    assert not any("summary.json" in c or "ci_low" in c or c.endswith(".n") for c in table.columns)
    changed = _run(["dvc", "exp", "show", "--only-changed", "--csv"], root).stdout.splitlines()[0].split(",")
    assert weight in changed and "data.train_subset" not in changed, changed
    names = _run(["dvc", "exp", "ls", "--name-only"], root).stdout.split()
    assert sorted(names) == ["alp-w025", "alp-w1"]
    diff = json.loads(_run(["dvc", "plots", "diff", *names, "--json"], root).stdout)
    assert {r["rev"] for r in diff["data"]["training_curves"][0]["content"]["data"]["values"]} == set(names)
    _run(["dvc", "exp", "apply", "alp-w1"], root)
    assert yaml.safe_load((root / "params.yaml").read_text())["methods"]["alp"]["alp_weight"] == 1.0


def test_readme_shows_the_experiment_commands_this_file_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    for line in (".venv/bin/dvc exp run -n alp-w1 -S methods.alp.alp_weight=1.0 series",
                 ".venv/bin/dvc exp run --queue -n alp-w025 -S methods.alp.alp_weight=0.25 series",
                 ".venv/bin/dvc queue start", ".venv/bin/dvc exp show --only-changed",
                 ".venv/bin/dvc plots diff $(.venv/bin/dvc exp ls --name-only)", ".venv/bin/dvc exp apply alp-w1",
                 "make push", "make pull"):
        assert line in readme, f"README no longer shows `{line}` (tests/test_dvc_workflows.py runs it)"


def test_top_level_plots_overlay_every_method(smoke_project: Path) -> None:
    shown = json.loads(_run(["dvc", "plots", "show", "--json"], smoke_project).stdout)
    assert not shown.get("errors"), shown["errors"]
    plots = shown["data"]
    methods = {p.parent.name.rsplit("-seed", 1)[0] for p in (smoke_project / "reports" / "eval").glob("*/summary.json")}
    for name, x in (("training_curves", "epoch"), ("robust_vs_steps", "steps")):
        spec = plots[name][0]["content"]
        rows = spec["data"]["values"]
        assert {r["method"] for r in rows} == methods  # every classifier trained and evaluated, none left out
        assert all(x in r for r in rows)
    steps = plots["robust_vs_steps"][0]["content"]
    assert steps["spec"]["encoding"]["color"]["field"] == "method" and steps["facet"]["column"]["field"] == "attack"
    assert {r["method"] for r in steps["data"]["values"]} == methods
    out = smoke_project.parent / f"{smoke_project.name}.plots"
    _run(["dvc", "plots", "show", "-o", str(out)], smoke_project)
    assert (out / "index.html").stat().st_size > 1000
    curves = plots["training_curves"][0]["content"]
    assert curves["encoding"]["color"]["field"] == "method" and curves["encoding"]["detail"]["field"] == "seed"
