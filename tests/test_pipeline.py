"""End to end: the smoke profile through the real DVC pipeline (every notebook via papermill),
then bad inputs against the finished project must fail clearly and leave its results alone."""
import json
import subprocess
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml

from .conftest import ROOT, run_command

def _run(cmd, cwd, check=True):
    return run_command(cmd, cwd, check)


def test_every_notebook_is_thin_and_a_dvc_stage():
    stages = (ROOT / "dvc.yaml").read_text()
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{path.name} needs exactly one cell tagged 'parameters'"
        assert f"aad notebook {path.stem}" in stages, f"{path.name} is not run by dvc.yaml"
        assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), f"{path.name} has outputs committed"


@pytest.mark.slow
def test_smoke_pipeline_builds_every_report(smoke_project):
    root = smoke_project
    params = yaml.safe_load((root / "params.yaml").read_text())
    assert _run(["dvc", "status"], root).stdout.strip() == "Data and pipelines are up to date."
    run = params["run"]
    for method in run["methods"] + run["extra_methods"]:
        summary = json.loads((root / "reports" / "eval" / f"{method}-seed0" / "summary.json").read_text())
        assert summary["n"] == params["evaluate"]["samples"]
        records = pd.read_csv(root / "reports" / "eval" / f"{method}-seed0" / "records.csv")
        assert len(records) == summary["n"]
    table = pd.read_csv(root / "reports" / "tables" / "03_table2.csv", index_col=0)
    rows = ["RAW", "Madry adv", "Kannan ALP", "TRADES", "ALP + Guided Dropout", "ALP + adaptive weighting", "AALP"]
    assert {f"{r} (ours)" for r in rows} | {f"{r} (paper)" for r in rows} <= set(table.index)
    ablation = pd.read_csv(root / "reports" / "tables" / "02_ablation_gd.csv", index_col=0)
    assert "Madry + Guided Dropout (ours, MNIST-5k)" in ablation.index and "ALP + Guided Dropout (paper, SVHN)" in ablation.index
    sweep = pd.read_csv(root / "reports" / "tables" / "03_lambda_sweep.csv", index_col=0)
    assert sorted(sweep.index) == [0.5, 2.0]
    assert sweep.filter(like=": uncertainty").notna().all().all() and len(sweep.filter(like=": uncertainty").columns) >= 2
    consistent = pd.read_csv(root / "reports" / "tables" / "03_table4_consistent_uncertainty.csv", index_col=0)
    assert consistent.loc["mean"].str.contains("seeds|\\[").all()
    # the differences every claim on a training method is read from: two-level intervals, runs counted
    from aad_lib.run_bootstrap import INTERVAL
    for stem in ("02_ablation_gd_differences", "03_aalp_vs_alp", "03_lambda_differences", "03_table4_consistent_difference",
                 "04_defense_differences", "05_greybox_runs"):
        differences = pd.read_csv(root / "reports" / "tables" / f"{stem}.csv")
        assert len(differences) and set(differences["interval"]) == {INTERVAL}, stem
        assert (differences["ci_low"] <= differences["difference"] + 1e-9).all(), stem
        assert (differences["difference"] <= differences["ci_high"] + 1e-9).all(), stem
        assert differences["seeds_a"].min() >= 1 and differences["seeds_b"].min() >= 1, stem
    for stage in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"].values():
        for entry in stage.get("plots", []):
            path = next(iter(entry)) if isinstance(entry, dict) else entry
            if path.endswith(".png"):
                assert (root / path.replace("${reports.dir}", "reports")).stat().st_size > 10_000, path
    for name in ("01_data_analysis", "02_guided_dropout", "03_adaptive_weighting"):
        executed = nbformat.read(root / "reports" / "notebooks" / f"{name}.ipynb", as_version=4)
        assert not [o for c in executed.cells for o in c.get("outputs", []) if o.get("output_type") == "error"], name
        answers = [o for c in executed.cells for o in c.get("outputs", [])
                   if "Answer" in str(o.get("data", {}).get("text/markdown", ""))]
        assert answers, f"{name} states no answer"
    for name in ("04_attention_rectification", "05_compression_defenses"):
        executed = nbformat.read(root / "reports" / "notebooks" / f"{name}.ipynb", as_version=4)
        assert not [o for c in executed.cells for o in c.get("outputs", []) if o.get("output_type") == "error"], name
    verdicts = pd.read_csv(root / "reports" / "tables" / "05_verdicts.csv", index_col=0)
    assert set(verdicts["verdict"]) <= {"survives adaptive attacks", "holds only against the grey-box protocol", "does not help"}
    gap = pd.read_csv(root / "reports" / "tables" / "05_gap.csv", index_col=0)
    assert {"no defense", "flip + WebP q60", "ComDefend", "ComDefend (res_encoder)"} <= set(gap.index)
    assert _run(["dvc", "metrics", "show"], root).returncode == 0


@pytest.mark.slow
def test_bad_inputs_fail_clearly_and_touch_nothing(smoke_project):
    root = smoke_project
    watched = sorted(p for d in ("models", "reports") for p in (root / d).rglob("*") if p.is_file())
    before = {p: p.stat().st_mtime_ns for p in watched}
    cases = [
        (["aad", "train", "--method", "madri"], "Did you mean 'madry'"),
        (["aad", "train", "--method", "madry", "--set", "train.epoch=2"], "Did you mean 'epochs'"),
        (["aad", "train", "--method", "madry", "--set", "train.attack.eps=-0.3"], "attack.eps must be a finite number >= 0"),
        (["aad", "evaluate", "--method", "alp", "--set", "evaluate.eps=-1"], "eps must be a finite number >= 0"),
        (["aad", "evaluate", "--method", "madry", "--seed", "7"], "does not exist"),
        (["aad", "data", "prepare", "--set", "data.name=cifar"], "Did you mean 'cifar10'"),
        (["aad", "notebook", "99_nothing"], "unknown notebook"),
        (["aad", "profile", "use", "paper-mnst"], "Did you mean 'paper-mnist'"),
    ]
    for cmd, message in cases:
        out = _run(cmd, root, check=False)
        assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr, (cmd, out.stderr)
    # a truncated model checkpoint is refused, and the evaluation it would have overwritten survives
    model = root / "models" / "trades" / "seed0" / "model.pt"
    blob = model.read_bytes()
    model.write_bytes(blob[:1000])
    out = _run(["aad", "evaluate", "--method", "trades"], root, check=False)
    model.write_bytes(blob)
    assert out.returncode == 2 and "corrupt or was modified" in out.stderr
    assert {p: p.stat().st_mtime_ns for p in watched if p != model} == {p: t for p, t in before.items() if p != model}
