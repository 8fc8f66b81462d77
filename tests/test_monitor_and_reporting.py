"""Exact results of the training monitor and of the reporting helpers that only notebooks reached.

- ``loop._monitor``: clean and PGD accuracy on the monitor subset (hand-computed on a model whose
  PGD result is known in closed form; its PGD call spied on for the alpha rule
  ``max(alpha, 2.5 * eps / steps)`` and the ``generator(seed)`` start; and, in a real run, the log
  rows against a recomputation from the epoch checkpoints);
- ``loop._describe``: the one-line epoch summary, direct and as printed by ``train(progress=True)``;
- ``recipes.describe_attack``: the training attack in words;
- ``tables.write_table``: both files' exact bytes, written through the atomic writer;
- ``contributions.summary_table`` / ``high_count_column``: a hand-computed two-row table;
- ``analysis.epoch_contributions``: Eq. 5 per epoch on a hand-computable two-feature model.
"""
from __future__ import annotations

import contextlib
import inspect
import io
import math
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import aad_lib.attacks
from aad_lib import data, tables
from aad_lib.sections.aalp import analysis, contributions
from aad_lib.attacks import pgd
from aad_lib.contribution import dataset_contributions
from aad_lib.data import ImageTensorDataset
from aad_lib.runtime import generator
from aad_lib.training import TrainConfig, epoch_models, loop, recipes, train
from aad_lib.validation import AadError
from aad_lib.attacks.settings import AttackSettings

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- _monitor on a closed-form model

class MeanThreshold(nn.Module):
    """Two classes by the mean pixel m: logits ``(4 (m - 0.5), 4 (0.5 - m))``, class 0 when m > 0.5.

    The CE gradient has the same sign on every pixel, so L-inf PGD whose steps add up to at least
    the ball's diameter (2 eps) ends at ``clip(x -/+ eps)`` whatever its random start. In train mode
    the logits are negated: a monitor that forgets eval mode scores the complement."""

    num_classes = 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x.mean(dim=(1, 2, 3))
        z = torch.stack([4 * (m - 0.5), 4 * (0.5 - m)], dim=1)
        return -z if self.training else z


# constant 1x2x2 images; class 1 below 0.5, class 0 above
VALUES = [0.0, 0.1, 0.3, 0.45, 0.7, 0.9, 1.0]
LABELS = [1, 1, 1, 0, 0, 0, 0]


def _constant_images() -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.tensor(VALUES).view(-1, 1, 1, 1).expand(-1, 1, 2, 2).contiguous()
    return x, torch.tensor(LABELS)


def _monitor_cfg(eps: float = 0.3, alpha: float = 0.01, monitor_steps: int = 3, seed: int = 7) -> TrainConfig:
    return TrainConfig("madry", epochs=1, attack={"eps": eps, "alpha": alpha, "steps": 40}, seed=seed,
                       monitor_samples=len(VALUES), monitor_steps=monitor_steps)


def test_monitor_clean_and_pgd_accuracy_by_hand():
    """_monitor returns exactly {test_clean_acc, test_adv_acc} with hand-computed values, in eval
    mode, and its PGD uses the alpha rule: the attack's own alpha (0.01 x 3 steps) would not reach
    the ball's edge and would leave 6/7 correct instead of 4/7."""
    x, y = _constant_images()
    model = MeanThreshold().train()  # the loop hands over a model in train mode
    out = loop._monitor(model, x, y, _monitor_cfg())
    assert sorted(out) == ["test_adv_acc", "test_clean_acc"]
    # clean: 0.0, 0.1, 0.3 -> class 1 (right); 0.45 -> class 1 (label 0, wrong); 0.7, 0.9, 1.0 -> class 0
    # (right): 6/7
    assert out["test_clean_acc"] == pytest.approx(6 / 7, abs=1e-7)
    # alpha = max(0.01, 2.5 * 0.3 / 3) = 0.25; 3 steps move 0.75 >= 0.6, so every pixel ends at the edge:
    # label 1 pushed up by 0.3: 0.0 -> 0.3 ok, 0.1 -> 0.4 ok, 0.3 -> 0.6 fooled;
    # label 0 pushed down by 0.3: 0.45 -> 0.15 wrong, 0.7 -> 0.4 fooled, 0.9 -> 0.6 ok, 1.0 -> 0.7 ok: 4/7
    assert out["test_adv_acc"] == pytest.approx(4 / 7, abs=1e-7)


def test_monitor_values_equal_a_direct_recomputation():
    """On an untrained LeNet and real digits, _monitor's two numbers are bit-equal to the clean
    accuracy and to PGD accuracy with alpha = max(alpha, 2.5 eps / steps) and generator(seed)."""
    x, y = _digits(40)
    torch.manual_seed(1)
    from aad_lib import models
    model = models.create("lenet_small", size=12).eval()
    cfg = TrainConfig("madry", epochs=1, attack={"eps": 0.1, "alpha": 0.01, "steps": 40}, seed=5,
                      monitor_samples=40, monitor_steps=3)
    out = loop._monitor(model, x, y, cfg)
    clean, adv = _recompute(model, x, y, eps=0.1, alpha=max(0.01, 2.5 * 0.1 / 3), steps=3, seed=5)
    assert out == {"test_clean_acc": clean, "test_adv_acc": adv}


ALPHA_CASES = {
    # (attack eps, attack alpha, monitor_steps) -> alpha handed to PGD
    "rule wins: max(0.01, 2.5*0.3/3 = 0.25)": (0.3, 0.01, 3, 0.25),
    "attack alpha wins: max(0.2, 2.5*0.3/10 = 0.075)": (0.3, 0.2, 10, 0.2),
    "one step: max(0.01, 2.5*0.3/1 = 0.75)": (0.3, 0.01, 1, 0.75),
    "no step: max(0.01, 2.5*0.3/max(0, 1) = 0.75)": (0.3, 0.01, 0, 0.75),
    "eps 0.1, 4 steps: max(0.05, 2.5*0.1/4 = 0.0625)": (0.1, 0.05, 4, 0.0625),
}


@pytest.mark.parametrize("case", ALPHA_CASES.values(), ids=list(ALPHA_CASES))
def test_monitor_pgd_call_alpha_rule_eps_steps_and_seeded_start(case, monkeypatch):
    """The PGD of _monitor gets the monitor images and labels, the full training eps, the alpha
    rule above, ``monitor_steps`` steps, a random start, and a fresh ``generator(cfg.seed)``; and
    test_adv_acc is scored on what that PGD returned (the spy returns a chosen batch)."""
    eps, alpha, steps, expected_alpha = case
    x, y = _constant_images()
    calls = []
    signature = inspect.signature(pgd)

    def spy(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        call = dict(bound.arguments)
        call["generator_state"] = call["generator"].get_state().clone()
        calls.append(call)
        return torch.full_like(x, 0.6)  # every image -> class 0: right for the four label-0 images

    monkeypatch.setattr(aad_lib.attacks, "pgd", spy)
    model = MeanThreshold()
    out = loop._monitor(model, x, y, _monitor_cfg(eps, alpha, steps, seed=11))
    assert len(calls) == 1
    call = calls[0]
    assert call["model"] is model and call["x"] is x and call["y"] is y
    assert call["eps"] == eps and call["steps"] == steps and call["random_start"] is True
    assert call["alpha"] == pytest.approx(expected_alpha, rel=1e-12)
    assert torch.equal(call["generator_state"], generator(11).get_state())
    assert call["generator"].device == x.device
    assert out["test_adv_acc"] == pytest.approx(4 / 7, abs=1e-7)  # labels 0,0,0,0 of 7 match class 0
    assert out["test_clean_acc"] == pytest.approx(6 / 7, abs=1e-7)


# ---------------------------------------------------------------- a real monitored run

def _digits(n: int, split: str = "test") -> tuple[torch.Tensor, torch.Tensor]:
    ds = _digits_set(split, n)
    return ds.tensors()


def _digits_set(split: str, n: int) -> ImageTensorDataset:
    """The first ``n`` MNIST-5k digits of ``split``, area-downsampled to 12x12 (fast LeNet)."""
    root = ROOT / "data"
    if not (root / "mnist5k" / "images.npy").exists():
        data.fetch("mnist5k", root)
    full = data.load("mnist5k", root, split)
    small = F.interpolate(full.images[:n].float(), size=(12, 12), mode="area").round().clamp(0, 255)
    return ImageTensorDataset(small.to(torch.uint8), full.labels[:n], "mnist5k-12", split)


def _recompute(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps: float, alpha: float, steps: int,
               seed: int) -> tuple[float, float]:
    model.eval()
    with torch.no_grad():
        clean = (model(x).argmax(1) == y).float().mean().item()
    x_adv = pgd(model, x, y, eps, alpha, steps, generator=generator(seed))
    with torch.no_grad():
        adv = (model(x_adv).argmax(1) == y).float().mean().item()
    return clean, adv


RUN_CFG = {"method": "standard", "epochs": 2, "batch_size": 20, "lr": 3e-3,
           "attack": {"eps": 0.1, "alpha": 0.01, "steps": 40}, "seed": 5, "monitor_samples": 40, "monitor_steps": 3}


@pytest.fixture(scope="module")
def monitored_run(tmp_path_factory):
    """Two epochs of standard training on 200 digits with a 40-image monitor; the printed lines kept."""
    from aad_lib import models

    out_dir = tmp_path_factory.mktemp("monitored")
    torch.manual_seed(0)
    model = models.create("lenet_small", size=12)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        log = train(model, _digits_set("train", 200), TrainConfig(**RUN_CFG), out_dir, progress=True,
                    test_set=_digits_set("test", 40), model_spec={"name": "lenet_small", "size": 12})
    return out_dir, log, printed.getvalue().splitlines()


def test_monitored_log_rows_equal_recomputation_from_epoch_checkpoints(monitored_run):
    """Each epoch's test_clean_acc / test_adv_acc equal, bit for bit, the accuracies of that epoch's
    checkpointed model on the first monitor_samples test images: clean, and under PGD-3 at eps 0.1
    with alpha max(0.01, 2.5 * 0.1 / 3) and generator(seed 5). The attack's own alpha, or another
    seed, changes at least one number (so the comparison can see a wrong rule)."""
    out_dir, log, _ = monitored_run
    x, y = _digits(40)
    assert [r["epoch"] for r in log] == [1, 2]
    rule = max(0.01, 2.5 * 0.1 / 3)  # = 0.08333...
    wrong_rules = []
    for epoch, model in epoch_models(out_dir):
        row = log[epoch - 1]
        clean, adv = _recompute(model, x, y, eps=0.1, alpha=rule, steps=3, seed=5)
        assert (row["test_clean_acc"], row["test_adv_acc"]) == (clean, adv)
        assert 0 < row["test_adv_acc"] < row["test_clean_acc"] < 1
        wrong_rules.append([_recompute(model, x, y, eps=0.1, alpha=a, steps=3, seed=s)[1]
                            for a, s in ((0.01, 5), (3.5 * 0.1 / 3, 5), (rule, 6))])
    for k in range(3):  # each wrong variant misses at least one epoch's number
        assert any(w[k] != r["test_adv_acc"] for w, r in zip(wrong_rules, log)), k


def test_progress_prints_one_describe_line_per_epoch(monitored_run):
    """train(progress=True) prints, per epoch, the summary with the monitor columns and without
    the NaN training-adversarial accuracy of standard training (formats written out here)."""
    _, log, lines = monitored_run
    expected = [f"standard epoch {r['epoch']}: loss {r['loss']:.4f}, train clean {r['train_clean_acc']:.3f}, "
                f"test clean {r['test_clean_acc']:.3f}, test PGD {r['test_adv_acc']:.3f} ({r['seconds']:.1f} s)"
                for r in log]
    assert math.isnan(log[0]["train_adv_acc"])
    assert lines == expected


def test_epoch_contributions_of_a_run_match_each_checkpoint(monitored_run):
    """epoch_contributions over epoch_models gives one (D,) vector per saved epoch, in order, each
    the Eq. 5 contributions of that epoch's model; the two epochs differ."""
    out_dir, _, _ = monitored_run
    x, y = _digits(16)
    got = analysis.epoch_contributions(epoch_models(out_dir), x, y)
    assert list(got) == [1, 2]
    for epoch, model in epoch_models(out_dir):
        assert torch.equal(got[epoch], dataset_contributions(model, x, y))
    assert not torch.equal(got[1], got[2])


# ---------------------------------------------------------------- _describe

DESCRIBE_CASES = {
    "both train accuracies": (
        "madry", {"epoch": 3, "loss": 0.123456, "train_clean_acc": 0.98765, "train_adv_acc": 0.4321, "seconds": 12.34},
        # 0.123456 -> 0.1235, 0.98765 -> 0.988, 0.4321 -> 0.432, 12.34 -> 12.3
        "madry epoch 3: loss 0.1235, train clean 0.988, train adv 0.432 (12.3 s)"),
    "no clean accuracy (Madry)": (
        "madry", {"epoch": 1, "loss": 2.0, "train_clean_acc": float("nan"), "train_adv_acc": 0.25, "seconds": 0.04},
        "madry epoch 1: loss 2.0000, train adv 0.250 (0.0 s)"),
    "no adversarial accuracy (standard)": (
        "standard", {"epoch": 10, "loss": 0.00004, "train_clean_acc": 1.0, "train_adv_acc": float("nan"),
                     "seconds": 3.96},
        "standard epoch 10: loss 0.0000, train clean 1.000 (4.0 s)"),
    "neither, purifier monitor columns (not the classifier's)": (
        "comdefend", {"epoch": 2, "loss": 0.0123, "train_clean_acc": float("nan"), "train_adv_acc": float("nan"),
                      "test_mse": 0.01, "test_psnr": 20.0, "seconds": 1.25},
        "comdefend epoch 2: loss 0.0123 (1.2 s)"),  # 1.25 -> 1.2 (binary 1.25 exactly: round half to even)
    "monitor columns": (
        "alp", {"epoch": 4, "loss": 0.5, "train_clean_acc": 0.9, "train_adv_acc": 0.6, "test_clean_acc": 0.8125,
                "test_adv_acc": 0.40625, "seconds": 7.0},
        # 0.8125 -> 0.812 (exact binary, half to even), 0.40625 -> 0.406
        "alp epoch 4: loss 0.5000, train clean 0.900, train adv 0.600, test clean 0.812, test PGD 0.406 (7.0 s)"),
    "monitor columns, NaN train accuracies": (
        "madry", {"epoch": 5, "loss": 1.5, "train_clean_acc": float("nan"), "train_adv_acc": float("nan"),
                  "test_clean_acc": 0.7, "test_adv_acc": 0.0, "seconds": 0.5},
        "madry epoch 5: loss 1.5000, test clean 0.700, test PGD 0.000 (0.5 s)"),
}


@pytest.mark.parametrize("case", DESCRIBE_CASES.values(), ids=list(DESCRIBE_CASES))
def test_describe_exact_text(case):
    """The epoch summary: loss to 4 places, each non-NaN training accuracy and, when the row has
    test_adv_acc, the test clean/PGD pair, to 3 places, then the seconds to 1 place."""
    method, row, text = case
    assert loop._describe(method, row) == text


# ---------------------------------------------------------------- describe_attack

ATTACK_WORDS = {
    "arp": ("arp", AttackSettings(0.3, 0.01, 40), "Step-LL + Iter-LL-2 eps 0.3"),
    "arp ignores alpha and steps": ("arp", AttackSettings(0.031, 0.5, 7), "Step-LL + Iter-LL-2 eps 0.031"),
    "trades": ("trades", AttackSettings(0.031, 0.007, 10), "PGD-10 on the KL eps 0.031 step 0.007"),
    "madry": ("madry", AttackSettings(0.3, 0.01, 40), "PGD-40 eps 0.3 step 0.01"),
    "alp": ("alp", AttackSettings(0.2, 0.05, 3), "PGD-3 eps 0.2 step 0.05"),
    "arp-pgd trains on PGD": ("arp-pgd", AttackSettings(0.3, 0.1, 3), "PGD-3 eps 0.3 step 0.1"),
}


@pytest.mark.parametrize("case", ATTACK_WORDS.values(), ids=list(ATTACK_WORDS))
def test_describe_attack_exact_strings(case):
    """The training attack in words: ARP's Step-LL pair (eps only), TRADES' PGD on the KL, and
    plain PGD-k for every other adversarial recipe (arp-pgd included)."""
    name, spec, text = case
    assert recipes.get(name).describe_attack(spec) == text


# ---------------------------------------------------------------- write_table

def _table() -> pd.DataFrame:
    return pd.DataFrame({"Clean": [99.123456, 98.5], "PGD-40": [91.0, 0.004999], "n": [1000, 1000]},
                        index=pd.Index(["madry", "aalp"], name="method"))


CSV = ("method,Clean,PGD-40,n\n"
       "madry,99.1235,91.0000,1000\n"  # %.4f: 99.123456 -> 99.1235, 91 -> 91.0000; ints untouched
       "aalp,98.5000,0.0050,1000\n")   # 0.004999 -> 0.0050


def test_write_table_exact_csv_and_markdown(tmp_path, monkeypatch):
    """write_table writes <stem>.csv (floats %.4f, index kept) and <stem>.md (pipe table, floats
    .2f by default, one trailing newline), both through the atomic writer, creating the folder,
    leaving no temporary file, and replacing older files whole."""
    written = []
    real = tables.atomic_write_text

    def recorder(path, text):
        written.append(Path(path).name)
        return real(path, text)

    monkeypatch.setattr(tables, "atomic_write_text", recorder)
    stem = tmp_path / "tables" / "table2"
    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / "table2.md").write_text("an older, longer table\n" * 20)
    tables.write_table(_table(), stem)
    assert written == ["table2.csv", "table2.md"]
    assert sorted(p.name for p in (tmp_path / "tables").iterdir()) == ["table2.csv", "table2.md"]
    assert (tmp_path / "tables" / "table2.csv").read_text() == CSV
    # .2f: 99.123456 -> 99.12, 98.5 -> 98.50, 91 -> 91.00, 0.004999 -> 0.00; n is shown as 1000.00 (see report)
    assert (tmp_path / "tables" / "table2.md").read_text() == (
        "| method   |   Clean |   PGD-40 |       n |\n"
        "|:---------|--------:|---------:|--------:|\n"
        "| madry    |   99.12 |    91.00 | 1000.00 |\n"
        "| aalp     |   98.50 |     0.00 | 1000.00 |\n")


def test_write_table_floatfmt_sets_markdown_only(tmp_path):
    """floatfmt changes the markdown digits (.3f: 0.004999 -> 0.005) but not the CSV's %.4f; a
    stem in a folder that does not exist yet is created."""
    stem = tmp_path / "new" / "deeper" / "t"
    tables.write_table(_table(), stem, floatfmt=".3f")
    assert (stem.parent / "t.csv").read_text() == CSV
    assert (stem.parent / "t.md").read_text() == (
        "| method   |   Clean |   PGD-40 |        n |\n"
        "|:---------|--------:|---------:|---------:|\n"
        "| madry    |  99.123 |   91.000 | 1000.000 |\n"
        "| aalp     |  98.500 |    0.005 | 1000.000 |\n")


def test_write_table_keeps_a_dot_in_the_stem(tmp_path):
    """``<stem>.csv`` appends the suffix: a stem such as ``table_eps0.3`` is not cut at its dot
    (``with_suffix`` would write ``table_eps0.csv``)."""
    tables.write_table(_table(), tmp_path / "table_eps0.3")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table_eps0.3.csv", "table_eps0.3.md"]
    assert (tmp_path / "table_eps0.3.csv").read_text() == CSV


# ---------------------------------------------------------------- summary_table, high_count_column

def test_high_count_column_names():
    """The count column is named after the pooled quantile in percent."""
    assert contributions.high_count_column() == "features above pooled q90"
    assert contributions.high_count_column(0.75) == "features above pooled q75"
    assert contributions.high_count_column(0.5) == "features above pooled q50"


def test_high_count_column_names_quantiles_off_the_binary_grid():
    """0.29 and 0.57 are the 29th and 57th percentiles; the name must say so (truncating the float
    product gave q28 and q56), and 0.999 is not 0.99."""
    assert contributions.high_count_column(0.29) == "features above pooled q29"
    assert contributions.high_count_column(0.57) == "features above pooled q57"
    assert contributions.high_count_column(0.999) == "features above pooled q99.9"


CONTRIBUTIONS = {
    ("raw", 0): torch.tensor([0.0, 0.0, 1.0, 1.0, 1.0, 2.0, 2.0, 3.0, 4.0, 6.0]),  # sum 20
    ("aalp", 1): torch.tensor([0.0, 5.0, 0.0, 1.0, 0.0, 2.0, 1.0, 0.0, 1.0, 0.0]),  # sum 10, unsorted
}


def _expected_summary(count_column: str, counts: list[int]) -> pd.DataFrame:
    return pd.DataFrame({
        "method": ["raw", "aalp"], "seed": [0, 1],
        # torch's median of 10 values = the lower middle, sorted index 4: raw 1, aalp (0,0,0,0,0,1,...) 0
        "median": [1.0, 0.0],
        # linear quantile at position 0.9 * 9 = 8.1: raw 4 + 0.1 (6 - 4) = 4.2; aalp sorted (...,1,1,2,5): 2 + 0.1 (5 - 2) = 2.3
        "p90": [4.2, 2.3],
        "max": [6.0, 5.0],
        # top 10% of 10 features = 1: raw 6 / 20 = 0.3, aalp 5 / 10 = 0.5
        "top-10% share": [0.3, 0.5],
        "zero features": [2, 5],
        count_column: counts,
    })


def test_summary_table_hand_computed_default_quantile():
    """One row per (method, seed) in input order: median, p90, max, top-10% share, exact zeros,
    and the count above the pooled q90 of both rows."""
    # pooled 20 values sorted: 0 x7 (idx 0-6), 1 x6 (7-12), 2 x3 (13-15), 3, 4, 5, 6 (idx 16-19);
    # q90 at position 0.9 * 19 = 17.1: 4 + 0.1 (5 - 4) = 4.1 -> raw {6}: 1, aalp {5}: 1
    got = contributions.summary_table(CONTRIBUTIONS)
    expected = _expected_summary("features above pooled q90", [1, 1])
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-6)


def test_summary_table_count_is_strictly_above_the_pooled_quantile():
    """With quantile 0.75 the pooled threshold equals a contribution value (2): features equal to
    it are not counted, and the column is renamed."""
    # q75 at position 0.75 * 19 = 14.25: between idx 14 and 15, both 2 -> threshold 2
    # raw above 2: {3, 4, 6} = 3 (with >= also its two 2s: 5); aalp above 2: {5} = 1 (>=: 2)
    got = contributions.summary_table(CONTRIBUTIONS, quantile=0.75)
    expected = _expected_summary("features above pooled q75", [3, 1])
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-6)


def test_summary_table_refuses_a_quantile_outside_0_1():
    """The pooled quantile must lie strictly inside (0, 1)."""
    with pytest.raises(AadError, match=r"quantile must be in \(0, 1\), got 1\.0"):
        contributions.summary_table(CONTRIBUTIONS, quantile=1.0)


# ---------------------------------------------------------------- epoch_contributions by hand

class TwoPixelNet(nn.Module):
    """penultimate a = 2 x (two pixels); head = a bias-free 2 -> 2 linear map W."""

    num_classes = 2

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.head = nn.Linear(2, 2, bias=False)
        with torch.no_grad():
            self.head.weight.copy_(scale * torch.eye(2))

    def penultimate(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * x.flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.penultimate(x))


def test_epoch_contributions_hand_computed():
    """Eq. 5 per epoch, ``c_j = mean_i |a_ij dL_i/da_ij|``, keyed by the given epochs in order."""
    x = torch.tensor([[0.5, 0.0], [0.0, 1.0]]).view(2, 1, 1, 2)  # a = (1, 0) and (0, 2)
    y = torch.tensor([0, 0])

    def sigma(t: float) -> float:
        return 1 / (1 + math.exp(-t))

    # epoch 1, W = I. sample 1: z = (1, 0), dL/dz = (p0 - 1, p1) = (-(1 - sigma(1)), 1 - sigma(1)) = dL/da;
    #   |a * g| = (1 - sigma(1), 0). sample 2: z = (0, 2), p1 = sigma(2), dL/da = (-sigma(2), sigma(2));
    #   |a * g| = (0, 2 sigma(2)). mean: ((1 - sigma(1)) / 2, sigma(2)) = (0.134471, 0.880797)
    # epoch 3, W = 2I. sample 1: z = (2, 0), dL/dz = (-(1 - sigma(2)), 1 - sigma(2)), dL/da = 2 dL/dz;
    #   |a * g| = (2 (1 - sigma(2)), 0). sample 2: z = (0, 4), dL/da = 2 (-sigma(4), sigma(4));
    #   |a * g| = (0, 4 sigma(4)). mean: (1 - sigma(2), 2 sigma(4)) = (0.119203, 1.964028)
    got = analysis.epoch_contributions(iter([(1, TwoPixelNet(1.0)), (3, TwoPixelNet(2.0))]), x, y)
    assert list(got) == [1, 3]
    assert got[1].tolist() == pytest.approx([(1 - sigma(1)) / 2, sigma(2)], rel=1e-6)
    assert got[3].tolist() == pytest.approx([1 - sigma(2), 2 * sigma(4)], rel=1e-6)
