"""What ``aad bench`` measures. Each case returns result rows: one operation, its floor (the
model's own forward+backward passes w.r.t. the input, the least any gradient attack can cost),
and the seconds of ours and of the peers on the same model, batch, inputs and device."""
from __future__ import annotations

import contextlib
import copy
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from aad_lib import attacks, data, models
from aad_lib.evaluation import EvalConfig, evaluate, evaluate_models
from aad_lib.training import AttackSettings, ModelStack, TrainConfig, make_optimizer, recipes, train, train_step
from aad_lib.training.batched import stack_obstacle
from aad_lib.training.stack import interleave

from . import peers
from .timer import Timing, measure, measure_together

Op = Callable[[], object]


@dataclass
class Setup:
    """One model on one device in one variant (``eager``, ``bf16`` autocast or ``compile``)."""

    model_name: str
    batch: int
    steps: int
    device: torch.device
    variant: str = "eager"
    repeats: int = 3
    eps: float = 0.3
    alpha: float = 0.01
    model: nn.Module = field(init=False)
    x: torch.Tensor = field(init=False)
    y: torch.Tensor = field(init=False)

    def __post_init__(self) -> None:
        channels, size = self.shape()
        model = self.fresh_model().eval()
        self.model = torch.compile(model) if self.variant == "compile" else model
        g = torch.Generator().manual_seed(0)
        self.x = torch.rand(self.batch, channels, size, size, generator=g).to(self.device)
        self.y = torch.randint(0, 10, (self.batch,), generator=g).to(self.device)

    def shape(self) -> tuple[int, int]:
        """(channels, size): MNIST-shaped for the LeNets, CIFAR-shaped otherwise."""
        return (1, 28) if self.model_name.startswith("lenet") else (3, 32)

    def fresh_model(self) -> nn.Module:
        """The model with seed-0 initial weights, on the device (train mode)."""
        channels, size = self.shape()
        torch.manual_seed(0)
        return models.create(self.model_name, in_channels=channels, size=size).to(self.device)

    @contextlib.contextmanager
    def context(self) -> Iterator[None]:
        if self.variant == "bf16":
            with torch.autocast(self.device.type, dtype=torch.bfloat16):
                yield
        else:
            yield

    def wrap(self, fn: Op) -> Op:
        """``fn`` run inside this variant's context (bf16 autocast or nothing)."""
        def run() -> object:
            with self.context():
                return fn()
        return run

    def time_together(self, ops: dict[str, Op]) -> dict[str, Timing]:
        return measure_together({k: self.wrap(f) for k, f in ops.items()}, self.device, self.repeats)

    def describe(self) -> dict[str, Any]:
        return {"model": self.model_name, "batch": self.batch, "device": self.device.type, "variant": self.variant}


def floor(model: nn.Module, x: torch.Tensor, y: torch.Tensor, passes: int) -> Op:
    """``passes`` forward+backward passes w.r.t. the input alone: what every gradient attack of
    that many steps must at least spend (no projection, no bookkeeping)."""

    def run() -> None:
        for _ in range(passes):
            xr = x.detach().requires_grad_(True)
            torch.autograd.grad(F.cross_entropy(model(xr), y, reduction="sum"), xr)
    return run


def attack_rows(s: Setup) -> list[dict[str, Any]]:
    """FGSM and PGD-k (CE and CW loss): ours, torchattacks and ART, each over its floor, all timed
    round-robin in one loop."""
    m, x, y, k = s.model, s.x, s.y, s.steps
    ours: dict[str, tuple[int, Op]] = {
        "FGSM": (1, lambda: attacks.fgsm(m, x, y, s.eps)),
        f"PGD-{k}": (k, lambda: attacks.pgd(m, x, y, s.eps, s.alpha, k)),
        f"PGD-{k} (CW loss)": (k, lambda: attacks.pgd(m, x, y, s.eps, s.alpha, k, loss="cw")),
    }
    theirs: dict[str, dict[str, Op] | str] = {
        "torchattacks": peers.torchattacks_ops(m, x, y, s.eps, s.alpha, k),
        "ART": (peers.art_ops(m, x, y, s.eps, s.alpha, k) if s.variant == "eager" else
                f"ART: not run under {s.variant} (it turns bf16 outputs into NumPy arrays, which NumPy cannot hold)"
                if s.variant == "bf16" else "ART: not run on compiled models"),
    }
    ops: dict[str, Op] = {"floor 1": floor(m, x, y, 1), f"floor {k}": floor(m, x, y, k)}
    ops.update({f"ours {name}": op for name, (_, op) in ours.items()})
    for peer, peer_ops in theirs.items():
        if not isinstance(peer_ops, str):
            ops.update({f"{peer} {name}": op for name, op in peer_ops.items()})
    t = s.time_together(ops)
    rows = []
    for name, (passes, _) in ours.items():
        row = {**s.describe(), "operation": name, **timed("floor", t[f"floor {passes}"]), **timed("ours", t[f"ours {name}"])}
        for peer, peer_ops in theirs.items():
            if isinstance(peer_ops, str):
                row[f"{peer}_note"] = peer_ops
            elif f"{peer} {name}" in t:
                row.update(timed(peer, t[f"{peer} {name}"]))
        rows.append(row)
    return rows


def training_step_rows(s: Setup, methods: list[str] | None = None, attack_steps: int = 3) -> list[dict[str, Any]]:
    """One optimisation step of every training method (PGD-``attack_steps`` inner attack, step
    eps/2) on the bench batch; the floor is the passes the method needs at the least: the attack's
    steps plus one forward+backward per image the loss sees (1 for standard/Madry, 2 for the
    clean+adversarial methods, 6 for ARP's three images and their masked copies: the recipe record's
    ``loss_passes``)."""
    rows = []
    for method in methods or sorted(recipes.classifier_recipes()):  # a purifier has no classifier step to time
        model, recipe = s.fresh_model(), recipes.get(method)
        cfg = TrainConfig(method=method, epochs=1, batch_size=s.batch,
                          attack=AttackSettings(s.eps, s.eps / 2, attack_steps if recipe.needs_attack else 0))
        optimizer = make_optimizer(model, cfg)
        g = torch.Generator(device=s.device).manual_seed(0)
        batch = recipes.Batch(model, s.x, s.y, cfg.attack, cfg.options, g)
        passes = recipe.loss_passes + (attack_steps if recipe.needs_attack else 0)
        model.train()
        t = s.time_together({"floor": floor(model, s.x, s.y, passes), "ours": lambda: train_step(recipe, batch, optimizer)})
        rows.append({**s.describe(), "operation": f"train step: {method}", **timed("floor", t["floor"]),
                     **timed("ours", t["ours"])})
    return rows


def batched_training_rows(s: Setup, methods: list[str], count: int = 3, attack_steps: int = 3) -> list[dict[str, Any]]:
    """``count`` models of one recipe: one optimisation step each, one after another, against one
    step of the same models stacked (:class:`aad_lib.training.ModelStack`, one optimiser over the
    stacked weights), each model on its own batch of ``s.batch`` images with its own attack
    generator (PGD-``attack_steps``, step eps/2). Reported: models per second both ways and the
    speed-up of the stack (below 1: the stack is slower)."""
    rows = []
    channels, size = s.shape()
    g = torch.Generator().manual_seed(1)
    xs = [torch.rand(s.batch, channels, size, size, generator=g).to(s.device) for _ in range(count)]
    ys = [torch.randint(0, 10, (s.batch,), generator=g).to(s.device) for _ in range(count)]
    for method in methods:
        recipe = recipes.get(method)
        cfg = TrainConfig(method=method, epochs=1, batch_size=s.batch,
                          attack=AttackSettings(s.eps, s.eps / 2, attack_steps if recipe.needs_attack else 0))
        alone = [s.fresh_model().train() for _ in range(count)]
        described = {**s.describe(), "operation": f"batched train step: {method}", "models": count}
        obstacle = stack_obstacle(recipe, alone, xs[0])
        if obstacle:
            rows.append({**described, "stacked_note": f"{method}: not stacked ({obstacle})"})
            continue
        optimizers = [make_optimizer(m, cfg) for m in alone]
        batches = [recipes.Batch(m, x, y, cfg.attack, cfg.options, torch.Generator(device=s.device).manual_seed(k))
                   for k, (m, x, y) in enumerate(zip(alone, xs, ys))]
        stack = ModelStack(alone).train()
        stacked_batch = recipes.Batch(stack, interleave(xs), interleave(ys), cfg.attack, cfg.options,
                                      tuple(torch.Generator(device=s.device).manual_seed(k) for k in range(count)))
        stack_optimizer = make_optimizer(stack, cfg)

        def one_at_a_time() -> None:
            for batch, optimizer in zip(batches, optimizers):
                train_step(recipe, batch, optimizer)

        t = s.time_together({"one at a time": one_at_a_time,
                             "stacked": lambda: train_step(recipe, stacked_batch, stack_optimizer)})
        rows.append({**described, **timed("one_at_a_time", t["one at a time"]), **timed("stacked", t["stacked"]),
                     "models_per_second_one_at_a_time": count / t["one at a time"].min,
                     "models_per_second_stacked": count / t["stacked"].min,
                     "stacked_speedup": t["one at a time"].min / t["stacked"].min})
    return rows


def hand_written_pgd_at_epoch(model: nn.Module, x_all: torch.Tensor, y_all: torch.Tensor, batch: int,
                              eps: float, alpha: float, steps: int) -> None:
    """The reference a user would write in ten lines: PGD-AT (Madry et al.) with Adam, random
    start, eval-mode attack, no logging. Hand-written on purpose: it is the yardstick."""
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    order = torch.randperm(len(x_all), generator=torch.Generator().manual_seed(0)).to(x_all.device)
    for start in range(0, len(x_all), batch):
        idx = order[start:start + batch]
        xb, yb = x_all[idx], y_all[idx]
        model.eval()
        xa = (xb + torch.empty_like(xb).uniform_(-eps, eps)).clamp(0, 1)
        for _ in range(steps):
            xa.requires_grad_(True)
            (g,) = torch.autograd.grad(F.cross_entropy(model(xa), yb, reduction="sum"), xa)
            xa = torch.min(torch.max(xa.detach() + alpha * g.sign(), xb - eps), xb + eps).clamp(0, 1)
        model.train()
        loss = F.cross_entropy(model(xa), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()


def epoch_rows(device: torch.device, repeats: int, batch: int = 50, steps: int = 3,
               limit: int | None = None) -> list[dict[str, Any]]:
    """One Madry PGD-AT epoch over the bundled training digits (4,000; the default profile's
    lenet_small, batch 50, PGD-3 at eps 0.3, no warm-up, no monitor): ``aad_lib.training.train``
    against the hand-written loop. The floor: (steps + 1) passes per image."""
    full = data.load("mnist5k", data_root(), "train")
    ds = data.ImageTensorDataset(full.images[:limit], full.labels[:limit], "mnist5k", "train")
    x_all, y_all = ds.tensors(device)
    cfg = TrainConfig(method="madry", epochs=1, batch_size=batch, attack=AttackSettings(0.3, 0.15, steps))

    def ours() -> None:
        with tempfile.TemporaryDirectory() as out:
            train(lenet(device), ds, cfg, out, device=device, progress=False, resume=False)

    def hand() -> None:
        hand_written_pgd_at_epoch(lenet(device), x_all, y_all, batch, 0.3, 0.15, steps)

    model = lenet(device)

    def floor_epoch() -> None:
        for start in range(0, len(x_all), batch):
            floor(model, x_all[start:start + batch], y_all[start:start + batch], steps + 1)()

    t = measure_together({"floor": floor_epoch, "ours": ours, "hand": hand}, device, repeats)
    t_floor, t_ours, t_hand = t["floor"], t["ours"], t["hand"]
    return [{"model": "lenet_small", "batch": batch, "device": device.type, "variant": "eager",
             "operation": f"PGD-{steps} AT epoch ({len(x_all):,} digits)", **timed("floor", t_floor),
             **timed("ours", t_ours), **timed("hand-written", t_hand)}]


def table_rows(named_models: dict[str, nn.Module], x: torch.Tensor, y: torch.Tensor, cfg: EvalConfig,
               device: torch.device, stacked: int = 3) -> list[dict[str, Any]]:
    """The ten-column robustness table (Clean, FGSM, PGD-k, CW-k) three ways, once each (they take
    minutes): every attack run on its own (last iterate, as with any library), one trajectory per
    loss (same numbers), and one trajectory per loss that stops on fooled images (AutoAttack's
    convention, the default); and the default way for ``stacked`` copies of the model evaluated as
    one stack (:func:`aad_lib.evaluation.evaluate_models`), its time per model. The floor: one
    measured pass times the passes of the one-by-one runs."""
    rows = []
    per_attack = 1 + sum(cfg.pgd_steps) + sum(cfg.cw_steps)
    for name, model in named_models.items():
        model = model.to(device).eval()

        def one_by_one() -> None:
            with torch.no_grad():
                model(x)
            attacks.fgsm(model, x, y, cfg.eps)
            for loss, ks in (("ce", cfg.pgd_steps), ("cw", cfg.cw_steps)):
                g = torch.Generator(device=device).manual_seed(0)
                for k in ks:
                    attacks.pgd(model, x, y, cfg.eps, cfg.alpha, k, loss=loss, kappa=cfg.kappa, generator=g)

        copies = [copy.deepcopy(model) for _ in range(stacked)]  # the same weights: the same work as other seeds
        per_model = f"trajectory + stop, {stacked} models stacked, per model"
        t = {label: measure(fn, device, repeats=1, warmup=0) for label, fn in (
            ("one by one", one_by_one),
            ("trajectory", lambda: evaluate(model, x, y, replace(cfg, stop_when_fooled=False), progress=False)),
            ("trajectory + stop", lambda: evaluate(model, x, y, cfg, progress=False)),
            (per_model, lambda: evaluate_models(copies, x, y, cfg, progress=False)))}
        t[per_model] = Timing([v / stacked for v in t[per_model].seconds])
        one_pass = measure(floor(model, x, y, 1), device, repeats=3)
        t_floor = Timing([one_pass.min * per_attack])  # one pass x the passes of the one-by-one runs
        for label, timing in t.items():
            rows.append({"model": name, "batch": len(x), "device": device.type, "variant": "eager",
                         "operation": f"10-column table: {label}", **timed("floor", t_floor), **timed("ours", timing),
                         "vs_one_by_one": timing.min / t["one by one"].min})
    return rows


def timed(name: str, timing: Timing) -> dict[str, float]:
    """``<name>_s`` (min over repeats) and ``<name>_median_s`` columns of a result row."""
    return {f"{name}_s": timing.min, f"{name}_median_s": timing.median}


def lenet(device: torch.device) -> nn.Module:
    """The default profile's lenet_small for MNIST-5k with seed-0 initial weights."""
    torch.manual_seed(0)
    return models.for_dataset("lenet_small", "mnist5k").to(device)


def data_root() -> str:
    """``data/`` with the bundled MNIST-5k in it (written offline if it is not there yet)."""
    from pathlib import Path

    root = Path("data")
    if not (root / "mnist5k" / "images.npy").exists():
        data.fetch("mnist5k", root)
    return str(root)
