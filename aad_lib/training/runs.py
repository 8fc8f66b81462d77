"""One model's training run as data: its files, its resume, its epoch tallies, log rows and
checkpoints. The one-model loop (:func:`aad_lib.training.train`) and the stacked loop
(:func:`aad_lib.training.batched.train_stack`) share all of it, so a model trained in a stack
writes exactly the files, rows and checkpoints of its separate run, and either can resume the other.

Randomness is derived from ``(seed, epoch)`` (batch order, attack starts, the global torch RNG),
never from how many batches ran before (:func:`epoch_order`, :func:`attack_generator`).
"""
from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..data import ImageTensorDataset
from ..files import atomic_write_text
from ..runtime import derive_seed, generator
from ..validation import AadError
from . import checkpoint, recipes

if TYPE_CHECKING:
    from .loop import TrainConfig

LOG_FIELDS = ["epoch", "loss", "train_clean_acc", "train_adv_acc", "test_clean_acc", "test_adv_acc",
              "eps", "lr", "seconds"]


@dataclass
class ModelRun:
    """Everything one model's run holds between epochs: config, model, optimiser, scheduler,
    where it writes, its config fingerprint, its log so far and the first epoch still to train."""

    cfg: TrainConfig
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    out_dir: Path
    log_path: Path
    fingerprint: str
    model_spec: dict[str, Any]
    log: list[dict[str, Any]] = field(default_factory=list)
    start_epoch: int = 1

    @property
    def ckpt_dir(self) -> Path:
        return self.out_dir / "checkpoints"


def open_run(model: nn.Module, train_set: ImageTensorDataset, cfg: TrainConfig, out_dir: str | Path, *,
             model_spec: dict[str, Any] | None, device: torch.device | str, resume: bool,
             log_path: str | Path | None) -> ModelRun:
    """Move ``model`` to ``device``, make its optimiser and scheduler, and continue its newest
    checkpoint of the same fingerprint (``cfg``, ``model_spec``, the training data) when ``resume``;
    a fresh start first deletes what another config left in ``out_dir``."""
    from .loop import make_optimizer

    out_dir = Path(out_dir)
    model_spec = model_spec or {}
    fp = cfg.fingerprint({"model": model_spec, "data": [train_set.name, len(train_set), train_set.content_hash()]})
    model.to(device)
    optimizer = make_optimizer(model, cfg)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, cfg.lr_milestones, cfg.lr_gamma)
    torch.manual_seed(cfg.seed)
    run = ModelRun(cfg, model, optimizer, scheduler, out_dir,
                   Path(log_path) if log_path is not None else out_dir / "log.csv", fp, model_spec)
    if resume:
        state = latest_matching(run.ckpt_dir, fp)
        if state is not None:
            payload, meta = state
            model.load_state_dict(payload["model"])
            optimizer.load_state_dict(payload["optimizer"])
            scheduler.load_state_dict(payload["scheduler"])
            run.log = meta["log"]
            run.start_epoch = meta["epoch"] + 1
    if run.start_epoch == 1:  # a fresh start: nothing of another config may survive it, even if this run dies
        stale = [*run.ckpt_dir.glob("epoch_*"), out_dir / "model.pt", out_dir / "model.json"]
        for path in stale:
            path.unlink(missing_ok=True)
    return run


def epoch_order(cfg: TrainConfig, n: int, epoch: int, device: torch.device | str) -> torch.Tensor:
    """The epoch's batch order of a run: a permutation of ``n`` drawn from ``(seed, "order", epoch)``."""
    return torch.randperm(n, generator=generator(derive_seed(cfg.seed, "order", epoch))).to(device)


def attack_generator(cfg: TrainConfig, epoch: int, device: torch.device | str) -> torch.Generator:
    """The epoch's source of attack starts (and other draws of a recipe): ``(seed, "attack", epoch)``."""
    return generator(derive_seed(cfg.seed, "attack", epoch), device)


def warmup_fraction(cfg: TrainConfig, progress_epochs: float) -> float:
    """Linear eps ramp from 0 to 1 over ``eps_warmup_epochs`` (1 when there is no warm-up)."""
    if cfg.eps_warmup_epochs <= 0:
        return 1.0
    return min(1.0, progress_epochs / cfg.eps_warmup_epochs)


class EpochTally:
    """One model's running sums over an epoch: loss and loss parts weighted by batch size, and the
    right clean and adversarial training predictions."""

    def __init__(self) -> None:
        self.sums = {"loss": 0.0, "clean": 0, "adv": 0, "seen": 0, "clean_seen": 0}
        self.parts: dict[str, float] = {}

    def add(self, out: recipes.StepOutput, y: torch.Tensor) -> None:
        """Count one batch's output of one model (``out.loss`` a 0-dim tensor, parts floats)."""
        k = y.numel()
        self.sums["loss"] += out.loss.item() * k
        self.sums["seen"] += k
        for name, value in out.parts.items():
            self.parts[name] = self.parts.get(name, 0.0) + value * k
        if out.clean_pred is not None:
            self.sums["clean"] += int((out.clean_pred == y).sum())
            self.sums["clean_seen"] += k
        if out.adv_pred is not None:
            self.sums["adv"] += int((out.adv_pred == y).sum())

    def mean_loss(self) -> float:
        return self.sums["loss"] / self.sums["seen"]

    def row(self, epoch: int, cfg: TrainConfig, recipe: recipes.Recipe, lr: float) -> dict[str, Any]:
        """The epoch's log row before the monitor and the seconds."""
        sums, seen = self.sums, self.sums["seen"]
        row: dict[str, Any] = {
            "epoch": epoch,
            "loss": sums["loss"] / seen,
            "train_clean_acc": sums["clean"] / sums["clean_seen"] if sums["clean_seen"] else float("nan"),
            "train_adv_acc": sums["adv"] / seen if recipe.needs_attack else float("nan"),
            "eps": cfg.attack.eps * warmup_fraction(cfg, epoch),
            "lr": lr,
        }
        row.update({f"loss_{k}": v / seen for k, v in self.parts.items()})
        return row


def close_epoch(run: ModelRun, epoch: int, tally: EpochTally, recipe: recipes.Recipe,
                monitor_set: tuple[torch.Tensor, torch.Tensor] | None, started: float, progress: bool,
                label: str | None = None) -> dict[str, Any]:
    """After the scheduler stepped: the epoch's row (with the monitor on ``monitor_set``, and the
    seconds since ``started``), appended to the log, the epoch checkpoint and the CSV log written;
    with ``progress`` one line, named ``label`` (default: the method)."""
    from tqdm.auto import tqdm

    cfg, model = run.cfg, run.model
    row = tally.row(epoch, cfg, recipe, run.optimizer.param_groups[0]["lr"])
    if monitor_set is not None:
        measure = recipe.monitor
        row.update(measure(model.eval(), *monitor_set, cfg.seed) if measure else monitor(model, *monitor_set, cfg))
    row["seconds"] = time.perf_counter() - started
    run.log.append(row)
    save_epoch(run, epoch)
    write_log(run.log_path, run.log)
    if progress:
        tqdm.write(describe(label or cfg.method, row))
    return row


def finish_run(run: ModelRun) -> list[dict[str, Any]]:
    """The final log and ``model.pt`` (+ ``model.json``), the model in eval mode; returns the log."""
    cfg, model = run.cfg, run.model
    write_log(run.log_path, run.log)  # also when a finished run is resumed and no epoch ran
    model.eval()
    checkpoint.save(run.out_dir / "model.pt", {"model": model.state_dict()},
                    {"kind": "model", "method": cfg.method, "fingerprint": run.fingerprint, "epochs": cfg.epochs,
                     "config": json.loads(json.dumps(asdict(cfg), default=str)), "model_spec": run.model_spec,
                     "train_seconds": sum(r["seconds"] for r in run.log), "torch": torch.__version__})
    return run.log


def monitor(model: nn.Module, x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig) -> dict[str, float]:
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


def save_epoch(run: ModelRun, epoch: int) -> None:
    """Epoch ``epoch``'s checkpoint: model, optimiser and scheduler state, the log in the metadata."""
    payload = {"model": run.model.state_dict(), "optimizer": run.optimizer.state_dict(),
               "scheduler": run.scheduler.state_dict()}
    checkpoint.save(run.ckpt_dir / f"epoch_{epoch:03d}.pt", payload,
                    {"kind": "epoch", "epoch": epoch, "method": run.cfg.method, "fingerprint": run.fingerprint,
                     "log": run.log})


def latest_matching(ckpt_dir: Path, fp: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
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


def write_log(path: Path, log: list[dict[str, Any]]) -> None:
    """The log rows as CSV (the fixed columns first, then the loss parts), written atomically."""
    fields = LOG_FIELDS + sorted({k for r in log for k in r} - set(LOG_FIELDS))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, restval="")
    writer.writeheader()
    for row in log:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    atomic_write_text(path, buffer.getvalue())


def describe(method: str, row: dict[str, Any]) -> str:
    """The one-line summary of an epoch's row."""
    text = f"{method} epoch {row['epoch']}: loss {row['loss']:.4f}"
    if row["train_clean_acc"] == row["train_clean_acc"]:
        text += f", train clean {row['train_clean_acc']:.3f}"
    if row["train_adv_acc"] == row["train_adv_acc"]:
        text += f", train adv {row['train_adv_acc']:.3f}"
    if "test_adv_acc" in row:
        text += f", test clean {row['test_clean_acc']:.3f}, test PGD {row['test_adv_acc']:.3f}"
    return text + f" ({row['seconds']:.1f} s)"
