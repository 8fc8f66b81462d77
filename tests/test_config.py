import pytest
import yaml

from aad_lib import config, pipeline
from aad_lib.params import parse
from aad_lib.sections.compression import purifiers
from aad_lib.validation import AadError

from .conftest import ROOT


def test_params_yaml_is_the_resolved_active_profile():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert params == config.resolve_profile(params["profile"], ROOT)


@pytest.mark.parametrize("name", ["default", "smoke", "paper-mnist", "paper-svhn", "paper-cifar10", "paper-imagenet"])
def test_every_profile_resolves_and_validates(name):
    params = config.resolve_profile(name, ROOT)
    for method in params["run"]["methods"]:
        pipeline.train_config(parse(params), method, 0)
    pipeline.eval_config(parse(params))


def test_unknown_key_gets_a_did_you_mean():
    with pytest.raises(AadError, match="Did you mean 'epochs'"):
        config.load(ROOT / "params.yaml", ["train.epoch=3"])


def test_wrong_type_is_refused():
    with pytest.raises(AadError, match="train.epochs must be an integer"):
        config.load(ROOT / "params.yaml", ["train.epochs=three"])
    with pytest.raises(AadError, match="must be a section"):
        config.load(ROOT / "params.yaml", ["train=3"])


def test_override_is_parsed_as_yaml():
    params = config.load(ROOT / "params.yaml", ["train.lr=1e-4", "run.methods=[madry]"])
    assert params["train"]["lr"] == 1e-4 and params["run"]["methods"] == ["madry"]


def test_method_settings_are_checked():
    params = config.resolve_profile("default", ROOT)
    params["methods"]["alp"] = {"alp_wieght": 1.0}
    with pytest.raises(AadError, match="Did you mean 'alp_weight'"):
        pipeline.train_config(parse(params), "alp", 0)
    with pytest.raises(AadError, match="unknown training method 'madri'. Did you mean 'madry'"):
        pipeline.train_config(parse(params), "madri", 0)
    params["methods"]["madry"] = {"epochs": 2, "attack": {"steps": 3}}
    cfg = pipeline.train_config(parse(params), "madry", 0)
    assert cfg.epochs == 2 and cfg.attack.steps == 3 and cfg.attack.eps == 0.3


@pytest.mark.parametrize("profile", ["paper-mnist", "paper-svhn", "paper-cifar10", "paper-imagenet"])
def test_paper_profiles_use_the_papers_settings(profile):
    """AALP Sec. 4.1's model, training attack, optimiser and learning rate per dataset."""
    from dataclasses import asdict

    from aad_lib.training import PAPER_SETTINGS

    params = config.resolve_profile(profile, ROOT)
    expected = PAPER_SETTINGS[params["data"]["name"]]
    cfg = pipeline.train_config(parse(params), "madry", 0)
    assert asdict(cfg.attack) == asdict(expected["attack"])
    assert (params["model"]["name"], cfg.optimizer, cfg.lr) == (expected["model"], expected["optimizer"], expected["lr"])
    # TRADES' beta: the TRADES paper's value for the dataset (the AALP paper gives none): 6 on CIFAR-10, else 1
    trades = pipeline.train_config(parse(params), "trades", 0)
    assert trades.options["trades_beta"] == (6.0 if params["data"]["name"] == "cifar10" else 1.0)


def test_named_variants_pick_a_recipe_and_are_checked():
    params = config.resolve_profile("default", ROOT)
    params["methods"]["aalp-l3"] = {"recipe": "aalp", "alp_weight": 3.0}
    cfg = pipeline.train_config(parse(params), "aalp-l3", 1)
    assert cfg.method == "aalp" and cfg.options["alp_weight"] == 3.0 and cfg.seed == 1
    params["methods"]["bad"] = {"recipe": "aalpp"}
    with pytest.raises(AadError, match="Did you mean 'aalp'"):
        pipeline.train_config(parse(params), "bad", 0)
    params["run"]["extra_methods"] = ["aalp-l33"]
    with pytest.raises(AadError, match="Did you mean 'aalp-l3'"):
        pipeline.check_params(parse(params))


def test_check_params_refuses_an_analysis_attack_that_is_not_evaluated():
    params = config.resolve_profile("smoke", ROOT)
    pipeline.check_params(parse(params))
    params["analysis"]["attack"] = "PGD-40"  # smoke evaluates PGD-2 and PGD-5 only
    with pytest.raises(AadError, match="analysis.attack"):
        pipeline.check_params(parse(params))


def test_method_names_with_dots_are_refused_before_dvc_sees_them():
    params = config.resolve_profile("default", ROOT)
    params["methods"]["aalp-l0.5"] = {"recipe": "aalp", "alp_weight": 0.5}
    params["run"]["extra_methods"] = ["aalp-l0.5"]
    with pytest.raises(AadError, match="must not contain '.'.*'aalp-l0p5'"):
        pipeline.check_params(parse(params))


@pytest.mark.parametrize("key, value, message", [
    ("defense_methods", ["standard", "arpp"], r"defense_methods entry \(a trained method\) 'arpp'. Did you mean 'arp'"),
    ("analysis_models", ["madri"], "analysis_models entry"),
    ("analysis_data", "imagenett", "analysis_data"),
    ("pgd_column", "PGD-7", "attention.pgd_column"),
    ("top_fraction", 0.0, "top_fraction"),
    ("iter_alpha", 0.9, "iter_alpha"),
])
def test_attention_settings_are_checked(key, value, message):
    _assert_refused("attention", key, value, message)


def _assert_refused(section, key, value, message):
    """The default profile passes; with ``section.key = value`` check_params refuses it with ``message``."""
    params = config.resolve_profile("default", ROOT)
    pipeline.check_params(parse(params))
    params[section][key] = value
    with pytest.raises(AadError, match=message):
        pipeline.check_params(parse(params))


def test_arp_models_form_their_own_run_group():
    params = config.resolve_profile("default", ROOT)
    assert pipeline.run_pairs(parse(params), "attention") == [(m, s) for m in ("arp", "arp-pgd") for s in (0, 1, 2)]
    assert ("arp", 0) in pipeline.run_pairs(parse(params), None) and ("arp", 0) not in pipeline.run_pairs(parse(params), "extra")
    assert pipeline.train_config(parse(params), "arp-pgd", 0).options == {"arp_alpha": 8.0, "arp_beta": 4.0, "arp_gamma": 1.0}


@pytest.mark.parametrize("key, value, message", [
    ("classifier", "standart", r"compression.classifier \(a trained method\) 'standart'. Did you mean 'standard'"),
    ("defenses", [{"name": "webpp", "quality": 60}], "unknown transform 'webpp'. Did you mean 'webp'"),
    ("defenses", [{"name": "jpeg"}], "needs quality"),
    ("defenses", [{"name": "jpeg", "quality": 101}], "quality"),
    ("defenses", ["webp"], "must be a mapping with a transform name"),
    ("comdefend_variants", ["res_decodr"], "comdefend_variants entry 'res_decodr'. Did you mean 'res_decoder'"),
    ("sweep_codecs", ["png"], "sweep_codecs entry"),
    ("alpha", 0.5, "compression.alpha"),
    ("audit", {"samples": 0, "targeted": False}, r"compression.audit.samples must be an integer >= 1, got 0"),
])
def test_compression_settings_are_checked(key, value, message):
    _assert_refused("compression", key, value, message)


def test_comdefend_is_trained_by_the_shared_loop_with_its_own_settings():
    params = config.resolve_profile("default", ROOT)
    cfg = purifiers.purifier_config(parse(params), 2)
    assert (cfg.method, cfg.batch_size, cfg.lr, cfg.options, cfg.seed) == ("comdefend", 20, 1e-3, {"comdefend_lambda": 1e-4}, 2)
    assert parse(params).compression.comdefend.seeds == (0, 1, 2)  # three training runs per variant
    spec = purifiers.purifier_spec(parse(params), "res_encoder")
    assert spec["in_channels"] == 1 and spec["sigma"] == 20.0 and spec["test_sigma"] == 1.0
    assert str(purifiers.purifier_dir(parse(params), "plain", 1)) == "models/comdefend-plain/seed1"
    with pytest.raises(AadError, match="ComDefend variant"):
        purifiers.purifier_spec(parse(params), "fancy")


def test_a_purifier_recipe_is_not_trained_as_a_classifier():
    """The recipe registry says what each recipe trains: listing comdefend as a classifier method is
    refused before anything runs, with the command that trains it."""
    params = config.resolve_profile("default", ROOT)
    params["run"]["extra_methods"] = ["comdefend"]
    with pytest.raises(AadError, match=r"'comdefend' trains a purifier, not a classifier: train it with `aad train-purifier"):
        pipeline.check_params(parse(params))
