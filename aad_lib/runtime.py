"""Device choice, seeding and the few process-wide settings every run shares."""
from __future__ import annotations

import os
import random
import sys

import numpy as np
import torch

from .validation import choose


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else CPU. Nothing assumes a GPU, nothing forbids one."""
    choose(name.split(":")[0], ["auto", "cpu", "cuda", "mps"], "device")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but torch.cuda.is_available() is False; use 'auto' or 'cpu'.")
    return device


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; returns a CPU generator seeded the same way.

    On CPU, the same seed gives bit-identical numbers (deterministic algorithms are requested
    where torch has them; CUDA kernels may still differ run to run).
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    request_deterministic_algorithms()
    return generator(seed)


def request_deterministic_algorithms() -> None:
    """``torch.use_deterministic_algorithms(True, warn_only=True)`` without its import of the
    compiler stack. The public call also sets ``torch._inductor.config.deterministic``, and
    importing that module pulls in torch._dynamo: 3.4 s per process on the 2-core CPU, about 3.5
    minutes over the 60-odd processes of a ``dvc repro``, for a compiler the pipeline never uses.
    The ATen flag (what eager kernels read) is set the same way; inductor's flag too if inductor
    is already loaded (``aad bench`` compiles only on CUDA and asks for no determinism there)."""
    torch._C._set_deterministic_algorithms(True, warn_only=True)
    inductor = sys.modules.get("torch._inductor.config")
    if inductor is not None:
        inductor.deterministic = True


def generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A torch generator with a fixed seed, for randomness that must not depend on call order."""
    g = torch.Generator(device=device)
    g.manual_seed(int(seed))
    return g


def derive_seed(*parts: int | str) -> int:
    """A stable 63-bit seed from several parts (e.g. run seed, epoch), independent of PYTHONHASHSEED."""
    import hashlib

    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)
