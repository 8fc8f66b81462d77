"""The AutoAttack cross-check: torchattacks' APGD-CE/APGD-T on our models, read as our columns are."""
import pytest
import torch
# torchattacks is a test dependency that `make setup` installs with --no-deps (it pins an old
# requests). A missing peer must fail the run with the reason (ModuleNotFoundError at collection),
# never skip: an importorskip here turned this whole file into one quiet "s".
import torchattacks  # noqa: F401

from aad_lib import crosscheck, integrity
from aad_lib.validation import AadError
from aad_lib.attacks.settings import AttackSettings


def test_autoattack_columns_never_exceed_the_ones_before(tiny_model, digits):
    x, y = digits
    r = crosscheck.autoattack_records(tiny_model, x, y, 0.3, steps=5)
    assert list(r.columns) == ["Clean", "APGD-CE", "APGD-CE+T"] and len(r) == len(y)
    assert (r["APGD-CE"] <= r["Clean"]).all() and (r["APGD-CE+T"] <= r["APGD-CE"]).all()
    with torch.no_grad():
        assert (r["Clean"].to_numpy() == (tiny_model(x).argmax(1) == y).numpy()).all()
    assert not tiny_model.training and all(p.grad is None for p in tiny_model.parameters())
    # eps 0: nothing can change
    r0 = crosscheck.autoattack_records(tiny_model, x, y, 0.0, steps=2)
    assert (r0["APGD-CE+T"] == r0["Clean"]).all()


def test_weaker_than_autoattack_flag_and_bad_input(tiny_model, digits):
    assert integrity.weaker_than_autoattack(0.60, 0.55, 200).raised
    assert not integrity.weaker_than_autoattack(0.60, 0.595, 200).raised
    assert not integrity.weaker_than_autoattack(0.50, 0.48, 50).raised  # one digit of 50: the threshold, not above it
    assert integrity.weaker_than_autoattack(0.50, 0.46, 50).raised
    x, y = digits
    with pytest.raises(AadError, match="steps"):
        crosscheck.autoattack_records(tiny_model, x, y, 0.3, steps=0)


def test_compare_with_ours_counts_images_only_autoattack_broke(tiny_model, digits):
    import pandas as pd

    x, y = digits
    evaluated = pd.DataFrame({"PGD-5": [True] * len(y), "CW-5": [True] * len(y)})  # pretend ours broke nothing
    row = crosscheck.compare_with_ours(tiny_model, x[:8], y[:8], evaluated, ["PGD-5", "CW-5"], 0.3, steps=3)
    aa = crosscheck.autoattack_records(tiny_model, x[:8], y[:8], 0.3, steps=3)
    assert row["n"] == 8 and row["ours"] == 100.0 and row["our attacks"] == "PGD-5 & CW-5"
    assert row["broken only by AutoAttack"] == int((~aa["APGD-CE+T"]).sum())
    assert row["gap (points)"] == pytest.approx(100.0 - 100 * aa["APGD-CE+T"].mean())
    with pytest.raises(AadError, match="lack"):
        crosscheck.compare_with_ours(tiny_model, x[:8], y[:8], evaluated, ["PGD-7"], 0.3)


def test_audit_gives_five_flags_and_reads_the_white_box_reference_from_the_records(tiny_model, digits):
    import pandas as pd

    x, y = digits
    evaluated = pd.DataFrame({"PGD-5": [False] * len(y), "CW-5": [False] * len(y)})  # ours broke everything
    flags, row = integrity.audit(tiny_model, x[:8], y[:8], evaluated, ["PGD-5", "CW-5"], AttackSettings(0.3, 0.1, 2), 3)
    assert len(flags) == 5 and row["ours"] == 0.0
    noise = flags[2]
    assert noise.value == 0.0 and not noise.raised  # nothing survived ours, so noise cannot beat it
    assert not flags[4].raised  # AutoAttack cannot be below 0%
