"""`aad bench --quick` end to end: every case runs, rows carry their floor and timings, the
Markdown table lands in the README between its markers. (No timing assertions: speed is reported,
not tested.)"""
import json
import math
import subprocess

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.slow


def test_quick_bench_writes_json_markdown_and_readme(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- bench:start -->\nold table\n<!-- bench:end -->\nrest\n")
    out = tmp_path / "bench"
    subprocess.run(["aad", "bench", "--quick", "--variants", "eager,bf16", "--out", str(out), "--readme", str(readme)], cwd=ROOT, check=True,
                   capture_output=True, text=True, timeout=600)
    result = json.loads((out / "bench.json").read_text())
    ops = {r["operation"] for r in result["rows"]}
    assert {"FGSM", "PGD-5", "PGD-5 (CW loss)", "train step: madry", "train step: aalp", "batched train step: madry"} <= ops
    assert any(o.startswith("PGD-1 AT epoch") for o in ops)
    assert {"10-column table: one by one", "10-column table: trajectory", "10-column table: trajectory + stop",
            "10-column table: trajectory + stop, 3 models stacked, per model"} <= ops
    for row in result["rows"]:
        for key, value in row.items():
            if key.endswith("_s"):
                assert value is None or (math.isfinite(value) and value > 0), (row["operation"], key)
    pgd = next(r for r in result["rows"] if r["operation"] == "PGD-5")
    assert pgd["torchattacks_s"] > 0 and pgd["ART_s"] > 0  # the peers ran in the same process
    text = readme.read_text()
    assert "old table" not in text and text.startswith("intro\n") and text.endswith("rest\n")
    assert "| lenet_small | 64 | cpu | eager | PGD-5 |" in text
    assert "| lenet_small | 64 | cpu | madry | 3 |" in text  # the batched training table
    assert "3 models stacked, per model" in text  # the batched evaluation row of the robustness table
    assert text.count("<!-- bench:start -->") == 1
    bf16 = [r for r in result["rows"] if r["variant"] == "bf16"]
    assert {r["operation"] for r in bf16} == {"FGSM", "PGD-5", "PGD-5 (CW loss)"}
    assert all("ART_s" not in r and "bf16" in r["ART_note"] for r in bf16)  # said why, not silently dropped


def test_bench_refuses_unknown_variant(tmp_path):
    out = subprocess.run(["aad", "bench", "--variants", "fp8", "--out", str(tmp_path)], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 2 and "unknown variant 'fp8'" in out.stderr


def test_training_step_rows_time_every_classifier_recipe_and_skip_the_purifier():
    """The full bench's training rows walk the recipe registry: every recipe that trains a
    classifier gets a row, and the ComDefend purifier (which a classifier step cannot call; it
    crashed `aad bench` before) none. Tiny batch, one repeat: only that it runs is tested."""
    import torch

    from aad_lib.training import recipes
    from benchmarks.cases import Setup, training_step_rows

    rows = training_step_rows(Setup("lenet_small", batch=4, steps=1, device=torch.device("cpu"), repeats=1),
                              attack_steps=1)
    assert [r["operation"] for r in rows] == [f"train step: {m}" for m in sorted(recipes.classifier_recipes())]
    assert "comdefend" not in recipes.classifier_recipes() and recipes.get("comdefend").trains == "purifier"
    assert all(r["ours_s"] > 0 and r["floor_s"] > 0 for r in rows)


def test_batched_training_rows_time_a_stack_against_one_at_a_time_and_say_what_cannot_stack():
    """Models per second both ways and the speed-up for a recipe that stacks; for ARP (Grad-CAM
    hooks) a note instead of numbers; both rows render in the Markdown. Tiny sizes, one repeat."""
    import torch

    from benchmarks.cases import Setup, batched_training_rows
    from benchmarks.report import markdown

    rows = batched_training_rows(Setup("lenet_small", batch=4, steps=1, device=torch.device("cpu"), repeats=1),
                                 ["madry", "arp"], count=2, attack_steps=1)
    madry, arp = rows
    assert madry["operation"] == "batched train step: madry" and madry["models"] == 2
    assert madry["models_per_second_stacked"] == pytest.approx(2 / madry["stacked_s"])
    assert madry["stacked_speedup"] == pytest.approx(madry["one_at_a_time_s"] / madry["stacked_s"])
    assert "stacked_s" not in arp and "Grad-CAM" in arp["stacked_note"]
    text = markdown(rows, {"date": "today", "cpu": "cpu", "cores": 2, "torch_threads": 1, "torch": "x", "python": "3",
                           "repeats": 1})
    assert "| lenet_small | 4 | cpu | madry | 2 |" in text and "| lenet_small | 4 | cpu | arp | 2 | - | arp: not stacked" in text
