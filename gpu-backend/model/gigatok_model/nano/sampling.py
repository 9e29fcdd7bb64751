"""Batched class-conditional sampling from a gpt-nano model in PyTorch, with the contract's semantics.

Guidance by batch doubling [cond; null], the `constant` / `step` cfg schedules, temperature, top-k,
top-p, float32 softmax and the inverse-CDF draw with Philox4x32-10 uniforms u(seed, image, step),
as docs/model-contract.md and gpu-backend/src/sampling.ts define them. Used to evaluate and to
choose the manifest's sampling_defaults; the served path is the backend's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from ..ar import GPT

_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_W0, _W1 = np.uint64(0x9E3779B9), np.uint64(0xBB67AE85)
_MASK32 = np.uint64(0xFFFFFFFF)


def philox_uniforms(seed: int, image_index: np.ndarray, steps: int) -> np.ndarray:
    """float32 [len(image_index), steps]: u = (first word of Philox4x32-10 with key (seed, 0) and
    counter (image, step, 0, 0)) >> 8, times 2^-24 (shared/src/random.ts `uniform`)."""
    img = np.asarray(image_index, dtype=np.uint64)
    c0 = np.repeat(img[:, None], steps, axis=1)
    c1 = np.broadcast_to(np.arange(steps, dtype=np.uint64), c0.shape).copy()
    c2 = np.zeros_like(c0)
    c3 = np.zeros_like(c0)
    k0, k1 = np.uint64(seed & 0xFFFFFFFF), np.uint64(0)
    for _ in range(10):
        p0 = _M0 * c0  # < 2^64: exact in uint64
        p1 = _M1 * c2
        c0, c1, c2, c3 = (
            (p1 >> np.uint64(32)) ^ c1 ^ k0,
            p1 & _MASK32,
            (p0 >> np.uint64(32)) ^ c3 ^ k1,
            p0 & _MASK32,
        )
        k0 = (k0 + _W0) & _MASK32
        k1 = (k1 + _W1) & _MASK32
    return ((c0 >> np.uint64(8)).astype(np.float64) * 2.0**-24).astype(np.float32)


@dataclass(frozen=True)
class SamplingSettings:
    cfg_scale: float = 4.0
    cfg_schedule: str = "constant"
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0

    def manifest(self) -> dict:
        return asdict(self)

    def label(self) -> str:
        return (
            f"cfg {self.cfg_scale:g} {self.cfg_schedule}, T {self.temperature:g}, "
            f"top-k {self.top_k}, top-p {self.top_p:g}"
        )


def cfg_at(scale: float, schedule: str, step: int, tokens: int) -> float:
    """GigaTok's `step` schedule: full scale at step 0, 1.0 while (i+1)/T < 0.18, full after."""
    if schedule == "constant" or step == 0:
        return scale
    if schedule != "step":
        raise ValueError(f"'cfg_schedule' must be 'constant' or 'step', got {schedule!r}")
    return 1.0 if (step + 1) / tokens < 0.18 else scale


def filter_logits(logits: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    """top-k (ties with the k-th largest kept), then top-p: in descending order (ties by lower id)
    drop every token whose preceding cumulative probability exceeds p; the first always stays."""
    v = logits.shape[-1]
    if 0 < top_k < v:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        # A stable sort of the negated logits gives descending order with ascending ids on ties.
        order = torch.sort(-logits, dim=-1, stable=True).indices
        sorted_logits = logits.gather(-1, order)
        probs = torch.softmax(sorted_logits, dim=-1)
        preceding = torch.cumsum(probs, dim=-1) - probs
        drop = preceding > top_p
        drop[:, 0] = False
        logits = logits.scatter(-1, order, sorted_logits.masked_fill(drop, float("-inf")))
    return logits


def draw(probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """token = min(count(cdf <= u), V - 1), cdf a float32 running sum in id order."""
    cdf = torch.cumsum(probs.float(), dim=-1)
    return (cdf <= u[:, None]).sum(dim=-1).clamp(max=probs.shape[-1] - 1)


@torch.no_grad()
def generate(
    ar: GPT,
    class_ids: torch.Tensor,
    settings: SamplingSettings,
    seed: int,
    batch_size: int = 500,
    prefix: torch.Tensor | None = None,
) -> torch.Tensor:
    """Tokens int64 [N, T] for class ids [N] (image i uses uniforms (seed, i)); KV-cached steps
    through `GPT.step`, the function the ar_step graph exports.

    `prefix` int64 [N, K] (variations): image i's tokens 0..K-1 are prefix[i], run through the cache
    as if sampled; position p still uses u(seed, i, p), so K = 0 is plain generation and a prefix
    equal to an image's own first tokens gives that image back (the backend's semantics)."""
    ar.eval()
    cfg = ar.config
    t = cfg.block_size
    k = 0 if prefix is None else prefix.shape[1]
    if prefix is not None and (prefix.shape[0] != len(class_ids) or k > t):
        raise ValueError(f"'prefix' must be [{len(class_ids)}, K <= {t}], got {list(prefix.shape)}")
    out = []
    for start in range(0, len(class_ids), batch_size):
        cls = class_ids[start : start + batch_size]
        n = len(cls)
        u = torch.from_numpy(philox_uniforms(seed, np.arange(start, start + n), t))
        guided = settings.cfg_scale != 1.0
        rows = torch.cat([cls, torch.full_like(cls, cfg.null_class_id)]) if guided else cls
        past_k, past_v = ar.empty_past(len(rows))
        prev = torch.zeros(len(rows), 1, dtype=torch.int64)
        tokens = []
        for p in range(t):
            logits, past_k, past_v = ar.step(prev, rows, torch.tensor([p]), past_k, past_v)
            if guided:
                cond, uncond = logits[:n], logits[n:]
                scale = cfg_at(settings.cfg_scale, settings.cfg_schedule, p, t)
                logits = uncond + (cond - uncond) * scale
            logits = logits / max(settings.temperature, 1e-5)
            logits = filter_logits(logits, settings.top_k, settings.top_p)
            tok = draw(torch.softmax(logits.float(), dim=-1), u[:, p])
            if p < k:
                tok = prefix[start : start + n, p].to(tok.dtype)
            tokens.append(tok)
            prev = tok[:, None].repeat(2, 1) if guided else tok[:, None]
        out.append(torch.stack(tokens, dim=1))
    return torch.cat(out)
