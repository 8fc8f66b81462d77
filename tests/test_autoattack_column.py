"""The AutoAttack "standard" evaluation column (aad_lib.autoattack): per image, in RobustBench's
summary fields, never above clean accuracy, never above the APGD-CE+T audit, and a clear error
without torchattacks."""
import json
import sys

import pandas as pd
import pytest
import torch
# torchattacks is a test dependency that `make setup` installs with --no-deps; a missing peer must
# fail this file at collection, not skip it.
import torchattacks

from aad_lib import autoattack, crosscheck, integrity
from aad_lib.autoattack import COLUMN, Settings
from aad_lib.params import AutoAttackParams
from aad_lib.validation import AadError

from .conftest import ROOT

CHEAP = Settings(steps=5, targets=3, queries=20)  # the published ensemble at a test's budget


@pytest.fixture(scope="module")
def trained_model() -> torch.nn.Module:
    """lenet_small trained for a few seconds on 1,000 real digits (about 90% clean): at eps 0.1
    some digits survive the APGD audit and some fall, so the two columns have something to agree on."""
    from aad_lib import data, models

    root = ROOT / "data"
    if not (root / "mnist5k" / "images.npy").exists():
        data.fetch("mnist5k", root)
    x, y = data.load("mnist5k", root, "train").tensors(n=1000)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = models.for_dataset("lenet_small", "mnist5k")
        opt = torch.optim.Adam(model.parameters(), lr=2e-3)
        for i in range(0, len(y), 50):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[i:i + 50]), y[i:i + 50]).backward()
            opt.step()
    model.zero_grad(set_to_none=True)
    return model.eval()


@pytest.fixture(scope="module")
def test_digits() -> tuple[torch.Tensor, torch.Tensor]:
    from aad_lib import data

    return data.load("mnist5k", ROOT / "data", "test").tensors(n=100)


def test_column_is_per_image_below_clean_and_leaves_the_model_as_it_was(trained_model, test_digits):
    x, y = test_digits[0][:12], test_digits[1][:12]
    trained_model.train()
    state = torch.random.get_rng_state()
    r = autoattack.standard_records(trained_model, x, y, 0.1, seed=1, batch_size=8, settings=CHEAP, progress=False)
    # the model comes back in train mode with its parameters trainable and .grad untouched; the
    # global random stream is the one it was (torchattacks reseeds it)
    assert trained_model.training and all(p.requires_grad and p.grad is None for p in trained_model.parameters())
    assert torch.equal(torch.random.get_rng_state(), state)
    assert list(r.columns) == ["Clean", COLUMN, f"conf:{COLUMN}", f"pair:{COLUMN}", f"by:{COLUMN}"] and len(r) == 12
    with torch.no_grad():
        clean = (trained_model.eval()(x).argmax(1) == y).numpy()
    assert (r["Clean"].to_numpy() == clean).all()
    assert (r[COLUMN] <= r["Clean"]).all() and r[COLUMN].sum() < r["Clean"].sum()  # it breaks some, never mends one
    wrong = ~r["Clean"]
    assert wrong.any() and (r.loc[wrong, f"by:{COLUMN}"] == "Clean").all() and not r.loc[wrong, COLUMN].any()
    broken = r["Clean"] & ~r[COLUMN]
    assert r.loc[broken, f"by:{COLUMN}"].isin(autoattack.ATTACKS).all() and (r.loc[r[COLUMN], f"by:{COLUMN}"] == "").all()
    assert ((r[f"conf:{COLUMN}"] > 0.5) <= r[COLUMN]).all() and (r[f"pair:{COLUMN}"] >= 0).all()
    again = autoattack.standard_records(trained_model, x, y, 0.1, seed=1, batch_size=8, settings=CHEAP, progress=False)
    pd.testing.assert_frame_equal(r, again)


def test_summary_has_robustbench_fields_counted_from_the_records():
    records = pd.DataFrame({"Clean": [True, True, True, False, True, False],
                            COLUMN: [True, False, True, False, None, None]})
    s = autoattack.robustbench_summary(records, 0.3, 7, CHEAP)
    assert s["n"] == 4 and s["clean_acc"] == 3 / 4 and s["autoattack_acc"] == 2 / 4
    assert s["eps"] == 0.3 and s["norm"] == "Linf" and s["version"] == "standard" and s["seed"] == 7
    assert s["attacks"] == ["APGD-CE", "APGD-T", "FAB-T", "Square"] and s["settings"]["steps"] == 5
    assert s["package"] == "torchattacks" and s["package_version"] == torchattacks.__version__
    assert s["ci_low"] < 0.5 < s["ci_high"]
    assert autoattack.PUBLISHED == Settings(steps=100, restarts=1, targets=9, queries=5000, p_init=0.8)
    with pytest.raises(AadError, match="robust under AutoAttack but wrong clean"):
        autoattack.robustbench_summary(pd.DataFrame({"Clean": [False], COLUMN: [True]}), 0.3, 0)
    with pytest.raises(AadError, match="no record carries"):
        autoattack.robustbench_summary(pd.DataFrame({"Clean": [True], COLUMN: [None]}), 0.3, 0)


def test_the_pipeline_writes_the_column_on_the_stated_subset(tmp_path, trained_model):
    """evaluate_model: the first evaluate.autoattack.samples records carry the column, the rest are
    empty; summary.json's autoattack entry is what those records say; unmatched models get none."""
    from aad_lib import config, pipeline
    from aad_lib.params import parse as parse_params

    raw = config.resolve_profile("smoke", ROOT)
    raw["data"].update(root=str(ROOT / "data"), prepared=str(tmp_path / "prepared"), train_subset=100, test_subset=20)
    raw["reports"]["dir"] = str(tmp_path / "reports")
    raw["evaluate"].update(samples=12, eps=0.3, pgd_steps=[2], cw_steps=[2], autoattack={"models": ["mad*-seed0"], "samples": 8})
    raw["progress"] = False
    params = parse_params(raw)
    pipeline.prepare_data(params)
    out = pipeline.evaluate_model(params, trained_model, tmp_path / "eval" / "madry-seed0", {"method": "madry", "seed": 0,
                                                                                              "model": "lenet_small"})
    records = pd.read_csv(out / "records.csv")
    summary = json.loads((out / "summary.json").read_text())
    assert len(records) == 12 and records[COLUMN].iloc[:8].notna().all() and records[COLUMN].iloc[8:].isna().all()
    first = records.iloc[:8]
    aa = summary["autoattack"]
    assert aa["n"] == 8 and aa["eps"] == 0.3 and aa["seed"] == params.evaluate.seed
    assert aa["clean_acc"] == first["Clean"].sum() / 8 and aa["autoattack_acc"] == first[COLUMN].astype(bool).sum() / 8
    assert aa["settings"] == vars(autoattack.PUBLISHED) and aa["package_version"] == torchattacks.__version__
    assert summary["columns"] == ["Clean", "FGSM", "PGD-2", "CW-2"]  # the table's columns are unchanged
    assert "autoattack_seconds" in json.loads((out / "timing.json").read_text())
    other = pipeline.evaluate_model(params, trained_model, tmp_path / "eval" / "standard-seed0", {"method": "standard",
                                                                                                  "seed": 0, "model": "x"})
    assert COLUMN not in pd.read_csv(other / "records.csv") and "autoattack" not in json.loads((other / "summary.json").read_text())


def test_never_above_the_apgd_audit_by_more_than_one_image_in_100(trained_model, test_digits):
    """On the same 100 digits, the ensemble (APGD-CE and APGD-T first, then FAB-T and Square) with
    the audit's iterations is never more than one image above the audit's APGD-CE+T; the check
    can fail: clean accuracy in the column's place is flagged."""
    x, y = test_digits
    steps, eps = 5, 0.1
    audit = crosscheck.autoattack_records(trained_model, x, y, eps, steps=steps, seed=0)["APGD-CE+T"]
    column = autoattack.standard_records(trained_model, x, y, eps, seed=0, settings=Settings(steps=steps, queries=100),
                                         progress=False)
    clean, standard = column["Clean"].sum(), column[COLUMN].sum()
    assert clean - audit.sum() >= 10, "the audit must break enough digits for the comparison to mean something"
    assert standard <= audit.sum() + 1
    evaluated = pd.DataFrame({COLUMN: column[COLUMN].to_numpy()})
    row = crosscheck.standard_versus_audit(evaluated[COLUMN], audit)
    assert row["AutoAttack standard n"] == 100 and row["AutoAttack standard"] == standard
    assert not integrity.standard_above_audit(row["standard above audit (points)"], 100).raised
    unattacked = crosscheck.standard_versus_audit(column["Clean"], audit)
    assert integrity.standard_above_audit(unattacked["standard above audit (points)"], 100).raised
    # an image more than the audit is tolerated, two are not
    assert not integrity.standard_above_audit(1.0, 100).raised and integrity.standard_above_audit(2.0, 100).raised


def test_the_audit_row_and_flags_show_the_column_where_the_records_have_it(trained_model, test_digits):
    from aad_lib.attacks.settings import AttackSettings

    x, y = test_digits[0][:8], test_digits[1][:8]
    evaluated = pd.DataFrame({"PGD-5": [True] * 8, COLUMN: [True, False, None, None, None, None, None, None]})
    flags, row = integrity.audit(trained_model, x, y, evaluated, ["PGD-5"], AttackSettings(0.05, 0.01, 2), 2)
    assert row["AutoAttack standard n"] == 2 and row["AutoAttack standard"] == 50.0
    assert len(flags) == 6 and flags[5].check.startswith("AutoAttack standard above the APGD audit (2 images)")
    _, without = integrity.audit(trained_model, x, y, evaluated.drop(columns=COLUMN), ["PGD-5"],
                                 AttackSettings(0.05, 0.01, 2), 2)
    assert "AutoAttack standard" not in without


def test_missing_torchattacks_names_the_install_command(monkeypatch, tiny_model, digits):
    monkeypatch.setitem(sys.modules, "torchattacks", None)  # `import torchattacks` now raises ImportError
    x, y = digits
    with pytest.raises(AadError, match=r"the AutoAttack evaluation column needs the torchattacks package.*"
                                       r"pip install --no-deps torchattacks==3\.5\.1"):
        autoattack.standard_records(tiny_model, x, y, 0.3, progress=False)
    with pytest.raises(AadError, match="the AutoAttack cross-check needs the torchattacks package"):
        crosscheck.autoattack_records(tiny_model, x, y, 0.3)


def test_params_select_models_by_their_evaluation_folder():
    from aad_lib import config
    from aad_lib.params import parse as parse_params

    p = AutoAttackParams(models=("madry-seed0", "aalp-*"), samples=100)
    assert p.applies("madry-seed0") and p.applies("aalp-seed2") and not p.applies("madry-seed1")
    assert not AutoAttackParams().applies("madry-seed0") and AutoAttackParams(models=("*",)).applies("checkpoint-mine")
    with pytest.raises(AadError, match="evaluate.autoattack.samples"):
        AutoAttackParams(samples=-1)
    for profile in ("default", "smoke", "paper-mnist", "paper-svhn", "paper-cifar10", "paper-imagenet"):
        aa = parse_params(config.resolve_profile(profile, ROOT)).evaluate.autoattack
        assert aa.models, f"profile {profile} runs AutoAttack on no model"
    assert parse_params(config.resolve_profile("paper-mnist", ROOT)).evaluate.autoattack == AutoAttackParams(("*",), 0)


def test_docstring_examples_run():
    import doctest

    assert doctest.testmod(autoattack, optionflags=doctest.NORMALIZE_WHITESPACE).failed == 0


def test_bad_models_and_inputs_are_named(tiny_model, digits):
    x, y = digits
    three = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 3))
    with pytest.raises(AadError, match="model.num_classes"):
        autoattack.standard_records(three, x, y % 3, 0.3, progress=False)
    three.num_classes = 3
    with pytest.raises(AadError, match="at least 4 classes .* this model has 3"):
        autoattack.standard_records(three, x, y % 3, 0.3, progress=False)
    with pytest.raises(AadError, match="eps"):
        autoattack.standard_records(tiny_model, x, y, -0.1, progress=False)
    with pytest.raises(AadError, match=r"\[0, 1\]"):
        autoattack.standard_records(tiny_model, x * 2, y, 0.3, progress=False)
    with pytest.raises(AadError, match="AutoAttack steps"):
        Settings(steps=0)
