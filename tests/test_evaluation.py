import math

import pandas as pd
import pytest
import torch

from aad_lib.evaluation import EvalConfig, evaluate, summarize
from aad_lib.intervals import wilson_interval
from aad_lib.tables import write_table


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


def test_robust_accuracy_follows_autoattack_convention(tiny_model, digits):
    """Stopping on fooled images: robust only if correct clean and at every point visited, so every
    attack column is <= Clean per image and the PGD-k columns fall with k; the last-iterate
    semantics (stop_when_fooled=False) can only be more optimistic, image by image."""
    x, _ = digits
    with torch.no_grad():
        y = tiny_model(x).argmax(1)
    y[:6] = (y[:6] + 3) % 10  # six images wrong from the start
    kw = dict(eps=0.03, alpha=0.003, pgd_steps=[3, 6, 12], cw_steps=[3, 12], batch_size=32)
    first = evaluate(tiny_model, x, y, EvalConfig(**kw), progress=False)
    last = evaluate(tiny_model, x, y, EvalConfig(**kw, stop_when_fooled=False), progress=False)
    attacks = ["FGSM", "PGD-3", "PGD-6", "PGD-12", "CW-3", "CW-12"]
    assert not first.loc[:5, attacks].to_numpy().any()
    for a in attacks:
        assert (first[a] <= first["Clean"]).all() and (first[a] <= last[a]).all(), a
    assert (first["PGD-12"] <= first["PGD-6"]).all() and (first["PGD-6"] <= first["PGD-3"]).all()
    assert (first["CW-12"] <= first["CW-3"]).all()
    assert 0 < first["PGD-12"].sum() < first["Clean"].sum()  # the attack breaks some, not all


def test_conf_and_pair_columns_recomputed_from_the_attacks(tiny_model, digits):
    """conf:<a> = softmax(z(x'))_y and pair:<a> = ||z(x) - z(x')||^2 per sample, x' each attack's own result."""
    from aad_lib import attacks
    from aad_lib.runtime import derive_seed, generator

    x, y = digits
    with torch.no_grad():
        y = tiny_model(x).argmax(1)
    y[:4] = (y[:4] + 1) % 10  # four images wrong from the start: FGSM returns them as they are (pair 0)
    cfg = EvalConfig(eps=0.1, alpha=0.02, pgd_steps=[3], cw_steps=[3], batch_size=16, seed=2)
    records = evaluate(tiny_model, x, y, cfg, progress=False)
    # the attacks as evaluate runs them: batches of 16, stopping at the first fooling point, one PGD and
    # one CW generator seeded from (seed, "pgd") and (seed, "cw"), each drawn batch after batch
    g_pgd, g_cw = generator(derive_seed(2, "pgd")), generator(derive_seed(2, "cw"))
    adv = {"FGSM": [], "PGD-3": [], "CW-3": []}
    for i in range(0, 32, 16):
        xb, yb = x[i:i + 16], y[i:i + 16]
        adv["FGSM"].append(attacks.fgsm(tiny_model, xb, yb, 0.1, stop_when_fooled=True))
        adv["PGD-3"].append(attacks.pgd(tiny_model, xb, yb, 0.1, 0.02, 3, generator=g_pgd, stop_when_fooled=True))
        adv["CW-3"].append(attacks.pgd(tiny_model, xb, yb, 0.1, 0.02, 3, loss="cw", generator=g_cw,
                                       stop_when_fooled=True))
    with torch.no_grad():
        z = tiny_model(x)
        assert records["confidence"].to_numpy() == pytest.approx(torch.softmax(z, 1)[torch.arange(32), y].numpy(), rel=1e-5)
        for name, parts in adv.items():
            z_adv = tiny_model(torch.cat(parts))
            conf = torch.softmax(z_adv, 1)[torch.arange(32), y]
            pair = ((z - z_adv) ** 2).sum(1)
            assert records[f"conf:{name}"].to_numpy() == pytest.approx(conf.numpy(), rel=1e-5, abs=1e-7), name
            assert records[f"pair:{name}"].to_numpy() == pytest.approx(pair.numpy(), rel=1e-5, abs=1e-6), name
            assert records[name].tolist() == (z_adv.argmax(1) == y).tolist(), name
            # not degenerate: most images moved (pair > 0); those wrong when clean did not (pair 0)
            assert (records[f"pair:{name}"][4:] > 1e-3).mean() > 0.75, name
            assert (records[f"pair:{name}"][:4] == 0).all(), name


def test_wilson_interval_of_no_samples_is_nan_and_of_one_sample_is_finite():
    """n = 0 gives (nan, nan); n = 1 is an ordinary interval."""
    lo, hi = wilson_interval(0, 0)
    assert math.isnan(lo) and math.isnan(hi)
    # n = 1, k = 1: denom = 1 + z^2 = 4.8415, centre = (1 + z^2/2) / denom, half = (z^2/2) / denom,
    # so low = 1 / denom = 0.20655 and high = min(1, (1 + z^2) / denom) = 1
    lo, hi = wilson_interval(1, 1)
    assert lo == pytest.approx(1 / (1 + 1.959964 ** 2)) and lo == pytest.approx(0.20655, abs=1e-5)
    assert hi == pytest.approx(1.0)


def test_summarize_hand_case():
    """3 of 4 correct: accuracy 3/4 with n and the Wilson bounds under their own names."""
    records = pd.DataFrame({"Clean": [True, True, False, True], "FGSM": [False, False, False, True]})
    out = summarize(records, ["Clean", "FGSM"])
    assert out["Clean"] == {"accuracy": 0.75, "n": 4, "ci_low": wilson_interval(3, 4)[0],
                            "ci_high": wilson_interval(3, 4)[1]}
    # Wilson(3, 4): denom 1 + z^2/4 = 1.96036, centre 0.62753, half 0.32689 -> (0.30064, 0.95441)
    assert out["Clean"]["ci_low"] == pytest.approx(0.30064, abs=1e-5)
    assert out["Clean"]["ci_high"] == pytest.approx(0.95441, abs=1e-5)
    assert out["FGSM"]["accuracy"] == 0.25  # 1 / 4


def test_write_table_formats_csv_and_markdown(tmp_path):
    """CSV with 4 decimals (%.4f: inf spelt "inf"), Markdown with 2 by default (".2f": "inf")."""
    table = pd.DataFrame({"acc": [1.23456, math.inf]}, index=["a", "b"])
    write_table(table, tmp_path / "table_eps0.3")
    csv = (tmp_path / "table_eps0.3.csv").read_text()
    assert csv.splitlines() == [",acc", "a,1.2346", "b,inf"]
    md = (tmp_path / "table_eps0.3.md").read_text()
    assert "1.23 " in md and "1.2346" not in md
    assert "inf" in md and "INF" not in md
