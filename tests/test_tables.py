"""Result tables from evaluation summaries: seed means and spreads, groups, the lambda sweep."""
import json

import pytest

from aad_lib import config, pipeline, tables
from aad_lib.params import parse
from aad_lib.sections.aalp import tables as aalp_tables

from .conftest import ROOT


def _write(params, method, seed, accs, n=100):
    out = pipeline.eval_dir(params, method, seed)
    out.mkdir(parents=True, exist_ok=True)
    summary = {"method": method, "seed": seed, "n": n, "eval_seed": 0, "eps": 0.3, "alpha": 0.01, "seconds": 1.0,
               "columns": list(accs),
               "accuracy": {c: {"accuracy": a, "n": n, "ci_low": a - 0.05, "ci_high": a + 0.05} for c, a in accs.items()}}
    (out / "summary.json").write_text(json.dumps(summary))


@pytest.fixture
def params(tmp_path):
    raw = config.resolve_profile("default", ROOT)
    raw["reports"]["dir"] = str(tmp_path / "reports")
    raw["run"].update(methods=["alp", "aalp"], seeds=[0, 1], extra_methods=["aalp-lambda2"], extra_seeds=[0])
    p = parse(raw)
    _write(p, "alp", 0, {"Clean": 0.90, "PGD-40": 0.70})
    _write(p, "alp", 1, {"Clean": 0.92, "PGD-40": 0.74})
    _write(p, "aalp", 0, {"Clean": 0.88, "PGD-40": 0.80})
    _write(p, "aalp", 1, {"Clean": 0.86, "PGD-40": 0.76})
    _write(p, "aalp-lambda2", 0, {"Clean": 0.80, "PGD-40": 0.82})
    return p


def test_accuracy_table_means_and_seed_range(params):
    means, spread = tables.accuracy_table(params)
    assert means.loc["alp", "PGD-40"] == pytest.approx(72.0) and means.loc["aalp", "Clean"] == pytest.approx(87.0)
    assert spread.loc["aalp", "PGD-40"] == "76.0-80.0 (2 seeds)"
    only, _ = tables.accuracy_table(params, methods=["aalp"], columns=["PGD-40"])
    assert list(only.index) == ["aalp"] and list(only.columns) == ["PGD-40"]
    sweep, sweep_spread = tables.accuracy_table(params, group="extra")
    assert list(sweep.index) == ["aalp-lambda2"] and sweep_spread.loc["aalp-lambda2", "PGD-40"] == "[73.3, 88.3]"


def test_seed_accuracies_and_lambda_sweep(params):
    assert tables.seed_accuracies(params, "alp", "PGD-40") == pytest.approx([70.0, 74.0])
    sweep = aalp_tables.lambda_sweep(params, "aalp")
    assert sweep["lambda"].tolist() == [0.5, 0.5, 2.0] and sweep["PGD-40"].tolist() == pytest.approx([80.0, 76.0, 82.0])
    assert sweep["method"].tolist() == ["aalp", "aalp", "aalp-lambda2"]
    table = aalp_tables.lambda_sweep_table(sweep, ["PGD-40"])
    assert table.loc[0.5, "PGD-40: mean"] == pytest.approx(78.0) and table.loc[0.5, "PGD-40: count"] == 2
    assert table.loc[0.5, "PGD-40: uncertainty"] == "76.0-80.0 (2 seeds)"
    assert table.loc[2.0, "PGD-40: uncertainty"] == "[73.3, 88.3]"


def test_seeds_uncertainty_is_wilson_for_one_seed_and_the_range_for_several():
    # hand case: 82 of 100, z = 1.96: centre (0.82 + 1.96^2/200) / (1 + 1.96^2/100) = 0.8082,
    # half 1.96 sqrt(0.82 * 0.18 / 100 + 1.96^2 / 40000) / 1.0384 = 0.0748
    assert tables.seeds_uncertainty([82.0], 100) == "[73.3, 88.3]"
    assert tables.seeds_uncertainty([100.0], 50) == "[92.9, 100.0]"
    assert tables.seeds_uncertainty([70.0, 74.0, 71.5], 100) == "70.0-74.0 (3 seeds)"
    with pytest.raises(pipeline.AadError, match="at least one accuracy"):
        tables.seeds_uncertainty([], 100)


def test_seed_rows_uncertainty_gives_every_cell_an_interval():
    import pandas as pd

    share = pd.DataFrame({"ALP": [82.0, 80.0], "AALP": [90.0, 91.0]}, index=["seed 0", "seed 1"])
    table = tables.seed_rows_uncertainty(share, 100)
    assert table.loc["seed 0", "ALP"] == "[73.3, 88.3]"
    assert table.loc["mean", "ALP"] == "80.0-82.0 (2 seeds)" and table.loc["mean", "AALP"] == "90.0-91.0 (2 seeds)"


def test_flatten_columns_joins_levels():
    import pandas as pd

    frame = pd.DataFrame([[1, 2]], columns=pd.MultiIndex.from_tuples([("mean", "n"), ("PGD-40", "")]))
    assert list(tables.flatten_columns(frame).columns) == ["mean: n", "PGD-40"]
    plain = pd.DataFrame({"a": [1]})
    assert tables.flatten_columns(plain) is plain


def test_contribution_by_method_aggregates_seeds_beside_accuracy(params):
    import pandas as pd

    summary = pd.DataFrame({"method": ["alp", "alp", "aalp"], "seed": [0, 1, 0], "median": [1.0, 3.0, 5.0]})
    table = aalp_tables.contribution_by_method(params, summary, "PGD-40")
    assert table.loc["alp", "median: mean"] == 2.0 and table.loc["alp", "median: max"] == 3.0
    assert table.loc["alp", "PGD-40 accuracy (%), mean"] == pytest.approx(72.0)
    assert table.loc["aalp", "PGD-40 accuracy (%), mean"] == pytest.approx(78.0)
    assert table.loc["alp", "PGD-40 accuracy (%), uncertainty"] == "70.0-74.0 (2 seeds)"
