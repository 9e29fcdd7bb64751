"""Parity of an exported model directory with the PyTorch model it came from (ONNX Runtime, CPU).

Checks: encoder tokens, decoder pixels, one AR step (logits and KV cache), and a KV-cached greedy
decode through the step graph against the no-cache PyTorch forward.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from .ar import GPT
from .export import smooth_images
from .tokenizer import GigaTok

# float32 thresholds from the contract; float16 weights are compared with float32 compute, so
# their bounds measure the precision loss rather than an export error.
THRESHOLDS = {
    "float32": {"tokens": 0.999, "image": 1e-4, "logits": 1e-4},
    "float16": {"tokens": 0.95, "image": 5e-2, "logits": 5e-2},
}
# Two codes whose distances differ by less than this are a tie that float rounding may break
# either way; such a mismatch is not an export error.
TIE_EPS = 1e-5


@dataclasses.dataclass
class Check:
    name: str
    metric: str
    value: float
    limit: str
    ok: bool


@dataclasses.dataclass
class Report:
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def table(self) -> str:
        rows = [("check", "metric", "value", "limit", "result")]
        for c in self.checks:
            rows.append((c.name, c.metric, f"{c.value:.3g}", c.limit, "ok" if c.ok else "FAIL"))
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)


def session(path: Path) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    # 0 = ONNX Runtime's default (one thread per core); tests set 1.
    opts.intra_op_num_threads = int(os.environ.get("GIGATOK_ORT_THREADS", "0"))
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _max_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))


@torch.no_grad()
def check_encoder(sess, tok: GigaTok, images: torch.Tensor, min_equal: float) -> list[Check]:
    got = sess.run(["tokens"], {"image": images.numpy()})[0]
    latent = tok.encode_latent(images)
    want = tok.quantize.indices(latent).numpy()
    equal = float(np.mean(got == want))
    # A differing token is excused when PyTorch's distance to the ORT code ties its own pick.
    _, dist = tok.quantize.distances(latent.permute(0, 2, 3, 1).reshape(-1, tok.config.codebook_dim))
    d = dist.numpy()
    rows = np.arange(d.shape[0])
    gap = np.abs(d[rows, got.reshape(-1)] - d[rows, want.reshape(-1)])
    unexplained = int(np.sum(gap > TIE_EPS))
    distinct = len(np.unique(want))
    return [
        Check("encoder", "tokens equal", equal, f">= {min_equal}", equal >= min_equal or unexplained == 0),
        Check("encoder", "non-tie mismatches", unexplained, "== 0", unexplained == 0),
        Check("encoder", "distinct tokens", distinct, "info", True),
    ]


@torch.no_grad()
def check_decoder(sess, tok: GigaTok, tokens: torch.Tensor, limit: float) -> list[Check]:
    got = sess.run(["image"], {"tokens": tokens.numpy()})[0]
    want = tok.decode(tokens).numpy()
    diff = _max_abs(got, want)
    return [Check("decoder", "image max abs diff", diff, f"<= {limit:g}", diff <= limit)]


@torch.no_grad()
def check_step(sess, ar: GPT, gen: torch.Generator, limit: float, past_len: int = 5) -> list[Check]:
    cfg = ar.config
    n = 3
    past_len = min(past_len, cfg.block_size - 1)
    past_k = torch.randn(cfg.n_layer, n, cfg.n_head, past_len, cfg.head_dim, generator=gen)
    past_v = torch.randn(past_k.shape, generator=gen)
    token_ids = torch.randint(0, cfg.vocab_size, (n, 1), generator=gen)
    class_ids = torch.randint(0, cfg.num_classes + 1, (n,), generator=gen)
    position = torch.tensor([past_len])
    feeds = {
        "token_ids": token_ids.numpy(),
        "class_ids": class_ids.numpy(),
        "position": position.numpy(),
        "past_keys": past_k.numpy(),
        "past_values": past_v.numpy(),
    }
    logits, pk, pv = sess.run(["logits", "present_keys", "present_values"], feeds)
    wl, wk, wv = ar.step(token_ids, class_ids, position, past_k, past_v)
    dl = _max_abs(logits, wl.numpy())
    dkv = max(_max_abs(pk, wk.numpy()), _max_abs(pv, wv.numpy()))
    shape_ok = pk.shape == (cfg.n_layer, n, cfg.n_head, past_len + 1, cfg.head_dim)
    return [
        Check("ar_step", f"logits max abs diff (P={past_len})", dl, f"<= {limit:g}", dl <= limit),
        Check("ar_step", "present kv max abs diff", dkv, f"<= {limit:g}", dkv <= limit and shape_ok),
    ]


@torch.no_grad()
def check_cached_decode(
    sess, ar: GPT, gen: torch.Generator, limit: float, steps: int = 16
) -> list[Check]:
    """Greedy decode with the ONNX step graph and a KV cache, from an empty past, for a guided
    batch [cond; null]; every step's logits must match the no-cache PyTorch forward."""
    cfg = ar.config
    steps = min(steps, cfg.block_size)
    cond = torch.randint(0, cfg.num_classes, (2,), generator=gen)
    classes = torch.cat([cond, torch.full_like(cond, cfg.null_class_id)])
    n = classes.shape[0]
    pk = np.zeros((cfg.n_layer, n, cfg.n_head, 0, cfg.head_dim), np.float32)
    pv = pk.copy()
    prev = np.zeros((n, 1), np.int64)
    tokens = torch.zeros(n, 0, dtype=torch.int64)
    worst, argmax_equal = 0.0, 0
    for p in range(steps):
        feeds = {
            "token_ids": prev,
            "class_ids": classes.numpy(),
            "position": np.array([p], np.int64),
            "past_keys": pk,
            "past_values": pv,
        }
        logits, pk, pv = sess.run(["logits", "present_keys", "present_values"], feeds)
        want = ar(classes, tokens)[:, -1].numpy()
        worst = max(worst, _max_abs(logits, want))
        nxt = logits.argmax(axis=-1)
        argmax_equal += int(np.array_equal(nxt, want.argmax(axis=-1)))
        prev = nxt.reshape(n, 1).astype(np.int64)
        tokens = torch.cat([tokens, torch.from_numpy(prev)], dim=1)
    return [
        Check("kv decode", f"logits max abs diff ({steps} steps)", worst, f"<= {limit:g}", worst <= limit),
        Check("kv decode", "steps with equal argmax", argmax_equal, f"== {steps}", argmax_equal == steps),
    ]


def verify_model_dir(
    model_dir: str | Path, tok: GigaTok, ar: GPT, seed: int = 0, batch: int = 2
) -> Report:
    model_dir = Path(model_dir)
    manifest = json.loads((model_dir / "manifest.json").read_text())
    limits = THRESHOLDS[manifest["dtype"]]
    graphs = {k: model_dir / v["file"] for k, v in manifest["graphs"].items()}
    tok, ar = tok.float().eval(), ar.float().eval()
    gen = torch.Generator().manual_seed(seed)
    size = tok.config.image_size
    images = smooth_images(batch, size, gen)
    images = (images + 0.1 * torch.randn(images.shape, generator=gen)).clamp(-1, 1)
    tokens = torch.randint(0, tok.config.codebook_size, (batch, tok.config.num_latent_tokens), generator=gen)
    checks = []
    checks += check_encoder(session(graphs["encoder"]), tok, images, limits["tokens"])
    checks += check_decoder(session(graphs["decoder"]), tok, tokens, limits["image"])
    step = session(graphs["ar_step"])
    checks += check_step(step, ar, gen, limits["logits"])
    checks += check_cached_decode(step, ar, gen, limits["logits"])
    return Report(checks)
