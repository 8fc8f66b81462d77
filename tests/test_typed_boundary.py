"""The typed boundary and the small types every section shares: params parsed once into frozen
dataclasses, the one attack-settings type, the column type, the verdict wording per claim kind,
and the import log behind the stage-dependency test."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from aad_lib import config, pipeline, verdicts
from aad_lib.attacks.columns import Column, cw_twin, names
from aad_lib.attacks.settings import AttackSettings
from aad_lib.eval_config import EvalConfig
from aad_lib.params import AttentionParams, MethodSettings, Params, TrainParams, parse
from aad_lib.validation import AadError

from .conftest import ROOT


# ---------------------------------------------------------------- params

@pytest.mark.parametrize("profile", ["default", "smoke", "paper-mnist", "paper-svhn", "paper-cifar10", "paper-imagenet"])
def test_every_profile_parses_into_frozen_typed_sections(profile):
    raw = config.resolve_profile(profile, ROOT)
    params = parse(raw)
    assert isinstance(params, Params) and params.profile == profile
    assert isinstance(params.train, TrainParams) and isinstance(params.train.attack, AttackSettings)
    assert params.train.attack == AttackSettings(**raw["train"]["attack"])
    assert params.run.methods == tuple(raw["run"]["methods"]) and params.evaluate.pgd_steps == tuple(raw["evaluate"]["pgd_steps"])
    assert params.compression.comdefend.code_weight == raw["compression"]["comdefend"]["lambda"]  # `lambda` is a keyword
    assert params.attention.imagenet.size == raw["attention"]["imagenet"]["size"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.seed = 1
    with pytest.raises(TypeError):
        params.methods["alp"] = MethodSettings(None, {})  # read-only mapping
    raw["run"]["methods"].append("changed")  # parsing copied the lists: the dict is no longer read
    assert "changed" not in params.run.methods


def test_method_settings_keep_the_recipe_apart_from_the_settings():
    params = parse(config.resolve_profile("default", ROOT))
    assert params.method("aalp-lambda2") == MethodSettings("aalp", {"alp_weight": 2.0})
    assert params.method("madry").recipe is None and dict(params.method("madry").settings) == {}
    assert params.method("not-listed") == MethodSettings(None, {})  # a recipe name with no settings


def test_run_groups_pairs_and_seeds():
    params = parse(config.resolve_profile("default", ROOT))
    run = params.run
    assert run.pairs("attention") == [("arp", 0), ("arp", 1), ("arp", 2), ("arp-pgd", 0), ("arp-pgd", 1), ("arp-pgd", 2)]
    assert run.pairs("main")[:4] == [("standard", 0), ("standard", 1), ("standard", 2), ("madry", 0)]
    everything = run.pairs(None)
    assert len(everything) == len(set(everything)) == 7 * 3 + 5 * 3 + 2 * 3  # three training runs of every model
    assert run.seeds_of("alp") == [0, 1, 2] and run.seeds_of("standard+flip") == [0, 1, 2] and run.seeds_of("nope") == []
    assert run.trained() == sorted(run.trained()) and "arp-pgd" in run.trained()
    with pytest.raises(AadError, match="Did you mean 'extra'"):
        run.pairs("extras")


def test_a_missing_key_and_a_non_section_are_named():
    raw = config.resolve_profile("default", ROOT)
    del raw["evaluate"]["kappa"]
    with pytest.raises(AadError, match=r"params.evaluate.kappa is missing"):
        parse(raw)
    raw = config.resolve_profile("default", ROOT)
    raw["attention"]["imagenet"] = 3
    with pytest.raises(AadError, match=r"params.attention.imagenet must be a section"):
        parse(raw)


def test_load_params_is_the_one_checked_boundary(tmp_path):
    params = config.load_params(ROOT / "params.yaml", ["train.epochs=3", "methods.alp.alp_weight=0.25"])
    assert params.train.epochs == 3 and pipeline.train_config(params, "alp", 0).options["alp_weight"] == 0.25
    with pytest.raises(AadError, match="Did you mean 'madry'"):  # the registry check runs too
        config.load_params(ROOT / "params.yaml", ["run.methods=[madri]"])


def test_attention_check_reads_only_trained_methods_and_evaluated_columns():
    attention = parse(config.resolve_profile("default", ROOT)).attention
    assert isinstance(attention, AttentionParams)
    attention.check(["arp", "arp-pgd", "madry", "standard"], ["PGD-40", "CW-40"])
    with pytest.raises(AadError, match=r"attention.cw_column \(an evaluation column\) 'CW-40'"):
        attention.check(["arp", "arp-pgd", "madry", "standard"], ["PGD-40"])


# ---------------------------------------------------------------- attack settings and columns

def test_attack_settings_scale_for_the_warm_up_and_validate():
    a = AttackSettings(0.3, 0.1, 3)
    assert a.scaled(0.5) == AttackSettings(0.15, 0.05, 3, True, 50.0)
    assert a.scaled(0.0) == AttackSettings(0.0, 0.0, 3)  # the warm-up's first batch: no attack, and valid
    assert a.with_steps(40) == AttackSettings(0.3, 0.1, 40)
    with pytest.raises(AadError, match="attack.eps must be a finite number >= 0"):
        AttackSettings(-0.1, 0.1, 3)
    with pytest.raises(AadError, match="attack.alpha must be a finite number > 0"):
        AttackSettings(0.3, 0.0, 3)
    with pytest.raises(AadError, match="attack.steps must be an integer >= 0"):
        AttackSettings(0.3, 0.1, -1)


@pytest.mark.parametrize("name, kind, steps", [("PGD-40", "PGD", 40), ("CW-100", "CW", 100), ("BIM-10", "BIM", 10),
                                               ("Iter-LL-40", "Iter-LL", 40), ("FGSM", "FGSM", None),
                                               ("Clean", "Clean", None), ("Step-LL", "Step-LL", None),
                                               ("R+Step-LL", "R+Step-LL", None), ("DeepFool", "DeepFool", None)])
def test_column_names_round_trip(name, kind, steps):
    column = Column.parse(name)
    assert (column.kind, column.steps) == (kind, steps) and str(column) == column.name == name


@pytest.mark.parametrize("bad, message", [("PGD", "unknown column 'PGD'"), ("PGD-0", "integer >= 1"),
                                          ("XYZ-3", "unknown column 'XYZ-3'"), ("Step-LL-2", "unknown column"),
                                          (40, "must be a string")])
def test_bad_column_names_list_the_valid_forms(bad, message):
    with pytest.raises(AadError, match=message):
        Column.parse(bad)


def test_cw_twin_and_eval_config_columns():
    assert cw_twin("PGD-40") == "CW-40" and cw_twin("FGSM") is None
    assert Column.parse("PGD-40").with_kind("CW") == Column("CW", 40)
    cfg = EvalConfig(pgd_steps=[40, 10], cw_steps=[20])
    assert cfg.columns() == ["Clean", "FGSM", "PGD-10", "PGD-40", "CW-20"]
    assert cfg.strongest() == ["PGD-40", "CW-20"]
    assert EvalConfig(pgd_steps=[5], cw_steps=[]).strongest() == ["PGD-5"]
    assert names([Column("BIM", 2), Column("DeepFool")]) == ["BIM-2", "DeepFool"]


# ---------------------------------------------------------------- verdicts

def test_ordering_and_observation():
    assert verdicts.ordering([3, 2, 1]) and not verdicts.ordering([3, 3, 1]) and not verdicts.ordering([1, 2])
    assert verdicts.ordering([1, 2, 5], decreasing=False) and verdicts.ordering([7])
    assert verdicts.observation(True) == "**the paper's observation holds on our data.**"
    assert verdicts.observation(False, "H1") == "**H1 does not hold on our data.**"


def test_interval_verdicts():
    assert verdicts.interval(0.1, 2.0) == "a real difference" == verdicts.interval(-2.0, -0.1)
    assert verdicts.interval(-0.1, 2.0) == "not distinguishable from zero"
    assert verdicts.interval(0.0, 2.0, "up", "down", "same") == "same"  # touching zero is not excluding it
    assert verdicts.interval(-3.0, -1.0, "up", "down", "same") == "down"
    assert verdicts.excludes_zero(0.5, 1.0) and not verdicts.excludes_zero(-0.5, 1.0)


def test_direction_significance_tradeoff_and_yes_no():
    assert verdicts.direction(3.0, 1.0, "falls") == ("falls", "agrees")
    assert verdicts.direction(1.0, 1.0, "falls") == ("rises", "disagrees")  # no fall is not a fall
    assert verdicts.significance(True, 0.01) == "**holds**"
    assert verdicts.significance(False, 0.01) == "**is contradicted**"
    assert verdicts.significance(True, 0.05, "12 images") == "**is not supported** (no significant difference, 12 images)"
    assert verdicts.tradeoff(True, True, "a rises", "b falls") == "**holds**: a rises and b falls"
    assert verdicts.tradeoff(False, True, "a rises", "b falls") == "**holds only in part**: b falls, but not the other part (a rises)"
    assert verdicts.tradeoff(True, False, "a rises", "b falls") == "**holds only in part**: a rises, but not the other part (b falls)"
    assert verdicts.tradeoff(False, False, "a", "b") == "**does not hold**: neither part holds (a; b)"
    assert verdicts.yes_no({"x": True, "y": False}) == "- x: **yes**\n- y: **no**"


# ---------------------------------------------------------------- import log

def test_import_log_writes_the_modules_of_a_process_only_when_asked(tmp_path):
    code = "import aad_lib.attacks.columns"
    env = {**os.environ, "AAD_IMPORT_LOG": str(tmp_path / "log"), "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "log").glob("*.json")]
    assert {"aad_lib", "aad_lib.attacks", "aad_lib.attacks.columns", "aad_lib.import_log"} <= set(record["modules"])
    assert "aad_lib.sections" not in record["modules"] and record["ppid"] == os.getpid()
    quiet = {k: v for k, v in env.items() if k != "AAD_IMPORT_LOG"}
    subprocess.run([sys.executable, "-c", code], check=True, env=quiet, cwd=tmp_path)
    assert len(list((tmp_path / "log").glob("*.json"))) == 1


def test_eval_config_gives_each_column_its_attack_settings():
    cfg = EvalConfig(eps=0.2, alpha=0.05, pgd_steps=[10], cw_steps=[10], kappa=20.0, random_start=False)
    assert cfg.attack(40) == AttackSettings(0.2, 0.05, 40, random_start=False, kappa=20.0)
