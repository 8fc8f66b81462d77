"""The one training loop: any recipe, per-epoch checkpoints, resume, seeded determinism on CPU.

Randomness is derived from ``(seed, epoch)`` (batch order, attack starts, the global torch RNG),
never from how many batches ran before, so a run resumed from epoch k's checkpoint produces the
same bits as one that was never interrupted.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data import ImageTensorDataset
from ..files import atomic_write_text
from ..runtime import derive_seed, generator
from ..validation import AadError, check_count, check_positive, choose
from . import checkpoint, recipes
from ..attacks.settings import AttackSettings
from .recipes import Batch


@dataclass
class TrainConfig:
    """Everything that determines a training run (its fingerprint decides whether to resume)."""

    method: str
    epochs: int
    batch_size: int = 100
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    momentum: float = 0.9
    lr_milestones: list[int] = field(default_factory=list)
    lr_gamma: float = 0.1
    attack: AttackSettings = field(default_factory=lambda: AttackSettings(0.3, 0.01, 40))
    eps_warmup_epochs: float = 0.0
    options: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    monitor_samples: int = 0
    monitor_steps: int = 10

    def __post_init__(self) -> None:
        if isinstance(self.attack, dict):
            self.attack = AttackSettings(**self.attack)
        known = recipes.get(self.method).options
        for key in self.options:
            choose(key, known, f"option of method {self.method!r}")
        self.options = {**known, **self.options}
        choose(self.optimizer, ("adam", "sgd"), "optimizer")
        check_count(self.epochs, "epochs", 1)
        check_count(self.batch_size, "batch_size", 1)
        check_positive(self.lr, "lr")
        check_count(self.monitor_samples, "monitor_samples", 0)
        if self.eps_warmup_epochs < 0:
            raise AadError(f"eps_warmup_epochs must be >= 0, got {self.eps_warmup_epochs!r}.")

    def fingerprint(self, extra: dict[str, Any] | None = None) -> str:
        blob = json.dumps({"config": asdict(self), **(extra or {})}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


LOG_FIELDS = ["epoch", "loss", "train_clean_acc", "train_adv_acc", "test_clean_acc", "test_adv_acc",
              "eps", "lr", "seconds"]


def train(model: nn.Module, train_set: ImageTensorDataset, cfg: TrainConfig, out_dir: str | Path, *,
          model_spec: dict[str, Any] | None = None, test_set: ImageTensorDataset | None = None,
          device: torch.device | str = "cpu", progress: bool = True, resume: bool = True,
          log_path: str | Path | None = None) -> list[dict[str, Any]]:
    """Train ``model`` in place with ``cfg`` and write ``out_dir``:

    - ``checkpoints/epoch_NNN.pt`` (+ ``.json``): model, optimiser and log after each epoch;
    - ``model.pt`` (+ ``model.json``): the final ``state_dict`` and its metadata;
    - ``log.csv`` (or ``log_path``): one row per epoch (loss parts, clean/adversarial training accuracy and, with
      ``monitor_samples``, clean/PGD accuracy on that many test images).

    With ``resume`` a matching checkpoint (same config fingerprint) is continued; a checkpoint of
    another config is ignored and overwritten. Returns the log rows.
    """
    from tqdm.auto import tqdm

    out_dir = Path(out_dir)
    log_path = Path(log_path) if log_path is not None else out_dir / "log.csv"
    ckpt_dir = out_dir / "checkpoints"
    model_spec = model_spec or {}
    fp = cfg.fingerprint({"model": model_spec, "data": [train_set.name, len(train_set), train_set.content_hash()]})
    model.to(device)
    optimizer = make_optimizer(model, cfg)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, cfg.lr_milestones, cfg.lr_gamma)
    recipe = recipes.get(cfg.method)
    torch.manual_seed(cfg.seed)
    log: list[dict[str, Any]] = []
    start_epoch = 1
    if resume:
        state = _latest_matching(ckpt_dir, fp)
        if state is not None:
            payload, meta = state
            model.load_state_dict(payload["model"])
            optimizer.load_state_dict(payload["optimizer"])
            scheduler.load_state_dict(payload["scheduler"])
            log = meta["log"]
            start_epoch = meta["epoch"] + 1
    if start_epoch == 1:  # a fresh start: nothing of another config may survive it, even if this run dies
        stale = [*ckpt_dir.glob("epoch_*"), out_dir / "model.pt", out_dir / "model.json"]
        for path in stale:
            path.unlink(missing_ok=True)

    x_all, y_all = train_set.tensors(device)
    monitor = test_set.tensors(device, cfg.monitor_samples) if test_set is not None and cfg.monitor_samples else None
    n = len(train_set)
    for epoch in range(start_epoch, cfg.epochs + 1):
        t0 = time.perf_counter()
        torch.manual_seed(derive_seed(cfg.seed, "epoch", epoch))
        order = torch.randperm(n, generator=generator(derive_seed(cfg.seed, "order", epoch))).to(device)
        attack_gen = generator(derive_seed(cfg.seed, "attack", epoch), device)
        model.train()
        sums = {"loss": 0.0, "clean": 0, "adv": 0, "seen": 0, "clean_seen": 0}
        parts_sum: dict[str, float] = {}
        batches = range(0, n, cfg.batch_size)
        bar = tqdm(batches, desc=f"{cfg.method} epoch {epoch}/{cfg.epochs}", disable=None if progress else True, leave=False)  # bars on a TTY only
        for b, start in enumerate(bar):
            idx = order[start:start + cfg.batch_size]
            fraction = _warmup_fraction(cfg, epoch - 1 + b / len(batches))
            batch = Batch(model, x_all[idx], y_all[idx], cfg.attack.scaled(fraction), cfg.options, attack_gen)
            out = train_step(recipe, batch, optimizer, where=f"{cfg.method} epoch {epoch}, batch {b}")
            k = idx.numel()
            sums["loss"] += out.loss.item() * k
            sums["seen"] += k
            for name, value in out.parts.items():
                parts_sum[name] = parts_sum.get(name, 0.0) + value * k
            if out.clean_pred is not None:
                sums["clean"] += int((out.clean_pred == batch.y).sum())
                sums["clean_seen"] += k
            if out.adv_pred is not None:
                sums["adv"] += int((out.adv_pred == batch.y).sum())
            bar.set_postfix(loss=f"{sums['loss'] / sums['seen']:.3f}", eps=f"{batch.attack.eps:.3f}")
        scheduler.step()
        seen = sums["seen"]
        row: dict[str, Any] = {
            "epoch": epoch,
            "loss": sums["loss"] / seen,
            "train_clean_acc": sums["clean"] / sums["clean_seen"] if sums["clean_seen"] else float("nan"),
            "train_adv_acc": sums["adv"] / seen if recipe.needs_attack else float("nan"),
            "eps": cfg.attack.eps * _warmup_fraction(cfg, epoch),
            "lr": optimizer.param_groups[0]["lr"],
        }
        row.update({f"loss_{k}": v / seen for k, v in parts_sum.items()})
        if monitor is not None:
            measure = recipe.monitor
            row.update(measure(model.eval(), *monitor, cfg.seed) if measure else _monitor(model, *monitor, cfg))
        row["seconds"] = time.perf_counter() - t0
        log.append(row)
        _save_epoch(ckpt_dir, epoch, model, optimizer, scheduler, cfg, fp, log)
        _write_log(log_path, log)
        if progress:
            tqdm.write(_describe(cfg.method, row))
    _write_log(log_path, log)  # also when a finished run is resumed and no epoch ran
    model.eval()
    checkpoint.save(out_dir / "model.pt", {"model": model.state_dict()},
                    {"kind": "model", "method": cfg.method, "fingerprint": fp, "epochs": cfg.epochs,
                     "config": json.loads(json.dumps(asdict(cfg), default=str)), "model_spec": model_spec,
                     "train_seconds": sum(r["seconds"] for r in log), "torch": torch.__version__})
    return log


def train_step(recipe: recipes.Recipe, batch: Batch, optimizer: torch.optim.Optimizer,
               where: str = "training") -> recipes.StepOutput:
    """One optimisation step of ``recipe`` on ``batch`` (the loop's body; the benchmarks time it)."""
    out = recipe(batch)
    if not torch.isfinite(out.loss):
        raise AadError(f"{where}: loss became {out.loss.item()}; lower the learning rate or check the data.")
    optimizer.zero_grad(set_to_none=True)
    out.loss.backward()
    optimizer.step()
    return out


def load_model(path: str | Path, device: torch.device | str = "cpu") -> nn.Module:
    """Rebuild a trained model from ``model.pt`` + ``model.json`` (checksum verified), in eval mode."""
    payload, meta = checkpoint.load(path)
    return _rebuild(meta, payload["model"], device, path)


def _rebuild(meta: dict[str, Any], state: dict[str, torch.Tensor], device: torch.device | str,
             path: str | Path) -> nn.Module:
    """``models.create(**meta["model_spec"])`` with ``state`` loaded, on ``device``, eval mode."""
    from .. import models

    spec = meta.get("model_spec") or {}
    if "name" not in spec:
        raise AadError(f"{path}: metadata has no model_spec; it cannot be rebuilt.")
    model = models.create(**spec)
    model.load_state_dict(state)
    return model.to(device).eval()


def epoch_models(model_dir: str | Path, device: torch.device | str = "cpu", every: int = 1
                 ) -> Iterator[tuple[int, nn.Module]]:
    """``(epoch, model)`` for every ``every``-th epoch checkpoint of a finished run in ``model_dir``
    (and always the last), each rebuilt from ``model.json``'s spec, checksum verified, eval mode."""
    model_dir = Path(model_dir)
    paths = sorted((model_dir / "checkpoints").glob("epoch_*.pt"))
    if not paths:
        raise AadError(f"{model_dir} has no epoch checkpoints; train it with `aad train`.")
    final = checkpoint.read_meta(model_dir / "model.pt")
    check_count(every, "every", 1)
    for i, path in enumerate(paths):
        if i % every and i != len(paths) - 1:
            continue
        payload, meta = checkpoint.load(path)
        yield meta["epoch"], _rebuild(final, payload["model"], device, model_dir / "model.pt")


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Adam or SGD (with momentum) over all parameters, as ``cfg`` says."""
    if cfg.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def _warmup_fraction(cfg: TrainConfig, progress_epochs: float) -> float:
    """Linear eps ramp from 0 to 1 over ``eps_warmup_epochs`` (1 when there is no warm-up)."""
    if cfg.eps_warmup_epochs <= 0:
        return 1.0
    return min(1.0, progress_epochs / cfg.eps_warmup_epochs)


def _monitor(model: nn.Module, x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig) -> dict[str, float]:
    """Clean and PGD accuracy on a fixed test subset (PGD at the full training eps)."""
    from ..attacks import pgd

    a = cfg.attack
    model.eval()
    with torch.no_grad():
        clean = (model(x).argmax(1) == y).float().mean().item()
    alpha = max(a.alpha, 2.5 * a.eps / max(cfg.monitor_steps, 1))
    x_adv = pgd(model, x, y, a.eps, alpha, cfg.monitor_steps, generator=generator(cfg.seed, x.device))
    with torch.no_grad():
        adv = (model(x_adv).argmax(1) == y).float().mean().item()
    return {"test_clean_acc": clean, "test_adv_acc": adv}


def _save_epoch(ckpt_dir: Path, epoch: int, model: nn.Module, optimizer: torch.optim.Optimizer,
                scheduler: Any, cfg: TrainConfig, fp: str, log: list[dict[str, Any]]) -> None:
    payload = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}
    checkpoint.save(ckpt_dir / f"epoch_{epoch:03d}.pt", payload,
                    {"kind": "epoch", "epoch": epoch, "method": cfg.method, "fingerprint": fp, "log": log})


def _latest_matching(ckpt_dir: Path, fp: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The newest epoch checkpoint of this config that verifies; corrupt ones are skipped."""
    for path in sorted(ckpt_dir.glob("epoch_*.pt"), reverse=True):
        try:
            meta = checkpoint.read_meta(path)
            if meta.get("fingerprint") != fp:
                return None
            return checkpoint.load(path)
        except AadError:
            continue
    return None


def _write_log(path: Path, log: list[dict[str, Any]]) -> None:
    fields = LOG_FIELDS + sorted({k for r in log for k in r} - set(LOG_FIELDS))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, restval="")
    writer.writeheader()
    for row in log:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    atomic_write_text(path, buffer.getvalue())


def _describe(method: str, row: dict[str, Any]) -> str:
    text = f"{method} epoch {row['epoch']}: loss {row['loss']:.4f}"
    if row["train_clean_acc"] == row["train_clean_acc"]:
        text += f", train clean {row['train_clean_acc']:.3f}"
    if row["train_adv_acc"] == row["train_adv_acc"]:
        text += f", train adv {row['train_adv_acc']:.3f}"
    if "test_adv_acc" in row:
        text += f", test clean {row['test_clean_acc']:.3f}, test PGD {row['test_adv_acc']:.3f}"
    return text + f" ({row['seconds']:.1f} s)"
