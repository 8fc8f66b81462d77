"""Wall-clock timing with warm-up, repeats and device synchronisation (``aad bench`` and ``aad plan``)."""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass
class Timing:
    """Seconds of each repeat; ``min`` is the number to compare (least disturbed by the OS)."""

    seconds: list[float]

    @property
    def min(self) -> float:
        return min(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def measure(fn: Callable[[], object], device: torch.device, repeats: int = 3, warmup: int = 1) -> Timing:
    """Run ``fn`` ``warmup`` times untimed (allocator, oneDNN primitives, compilation), then
    ``repeats`` times timed; CUDA work is synchronised before each clock read."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        out.append(time.perf_counter() - t0)
    return Timing(out)


def measure_together(ops: dict[str, Callable[[], object]], device: torch.device, repeats: int = 3,
                     warmup: int = 1) -> dict[str, Timing]:
    """Time several operations round-robin: each round runs every op once, in an order rotated
    by one each round, so a slow spell of a shared machine (frequency changes, a neighbour's job)
    falls on all of them alike instead of on whichever happened to run then."""
    names = list(ops)
    for _ in range(warmup):
        for name in names:
            ops[name]()
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            _sync(device)
            t0 = time.perf_counter()
            ops[name]()
            _sync(device)
            seconds[name].append(time.perf_counter() - t0)
    return {name: Timing(v) for name, v in seconds.items()}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
