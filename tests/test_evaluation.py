import pytest
import torch

from aad_lib.evaluation import EvalConfig, evaluate, summarize, wilson_interval


def test_wilson_interval_hand_case():
    lo, hi = wilson_interval(8, 10)  # classic textbook value: (0.490, 0.943)
    assert lo == pytest.approx(0.4902, abs=1e-3) and hi == pytest.approx(0.9433, abs=1e-3)
    assert wilson_interval(0, 100)[0] == 0.0 and wilson_interval(100, 100)[1] == 1.0


def test_evaluate_records_every_column_and_attacks_only_lower_accuracy(tiny_model, digits):
    x, y = digits
    cfg = EvalConfig(eps=0.3, alpha=0.05, pgd_steps=[2, 4], cw_steps=[2, 4], batch_size=16)
    records = evaluate(tiny_model, x, y, cfg, progress=False)
    attacks = ["FGSM", "PGD-2", "PGD-4", "CW-2", "CW-4"]
    assert list(records.columns) == (["index", "label", "confidence", "Clean", *attacks]
                                     + [f"conf:{a}" for a in attacks] + [f"pair:{a}" for a in attacks])
    # an attack the model survives keeps the true class on top; one it does not, loses it
    for a in attacks:
        assert ((records[f"conf:{a}"] > 0.5) <= records[a]).all()
        assert (records[f"pair:{a}"] >= 0).all()
    assert len(records) == 32 and records["index"].tolist() == list(range(32))
    summary = summarize(records, cfg.columns())
    assert summary["PGD-4"]["accuracy"] <= summary["Clean"]["accuracy"]
    assert summary["Clean"]["n"] == 32
    assert not tiny_model.training


def test_evaluation_is_deterministic(tiny_model, digits):
    x, y = digits
    cfg = EvalConfig(eps=0.3, alpha=0.05, pgd_steps=[3], cw_steps=[3], batch_size=10, seed=4)
    a = evaluate(tiny_model, x, y, cfg, progress=False)
    b = evaluate(tiny_model, x, y, cfg, progress=False)
    assert a.equals(b)
