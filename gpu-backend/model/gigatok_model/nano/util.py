"""Shared helpers for the nano training stages: seeding, thread limits, LR schedule, timing, batches."""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

# The budget is stated for 2 CPU cores: every stage runs with this many torch threads.
# GIGATOK_NANO_THREADS overrides it: on an oversubscribed machine two OpenMP threads spend most
# of their time waiting for each other, and one thread per process is several times faster.
NUM_THREADS = int(os.environ.get("GIGATOK_NANO_THREADS", "2"))


def setup_torch(seed: int, threads: int = NUM_THREADS) -> torch.Generator:
    """Seeds python/numpy/torch, limits threads, and returns a torch generator for data order."""
    torch.set_num_threads(threads)
    # NNPACK cannot initialise on these CPUs and warns on every conv that probes it; oneDNN runs them.
    torch.backends.nnpack.set_flags(False)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def warmup_cosine(step: int, total: int, peak: float, warmup: int, floor: float = 0.05) -> float:
    """Linear warm-up to `peak`, then cosine decay to `floor * peak` at `total` steps."""
    if step < warmup:
        return peak * (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t)))


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for g in opt.param_groups:
        g["lr"] = lr


def batches(n: int, batch_size: int, gen: torch.Generator, epochs: int) -> Iterator[torch.Tensor]:
    """Index batches over `epochs` shuffled passes; the last partial batch of a pass is dropped."""
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n - batch_size + 1, batch_size):
            yield perm[i : i + batch_size]


@dataclass
class Clock:
    """Wall and process CPU time of a stage. On a shared machine the CPU time divided by the
    thread count estimates the wall time the stage would take on otherwise idle cores."""

    wall0: float = field(default_factory=time.perf_counter)
    cpu0: float = field(default_factory=time.process_time)

    def wall(self) -> float:
        return time.perf_counter() - self.wall0

    def cpu(self) -> float:
        return time.process_time() - self.cpu0

    def summary(self) -> dict[str, float]:
        return {"wall_s": round(self.wall(), 1), "cpu_s": round(self.cpu(), 1)}


def write_json(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2) + "\n", encoding="utf-8")


def log(stage: str, msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {stage}: {msg}", flush=True)
