"""The run's DVC series, headline metrics and README section (aad_lib.site.series,
results_summary, readme_block) on a hand-made reports folder, every number computed by hand."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from aad_lib import cli
from aad_lib.site import readme_block, results_summary, series
from aad_lib.site.claims import Claim
from aad_lib.validation import AadError


def _summary(method: str, seed: int, acc: dict[str, float], autoattack: float | None = None) -> dict:
    out = {"method": method, "seed": seed, "model": "lenet_small", "n": 4, "eps": 0.3, "alpha": 0.01,
           "eval_seed": 0, "columns": list(acc),
           "accuracy": {k: {"accuracy": v, "n": 4, "ci_low": 0.0, "ci_high": 1.0} for k, v in acc.items()}}
    if autoattack is not None:
        out["autoattack"] = {"clean_acc": 1.0, "autoattack_acc": autoattack, "n": 2}
    return out


@pytest.fixture()
def reports(tmp_path: Path) -> Path:
    root = tmp_path / "reports"
    for name, rows in {"alp+gd-seed0": [(1, 0.9, 0.2), (2, 0.95, 0.4)], "alp+gd-seed1": [(1, 0.8, 0.1)],
                       "aalp-lambda2-seed0": [(1, 0.7, 0.3)]}.items():
        path = root / "train" / f"{name}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows, columns=["epoch", "test_clean_acc", "test_adv_acc"]).assign(seconds=1.0).to_csv(path, index=False)
    pd.DataFrame({"epoch": [1], "test_psnr": [20.0]}).to_csv(root / "train" / "comdefend-plain-seed0.csv", index=False)
    cells = {"alp+gd-seed0": _summary("alp+gd", 0, {"Clean": 1.0, "FGSM": 0.75, "PGD-10": 0.5, "PGD-40": 0.25,
                                                    "CW-40": 0.5}, autoattack=0.5),
             "alp+gd-seed1": _summary("alp+gd", 1, {"Clean": 0.75, "FGSM": 0.5, "PGD-10": 0.5, "PGD-40": 0.5,
                                                    "CW-40": 0.25}),
             "aalp-lambda2-seed0": _summary("aalp-lambda2", 0, {"Clean": 0.5, "FGSM": 0.25})}
    for name, summary in cells.items():
        (root / "eval" / name).mkdir(parents=True)
        (root / "eval" / name / "summary.json").write_text(json.dumps(summary))
    (root / "data").mkdir()
    (root / "data" / "dataset.json").write_text(json.dumps({"dataset": "mnist5k", "classes": list("0123456789"),
                                                            "train": {"n": 4000}, "test": {"n": 1000}}))
    (root / "tables").mkdir()
    (root / "tables" / "03_table2.md").write_text("| | Clean |\n|:--|--:|\n| AALP (ours) | 95.30 |\n")
    (root / "tables" / "05_verdicts.md").write_text("| | worst grey-box |\n|:--|:--|\n| flip | 72.0 [62.5, 79.9] |\n")
    (root / "tables" / "05_protocol.csv").write_text(",value\nclassifier,standard+flip seed 0\ntest images,100\neps,0.1\n")
    return root


def test_model_names_split_at_the_last_seed_suffix() -> None:
    assert series.model_name("aalp-lambda0p1-seed12") == ("aalp-lambda0p1", 12)
    assert series.model_name("alp+gd-seed0") == ("alp+gd", 0)
    with pytest.raises(AadError, match="<method>-seed<seed>"):
        series.model_name("alp-0")


def test_training_curves_stack_the_classifiers_logs_and_leave_out_the_purifiers(reports: Path) -> None:
    curves = series.training_curves(reports)
    assert list(curves.columns) == series.CURVE_COLUMNS
    assert curves[["method", "seed", "epoch"]].values.tolist() == [
        ["aalp-lambda2", 0, 1], ["alp+gd", 0, 1], ["alp+gd", 0, 2], ["alp+gd", 1, 1]]
    assert curves["test_adv_acc"].tolist() == [0.3, 0.2, 0.4, 0.1]


def test_a_training_log_without_the_accuracies_is_an_error_naming_it(reports: Path) -> None:
    pd.DataFrame({"epoch": [1], "loss": [0.1]}).to_csv(reports / "train" / "madry-seed0.csv", index=False)
    with pytest.raises(AadError, match="madry-seed0.csv lacks"):
        series.training_curves(reports)


def test_robust_vs_steps_has_one_row_per_iterative_column_in_percent(reports: Path) -> None:
    steps = series.robust_vs_steps(reports)
    assert list(steps.columns) == series.STEPS_COLUMNS
    assert steps.values.tolist() == [
        ["alp+gd", 0, "CW", 40, 50.0], ["alp+gd", 0, "PGD", 10, 50.0], ["alp+gd", 0, "PGD", 40, 25.0],
        ["alp+gd", 1, "CW", 40, 25.0], ["alp+gd", 1, "PGD", 10, 50.0], ["alp+gd", 1, "PGD", 40, 50.0]]


def test_headline_means_clean_the_strongest_pgd_and_autoattack_over_seeds(reports: Path) -> None:
    assert series.headline(reports) == {
        "aalp-lambda2": {"Clean": 50.0},                                   # no PGD column: clean only
        "alp+gd": {"Clean": 87.5, "PGD-40": 37.5, "AutoAttack": 50.0}}    # (100+75)/2, (25+50)/2; seed 0's


def test_write_series_writes_the_three_files_dvc_reads(reports: Path) -> None:
    written = series.write_series(reports)
    assert [p.relative_to(reports).as_posix() for p in written] == [
        "plots/training_curves.csv", "plots/robust_vs_steps.csv", "metrics/headline.json"]
    assert pd.read_csv(written[1])["accuracy"].sum() == 250.0
    assert json.loads(written[2].read_text())["alp+gd"]["PGD-40"] == 37.5


def test_results_section_states_the_run_and_embeds_claims_and_tables(reports: Path) -> None:
    claims = [Claim("AALP", "AALP | ALP", "+0.78", "+0.8 [-0.3, +2.0]", "not distinguishable", "03_aalp_vs_alp", "x"),
              Claim("ARP", "obs. 1", "lower", "p = 0.001", "holds", "04_completeness", "y")]
    text = results_summary.results_markdown(reports, claims, "default")
    assert text.startswith(results_summary.BEGIN) and text.endswith(results_summary.END + "\n")
    assert ("Profile `default`: data `mnist5k` (4,000 training / 1,000 test images, 10 classes), model `lenet_small`; "
            "3 trained classifiers (training seeds 0, 1), each evaluated on the first 4 test images at eps 0.3 "
            "(step 0.01, evaluation seed 0); AutoAttack (standard) on the first 2 images of 1 of them.") in text
    assert "2 claims: 1 holds, 0 does not hold, 1 not distinguishable" in text
    assert "| AALP | AALP \\| ALP | +0.78 | +0.8 [-0.3, +2.0] | **not distinguishable** | `03_aalp_vs_alp` |" in text
    assert "| AALP (ours) | 95.30 |" in text and "03_aalp_vs_alp.md" not in text  # only the tables that exist
    assert ("**Compression defenses, one training run under both protocols: worst case over the attacks, 95% Wilson "
            "intervals; classifier standard+flip seed 0, test images 100, eps 0.1** (`reports/tables/05_verdicts.md`):"
            ) in text  # its protocol in its heading
    assert results_summary.results_markdown(reports, claims, "default") == text  # the same bytes every time


def test_results_section_needs_a_finished_run(tmp_path: Path) -> None:
    with pytest.raises(AadError, match="run the pipeline first"):
        results_summary.results_markdown(tmp_path, [], "default")


def test_readme_block_is_replaced_and_nothing_else(tmp_path: Path) -> None:
    b, e = results_summary.BEGIN, results_summary.END
    readme = f"# Title\nbefore\n{b}\nold numbers\n{e}\nafter\n"
    new = f"{b}\nnew numbers\n{e}\n"
    assert readme_block.replace_block(readme, new) == f"# Title\nbefore\n{b}\nnew numbers\n{e}\nafter\n"
    assert readme_block.readme_block(readme) == f"{b}\nold numbers\n{e}\n"
    with pytest.raises(AadError, match="no results block"):
        readme_block.replace_block("# no markers\n", new)
    with pytest.raises(AadError, match="lacks its markers"):
        readme_block.replace_block(readme, "numbers without markers\n")


def test_aad_readme_checks_rewrites_and_explains(tmp_path: Path, capsys) -> None:
    b, e = results_summary.BEGIN, results_summary.END
    readme, results = tmp_path / "README.md", tmp_path / "results.md"
    readme.write_text(f"top\n{b}\nold\n{e}\n")
    results.write_text(f"{b}\nnew\n{e}\n")
    args = ["readme", "--readme", str(readme), "--results", str(results)]
    assert cli.main(args + ["--check"]) == 2
    assert "run `make readme`" in capsys.readouterr().err
    assert readme.read_text() == f"top\n{b}\nold\n{e}\n"  # --check writes nothing
    assert cli.main(args) == 0
    assert readme.read_text() == f"top\n{b}\nnew\n{e}\n"
    assert cli.main(args + ["--check"]) == 0
    assert cli.main(["readme", "--readme", str(readme), "--results", str(tmp_path / "missing.md")]) == 2
    assert "`dvc repro`" in capsys.readouterr().err


def test_aad_series_writes_the_series_of_the_params_reports(reports: Path, tmp_path: Path, monkeypatch) -> None:
    root = Path(__file__).resolve().parents[1]
    monkeypatch.chdir(root)
    assert cli.main(["series", "--set", f"reports.dir={reports}"]) == 0
    assert (reports / "metrics" / "headline.json").is_file() and (reports / "plots" / "training_curves.csv").is_file()
