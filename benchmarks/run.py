"""``aad bench``: run every case in one process, write ``reports/bench/bench.{json,md}`` and
(with ``--readme``) the summary between the bench markers of the README."""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from aad_lib import data
from aad_lib.evaluation import EvalConfig
from aad_lib.files import atomic_write_text
from aad_lib.runtime import pick_device
from aad_lib.training import AttackSettings, TrainConfig, load_model, train
from aad_lib.validation import AadError

from . import cases, report

# (model, batch, PGD steps): the MNIST LeNets at batch 512 and ResNet32 on CIFAR-shaped inputs at
# batch 128 (the settings); PGD-40 where a run takes seconds, PGD-10 where it takes more.
FULL = [("lenet_small", 512, 40), ("lenet", 512, 10), ("resnet32", 128, 10)]
QUICK = [("lenet_small", 64, 5)]
TRAIN_STEP_MODELS = ("lenet_small", "resnet32")
# batched training: lenet_small at the default profile's batch (50) and the bench's (512); 3 models
# (the stack the CPU measurement of issue 16 used) and, on CUDA, Table 2's 21
BATCHED_BATCHES, QUICK_BATCHED_BATCHES = (50, 512), (64,)
BATCHED_COUNTS = {"cpu": (3,), "cuda": (3, 21)}


def main(argv: list[str] | None = None) -> Path:
    args = _parser().parse_args(argv)
    if args.from_json:  # re-render a finished run (e.g. after a change of format)
        result = json.loads(Path(args.from_json).read_text())
        return _write(result["rows"], result["machine"], Path(args.out), args.readme)
    device = pick_device(args.device)
    variants = args.variants.split(",") if args.variants else (["eager", "bf16", "compile"] if device.type == "cuda" else ["eager"])
    for v in variants:
        if v not in ("eager", "bf16", "compile"):
            raise AadError(f"unknown variant {v!r}; choose from eager, bf16, compile.")
    repeats = 1 if args.quick else args.repeats
    rows: list[dict[str, Any]] = []
    for variant in variants:
        for name, batch, steps in (QUICK if args.quick else FULL):
            s = cases.Setup(name, batch, steps, device, variant, repeats)
            _say(f"{name} x{batch} {device.type} {variant}: attacks")
            rows += cases.attack_rows(s)
            if variant == "eager" and (args.quick or name in TRAIN_STEP_MODELS):
                _say(f"{name} x{batch} {device.type} {variant}: training steps")
                rows += cases.training_step_rows(s, ["standard", "madry", "aalp"] if args.quick else None)
    for batch in (QUICK_BATCHED_BATCHES if args.quick else BATCHED_BATCHES):
        for count in BATCHED_COUNTS.get(device.type, (3,)):
            _say(f"batched training: {count} lenet_small x{batch} stacked vs one at a time")
            s = cases.Setup("lenet_small", batch, 3, device, "eager", repeats)
            rows += cases.batched_training_rows(s, ["madry"] if args.quick else ["madry", "aalp"], count)
    _say("PGD-AT epoch: ours vs hand-written")
    rows += cases.epoch_rows(device, repeats, steps=3) if not args.quick else _quick_epoch(device)
    _say("robustness table: one by one vs one pass")
    models, x, y, cfg = _table_inputs(args.quick, device)
    rows += cases.table_rows(models, x, y, cfg, device)
    return _write(rows, _machine(device, repeats), Path(args.out), args.readme)


def _write(rows: list[dict[str, Any]], meta: dict[str, Any], out: Path, readme: str) -> Path:
    atomic_write_text(out / "bench.json", json.dumps({"machine": meta, "rows": rows}, indent=1) + "\n")
    table = report.markdown(rows, meta)
    atomic_write_text(out / "bench.md", table)
    if readme:
        report.splice_readme(Path(readme), table)
    print(table)
    return out / "bench.md"


def _quick_epoch(device: torch.device) -> list[dict[str, Any]]:
    return cases.epoch_rows(device, 1, batch=50, steps=1, limit=500)


def _table_inputs(quick: bool, device: torch.device) -> tuple[dict[str, nn.Module], torch.Tensor, torch.Tensor, EvalConfig]:
    """The pipeline's RAW and Madry models (seed 0) when `dvc repro` has built them, else both
    trained here on the bundled digits (a few epochs; the timings need a robust and an
    undefended model, not the paper's accuracy). The protocol: the default profile's."""
    n = 64 if quick else 500
    cfg = EvalConfig(pgd_steps=[2, 5], cw_steps=[2, 5]) if quick else EvalConfig()
    x, y = data.load("mnist5k", cases.data_root(), "test").tensors(device, n)
    found = {m: Path("models") / m / "seed0" / "model.pt" for m in ("standard", "madry")}
    if not quick and all(p.exists() for p in found.values()):
        return {f"{m} (models/{m}/seed0)": load_model(p, device) for m, p in found.items()}, x, y, cfg
    train_set = data.load("mnist5k", cases.data_root(), "train")
    out: dict[str, nn.Module] = {}
    for method, epochs in (("standard", 1 if quick else 3), ("madry", 1 if quick else 4)):
        _say(f"training {method} for the table timing ({epochs} epochs)")
        model = cases.lenet(device)
        cfg_t = TrainConfig(method=method, epochs=epochs, batch_size=50, attack=AttackSettings(0.3, 0.15, 3),
                            eps_warmup_epochs=0 if quick else 2)
        with tempfile.TemporaryDirectory() as d:
            train(model, train_set, cfg_t, d, device=device, progress=False)
        out[f"{method} (trained here, {epochs} ep)"] = model.eval()
    return out, x, y, cfg


def _machine(device: torch.device, repeats: int) -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"date": datetime.date.today().isoformat(), "cpu": cpu, "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
            "repeats": repeats, "python": platform.python_version()}


def _say(text: str) -> None:
    print(f"[bench] {text}", flush=True)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="aad bench", description=__doc__)
    p.add_argument("--device", default="auto", help="auto (CUDA when present) | cpu | cuda")
    p.add_argument("--variants", default="", help="comma list of eager,bf16,compile (default: eager on CPU, all on CUDA)")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats per operation (min and median reported)")
    p.add_argument("--quick", action="store_true", help="tiny sizes, one repeat (tests; numbers meaningless)")
    p.add_argument("--out", default="reports/bench")
    p.add_argument("--readme", default="", help="README to update between the bench markers")
    p.add_argument("--from-json", default="", help="re-render the tables of an earlier run's bench.json (nothing is timed)")
    return p
