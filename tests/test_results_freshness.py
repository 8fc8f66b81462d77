"""Results stale against params.yaml are refused with the fix named (aad_lib.results.check_fresh):
a notebook opened after an edit of params.yaml without `dvc repro`, or on another profile's results,
must not silently read them."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from aad_lib import config
from aad_lib.pipeline import eval_config
from aad_lib.results import check_fresh, read_summaries
from aad_lib.validation import AadError

from .conftest import ROOT


def _params(reports: Path, *overrides: str):
    return config.load_params(ROOT / "params.yaml", [f"reports.dir={reports}", *overrides])


def _summary(params) -> dict:
    cfg = eval_config(params)
    return {"dataset": params.data.name, "eps": cfg.eps, "alpha": cfg.alpha, "columns": cfg.columns(),
            "eval_seed": cfg.seed, "n": params.evaluate.samples, "method": "alp", "seed": 0}


def test_a_summary_of_the_current_protocol_passes(tmp_path: Path) -> None:
    params = _params(tmp_path)
    check_fresh(params, "alp", 0, _summary(params))


@pytest.mark.parametrize("override, named", [
    ("evaluate.eps=0.1", "eps 0.3 (params.yaml: 0.1)"),
    ("evaluate.alpha=0.02", "alpha 0.01 (params.yaml: 0.02)"),
    ("evaluate.cw_steps=[10, 40]", "columns"),   # CW-20 and CW-100 evaluated, no longer asked for
    ("evaluate.seed=3", "eval_seed 0 (params.yaml: 3)"),
])
def test_a_changed_protocol_is_named_with_the_fix(tmp_path: Path, override: str, named: str) -> None:
    summary = _summary(_params(tmp_path))
    with pytest.raises(AadError, match="stale against params.yaml") as err:
        check_fresh(_params(tmp_path, override), "alp", 0, summary)
    assert named in str(err.value) and "`dvc repro`" in str(err.value)


def test_the_image_count_is_checked_against_the_test_split(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "dataset.json").write_text(json.dumps({"test": {"n": 300}}))
    params = _params(tmp_path, "evaluate.samples=400")  # more than the split has: 300 were evaluated
    check_fresh(params, "alp", 0, {**_summary(params), "n": 300})
    with pytest.raises(AadError, match=r"n 300 \(params.yaml: 200\)"):
        check_fresh(_params(tmp_path, "evaluate.samples=200"), "alp", 0, {**_summary(params), "n": 300})


def test_read_summaries_refuses_a_stale_one(tmp_path: Path) -> None:
    params = _params(tmp_path)
    folder = tmp_path / "eval" / "alp-seed0"
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps({**_summary(params), "eps": 0.2}))
    with pytest.raises(AadError, match="alp-seed0 is stale"):
        read_summaries(params)


def test_only_what_the_summary_records_is_compared(tmp_path: Path) -> None:
    params = _params(tmp_path)
    check_fresh(params, "alp", 0, {"eps": 0.3, "columns": ["Clean", "PGD-40"]})  # a subset of the columns is fine
    with pytest.raises(AadError, match="columns"):
        check_fresh(params, "alp", 0, {"columns": ["Clean", "PGD-7"]})
