"""Edges that mutation testing found unguarded: the metadata a training run writes (kind, method,
fingerprint), how its randomness derives from ``cfg.seed``, :func:`epoch_models`' selection and
errors, the recipes' PGD batch and purifier monitor, the attention metrics' argument checks and
tie-breaking, the evaluation records' index, and :func:`with_last_iterate`'s re-run."""
import warnings

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from aad_lib import attention, data, losses
from aad_lib.attacks import pgd
from aad_lib.attacks.settings import AttackSettings
from aad_lib.defenses import CPU_PROFILE, ComDefend
from aad_lib.eval_config import EvalConfig
from aad_lib.evaluation import evaluate
from aad_lib.runtime import derive_seed, generator
from aad_lib.sections.aalp import analysis
from aad_lib.training import checkpoint, epoch_models, recipes, train
from aad_lib.validation import AadError

from .test_training import SPEC, _cfg, _model


def _linear_model(inputs=16, classes=3):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(inputs, classes))


def _images(n=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    return 0.3 + 0.4 * torch.rand(n, 1, 4, 4, generator=g), torch.arange(n) % 3


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished 2-epoch RAW run of the tiny LeNet on 60 fake 12 x 12 images, with its model spec."""
    out = tmp_path_factory.mktemp("run")
    train_set = data.fake(n=60, shape=(1, 12, 12), seed=1)
    cfg = _cfg("standard", epochs=2)
    train(_model(), train_set, cfg, out, model_spec=SPEC, progress=False)
    return out, cfg, train_set


# ---------------------------------------------------------------- training runs: metadata

def test_epoch_checkpoint_metadata_kind_is_epoch(finished_run):
    """Every epoch checkpoint's metadata says ``kind: epoch`` (and the final model's ``kind: model``)."""
    out, _, _ = finished_run
    for epoch in (1, 2):
        meta = checkpoint.read_meta(out / "checkpoints" / f"epoch_{epoch:03d}.pt")
        assert meta.get("kind") == "epoch" and meta["epoch"] == epoch
    assert checkpoint.read_meta(out / "model.pt").get("kind") == "model"


def test_model_json_records_the_method(finished_run):
    """``model.json`` records the run's training method under ``method`` (here ``standard``)."""
    out, cfg, _ = finished_run
    assert checkpoint.read_meta(out / "model.pt").get("method") == cfg.method == "standard"


def test_fingerprint_in_metadata_covers_model_spec_and_data_as_documented(finished_run):
    """The fingerprint in ``model.json`` and in each epoch checkpoint is the documented one:
    ``cfg.fingerprint({"model": spec, "data": [name, size, content hash]})``, so checkpoints of
    one release resume under the next."""
    out, cfg, train_set = finished_run
    expected = cfg.fingerprint({"model": SPEC, "data": [train_set.name, len(train_set), train_set.content_hash()]})
    assert checkpoint.read_meta(out / "model.pt")["fingerprint"] == expected
    for epoch in (1, 2):
        assert checkpoint.read_meta(out / "checkpoints" / f"epoch_{epoch:03d}.pt")["fingerprint"] == expected


# ---------------------------------------------------------------- epoch_models

def test_epoch_models_always_yields_the_last_epoch(finished_run):
    """``every`` keeps the first and every ``every``-th checkpoint, and always the last: of 2 epochs,
    every=2 and every=5 both give epochs [1, 2]."""
    out, _, _ = finished_run
    assert [e for e, _ in epoch_models(out, every=2)] == [1, 2]
    assert [e for e, _ in epoch_models(out, every=5)] == [1, 2]


def test_epoch_models_refuses_a_run_without_model_spec_naming_model_pt(tmp_path):
    """A run trained without ``model_spec`` cannot be rebuilt: the error names the run's
    ``model.pt``, whose metadata lacks the spec."""
    train(_model(), data.fake(n=20, shape=(1, 12, 12), seed=1), _cfg("standard", epochs=1), tmp_path,
          progress=False)
    with pytest.raises(AadError, match=r"model\.pt: metadata has no model_spec"):
        next(epoch_models(tmp_path))


# ---------------------------------------------------------------- training runs: randomness from cfg.seed

def _spy_batches(monkeypatch):
    """Register recipe ``spy`` (no attack): per call it records one draw of the global torch RNG
    (taken before anything else in the step) and the batch it was given; its loss is 0."""
    seen: list[dict] = []

    def spy(b: recipes.Batch) -> recipes.StepOutput:
        seen.append({"rand": torch.rand(1).item(), "x": b.x.clone(), "y": b.y.clone()})
        return recipes.StepOutput(b.model(b.x).pow(2).mean() * 0)

    monkeypatch.setitem(recipes.RECIPES, "spy", recipes.Recipe("spy", spy, {}, needs_attack=False))
    return seen


def test_per_epoch_global_seed_is_derived_from_cfg_seed(tmp_path, monkeypatch):
    """Each epoch seeds the global torch RNG with ``derive_seed(cfg.seed, "epoch", epoch)``: the
    first draw a recipe makes in epoch e equals ``torch.rand(1)`` right after that manual_seed."""
    seen = _spy_batches(monkeypatch)
    train(_model(), data.fake(n=60, shape=(1, 12, 12), seed=1), _cfg("spy", epochs=2), tmp_path, progress=False)
    assert len(seen) == 6  # 3 batches of 20 per epoch
    for epoch, first in ((1, seen[0]), (2, seen[3])):
        torch.manual_seed(derive_seed(3, "epoch", epoch))  # _cfg's seed is 3
        assert first["rand"] == torch.rand(1).item(), epoch


def test_batch_order_is_derived_from_cfg_seed(tmp_path, monkeypatch):
    """Epoch e visits the images in the order ``randperm(n, generator(derive_seed(cfg.seed, "order", e)))``,
    in batches of ``batch_size``."""
    seen = _spy_batches(monkeypatch)
    train_set = data.fake(n=60, shape=(1, 12, 12), seed=1)
    train(_model(), train_set, _cfg("spy", epochs=2), tmp_path, progress=False)
    x_all, y_all = train_set.tensors()
    for epoch, calls in ((1, seen[:3]), (2, seen[3:])):
        order = torch.randperm(60, generator=generator(derive_seed(3, "order", epoch)))
        assert torch.equal(torch.cat([c["x"] for c in calls]), x_all[order]), epoch
        assert torch.equal(torch.cat([c["y"] for c in calls]), y_all[order]), epoch


# ---------------------------------------------------------------- recipes

def test_purifier_monitor_mse_does_not_depend_on_the_global_rng():
    """ComDefend's monitor draws its test noise from ``generator(seed)``: its MSE is the same under
    any global RNG state and equals that of ``purify(x, generator(seed))``."""
    torch.manual_seed(0)
    model = ComDefend(1, **CPU_PROFILE)  # test_sigma 1.0: purification is random
    x = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    y = torch.zeros(4, dtype=torch.long)
    reference = model.purify(x, generator(5))
    assert not torch.equal(reference, model.purify(x, generator(6)))  # the noise does change the output
    torch.manual_seed(10)
    a = recipes._purifier_monitor(model, x, y, 5)
    torch.manual_seed(11)
    b = recipes._purifier_monitor(model, x, y, 5)
    assert a == b
    assert a["test_mse"] == (reference - x).pow(2).mean().item()


def test_pgd_examples_honours_random_start_false():
    """With ``random_start=False`` the batch's PGD starts at the clean image: it equals the
    deterministic ``pgd(..., random_start=False)``, whatever the global RNG state."""
    model = _linear_model()
    x, y = _images(8)
    batch = recipes.Batch(model, x, y, AttackSettings(0.3, 0.1, 2, random_start=False), {}, generator(0))
    expected = pgd(model, x, y, 0.3, 0.1, 2, random_start=False)
    torch.manual_seed(1)
    first = batch.pgd_examples()
    torch.manual_seed(2)
    assert torch.equal(first, expected) and torch.equal(batch.pgd_examples(), expected)


def test_pgd_examples_takes_one_step_when_steps_is_one():
    """One step (eps = alpha = 0.3, no random start) is FGSM: ``clip(x + 0.3 * sign(grad_x CE))``,
    computed here by hand with autograd; the images in [0.3, 0.7] stay inside [0, 1]."""
    model = _linear_model()
    x, y = _images(8)
    batch = recipes.Batch(model, x, y, AttackSettings(0.3, 0.3, 1, random_start=False), {}, generator(0))
    xr = x.clone().requires_grad_(True)
    grad, = torch.autograd.grad(F.cross_entropy(model(xr), y), xr)
    assert (grad != 0).all()
    got = batch.pgd_examples()
    assert torch.allclose(got, x + 0.3 * grad.sign(), atol=1e-6)
    assert (got - x).abs().min() > 0.29


# ---------------------------------------------------------------- attention metrics

def test_cells_refuses_a_zero_fraction():
    """``cells`` takes a fraction in (0, 1]: 0 is refused, not rounded up to one cell."""
    with pytest.raises(AadError, match=r"fraction must lie in \(0, 1\]"):
        attention.metrics.cells(torch.zeros(1, 8, 8), 0.0)


def test_cells_fraction_one_is_every_cell():
    """Fraction 1 keeps every cell: 64 of an 8 x 8 map (and 6 of a 2 x 3 one)."""
    assert attention.metrics.cells(torch.zeros(1, 8, 8), 1.0) == 64
    assert attention.metrics.cells(torch.zeros(2, 2, 3), 1.0) == 6


def test_iou_refuses_a_non_bool_mask_beside_a_bool_one():
    """``iou`` needs two boolean masks: a uint8 or float mask of the same shape beside a boolean
    one is refused, whichever side it is on."""
    mask = torch.tensor([[[True, False], [True, False]]])
    for other in (mask.to(torch.uint8), mask.float()):
        for a, b in ((mask, other), (other, mask)):
            with pytest.raises(AadError, match="iou needs two boolean masks"):
                attention.iou(a, b)


def test_top_k_mask_takes_a_0_dim_tensor_k_and_refuses_one_k_for_several_maps():
    """A 0-dim tensor k counts for every map, as the int does; a 1-element k is one count per map,
    so for 2 maps it is refused."""
    maps = torch.tensor([[[3.0, 1.0], [1.0, 0.0]], [[0.0, 2.0], [5.0, 2.0]]])
    expected = torch.tensor([[[True, True], [False, False]], [[False, True], [True, False]]])
    assert torch.equal(attention.top_k_mask(maps, torch.tensor(2)), expected)
    assert torch.equal(attention.top_k_mask(maps, 2), expected)
    with pytest.raises(AadError, match="k must be one count"):
        attention.top_k_mask(maps, torch.tensor([2]))


def test_top_k_mask_breaks_ties_in_row_major_order_on_a_long_row():
    """On a map of 40 equal values the top 3 are the first 3 positions of row 0 (an unstable sort
    would pick others), and ties below a larger value go to the earliest positions too."""
    got = attention.top_k_mask(torch.zeros(1, 5, 8), 3)
    expected = torch.zeros(1, 5, 8, dtype=torch.bool)
    expected[0, 0, :3] = True
    assert torch.equal(got, expected)
    maps = torch.zeros(1, 5, 8)
    maps[0, 4, 7] = 1.0  # the last position is the maximum, then ties
    expected = torch.zeros(1, 5, 8, dtype=torch.bool)
    expected[0, 4, 7] = True
    expected[0, 0, :2] = True
    assert torch.equal(attention.top_k_mask(maps, 3), expected)


# ---------------------------------------------------------------- evaluation and losses

def test_evaluate_records_are_indexed_0_to_n_across_batches():
    """With 7 images in batches of 3 the records' index is RangeIndex(7), like their ``index`` column."""
    x, y = _images(7)
    records = evaluate(_linear_model(), x, y, EvalConfig(eps=0.1, alpha=0.05, pgd_steps=[1], cw_steps=[], batch_size=3),
                       progress=False)
    pd.testing.assert_index_equal(records.index, pd.RangeIndex(7))
    assert records["index"].tolist() == list(range(7))


def test_true_class_confidence_emits_no_warning():
    """``true_class_confidence`` names the class dimension itself: no (implicit-dim) warning, and
    p_y of logits (0, ln 3) is 1/4 for class 0 and 3/4 for class 1."""
    logits = torch.tensor([[0.0, torch.log(torch.tensor(3.0)).item()]] * 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = losses.true_class_confidence(logits, torch.tensor([0, 1]))
    assert got.tolist() == pytest.approx([0.25, 0.75])


# ---------------------------------------------------------------- AALP analysis: with_last_iterate

def _evaluated():
    model, (x, y) = _linear_model(), _images(6)
    cfg = EvalConfig(eps=0.1, alpha=0.05, pgd_steps=[2], cw_steps=[2], batch_size=6)
    return model, x, y, cfg, evaluate(model, x, y, cfg, progress=False)


@pytest.mark.parametrize("attack", ["PGD-abc", "BIM-10", "CW-", "FGSM"])
def test_with_last_iterate_refuses_attacks_other_than_pgd_k_or_cw_k(attack):
    """Only PGD-k and CW-k columns (k digits) have a last iterate to re-run; any other name is a
    clear error, not a ValueError from int() or a KeyError later."""
    model, x, y, cfg, records = _evaluated()
    with pytest.raises(AadError, match="needs a PGD-k or CW-k attack"):
        analysis.with_last_iterate(records, model, x, y, cfg, attack)


@pytest.mark.parametrize("attack, pgd_steps, cw_steps", [("CW-2", [], [2]), ("PGD-2", [2], [])])
def test_with_last_iterate_reruns_only_the_family_asked_for(monkeypatch, attack, pgd_steps, cw_steps):
    """The re-run evaluates the asked attack's family alone, at k steps, never stopping: CW-2
    runs no PGD and PGD-2 no CW."""
    model, x, y, cfg, records = _evaluated()
    calls = []
    real = analysis.evaluate

    def recording(model, x, y, cfg, progress=True):
        calls.append(cfg)
        return real(model, x, y, cfg, progress=progress)

    monkeypatch.setattr(analysis, "evaluate", recording)
    analysis.with_last_iterate(records, model, x, y, cfg, attack)
    assert [(c.pgd_steps, c.cw_steps, c.stop_when_fooled) for c in calls] == [(pgd_steps, cw_steps, False)]
