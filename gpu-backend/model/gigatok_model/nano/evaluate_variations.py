"""Measures the two issue-11 features on a trained nano work dir and writes a markdown section.

1. Variation faithfulness against k: GigaTok's 1D tokens run coarse to fine (multi-level query
   init), so keeping the first k tokens of a test image and sampling the rest should keep its
   layout. For k in KEEP (of T = 32) the script samples variations of test images (unconditional,
   the null class: only the kept tokens carry the source) with the backend's semantics
   (sampling.generate with a prefix, Philox uniforms per token position) and reports the PSNR of
   the decoded variations against the source image and how often the teacher gives a variation the
   class it gives the source. k = T is the tokenizer's reconstruction, for reference.
2. Linear probe: logistic regression (torch, full batch L-BFGS, seeded) on the AR model's
   representation (GPT.hidden_mean: the mean hidden state at layer n_layer / 2 with the null class
   in front, what embed.onnx and POST /v1/embeddings serve) of the train split, evaluated on the
   test split, next to the same probe on raw pixels (GigaTok Sec. 4 probes the AR model's middle
   layer: 62.6-74.0% on ImageNet for its models). The ablation AR model (no semantic reg.) is
   probed too when the work dir has it.

Usage: python -m gigatok_model.nano.evaluate_variations --work-dir DIR [--smoke] [--docs FILE]
Writes DIR/variations.md (and replaces the marker block in --docs FILE when given).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..ar import GPT
from ..tokenizer import GigaTok
from . import data as nano_data
from . import metrics, sampling
from . import teacher as nano_teacher
from . import train_ar, train_tokenizer
from .evaluate import ablation_pair, decode_u8, teacher_view
from .sampling import SamplingSettings
from .util import log, setup_torch

KEEP = (0, 4, 8, 16, 24)
SEED = 0
MARK_BEGIN = "<!-- evaluate_variations:begin -->"
MARK_END = "<!-- evaluate_variations:end -->"


@dataclass(frozen=True)
class Budget:
    """How much to measure: sources and variations per source; probe train/test sizes (None: all)."""

    sources: int = 200
    per_source: int = 4
    probe_train: int | None = None
    probe_test: int | None = None
    probe_iters: int = 100


FULL = Budget()
SMOKE = Budget(sources=8, per_source=2, probe_train=300, probe_test=100, probe_iters=20)


@dataclass
class KeepRow:
    keep: int
    psnr: float
    agreement: float
    label_accuracy: float


@dataclass
class ProbeRow:
    features: str
    dim: int
    train_accuracy: float
    test_accuracy: float


def subset(labels: np.ndarray, n: int | None, seed: int = SEED) -> np.ndarray:
    """Indices of n items (all when None) spread evenly over the classes, in a seeded order. The
    splits are stored sorted by digit, so a plain prefix would hold one class only."""
    if n is None or n >= len(labels):
        return np.arange(len(labels))
    rng = np.random.default_rng([seed, n])
    classes = np.unique(labels)
    per_class = [rng.permutation(np.flatnonzero(labels == c)) for c in classes]
    # Round-robin over the classes: class-balanced for any n.
    order = [idx[i] for i in range(max(len(p) for p in per_class)) for idx in per_class if i < len(idx)]
    return np.array(order[:n], dtype=np.int64)


# ---------------------------------------------------------------------------------------------
# Variations


def variation_rows(
    tok: GigaTok,
    ar: GPT,
    teacher: nano_teacher.Teacher,
    images: np.ndarray,
    labels: np.ndarray,
    settings: SamplingSettings,
    per_source: int,
    keeps: tuple[int, ...] = KEEP,
    seed: int = SEED,
) -> list[KeepRow]:
    """One row per k (and k = T: the reconstruction). Each source gets `per_source` variations,
    unconditional; image j of a run uses uniforms (seed, j) as on the backend."""
    T = ar.config.block_size
    source_tokens = train_tokenizer.encode_all(tok, images)
    source_class = teacher_view(teacher, images).logits.argmax(1).numpy()
    rep_images = np.repeat(images, per_source, axis=0)
    rep_class = np.repeat(source_class, per_source)
    rep_labels = np.repeat(labels, per_source)
    null = torch.full((len(rep_images),), ar.config.null_class_id, dtype=torch.int64)
    rows = []
    for k in [k for k in keeps if k < T] + [T]:
        prefix = source_tokens.repeat_interleave(per_source, dim=0)[:, :k]
        if k == T:
            tokens = prefix  # the reconstruction: every token kept
        else:
            tokens = sampling.generate(ar, null, settings, seed, prefix=prefix)
            assert torch.equal(tokens[:, :k], prefix), "prefix tokens must come back exactly"
        decoded = decode_u8(tok, tokens)
        predicted = teacher_view(teacher, decoded).logits.argmax(1).numpy()
        rows.append(
            KeepRow(
                keep=k,
                psnr=metrics.psnr(rep_images, decoded),
                agreement=float((predicted == rep_class).mean()),
                label_accuracy=float((predicted == rep_labels).mean()),
            )
        )
        log("variations", f"k={k}: PSNR {rows[-1].psnr:.2f} dB, teacher agreement {rows[-1].agreement:.3f}")
    return rows


# ---------------------------------------------------------------------------------------------
# Linear probe


@torch.no_grad()
def ar_embeddings(ar: GPT, tokens: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """GPT.hidden_mean with the null class: what embed.onnx computes (docs/model-contract.md)."""
    out = []
    for i in range(0, len(tokens), batch_size):
        chunk = tokens[i : i + batch_size]
        null = torch.full((len(chunk),), ar.config.null_class_id, dtype=torch.int64)
        out.append(ar.hidden_mean(null, chunk))
    return torch.cat(out)


def linear_probe(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    iters: int = 100,
    weight_decay: float = 1e-4,
    seed: int = SEED,
) -> tuple[float, float]:
    """Multinomial logistic regression on standardized features (train mean and std), full batch
    L-BFGS with an L2 penalty; returns (train accuracy, test accuracy)."""
    torch.manual_seed(seed)
    mean, std = train_x.mean(0), train_x.std(0).clamp_min(1e-6)
    xtr, xte = (train_x - mean) / std, (test_x - mean) / std
    classes = int(max(train_y.max(), test_y.max())) + 1
    layer = torch.nn.Linear(xtr.shape[1], classes)
    torch.nn.init.zeros_(layer.weight)
    torch.nn.init.zeros_(layer.bias)
    opt = torch.optim.LBFGS(layer.parameters(), lr=1.0, max_iter=iters, history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(layer(xtr), train_y) + weight_decay * layer.weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    with torch.no_grad():
        train_acc = (layer(xtr).argmax(1) == train_y).float().mean().item()
        test_acc = (layer(xte).argmax(1) == test_y).float().mean().item()
    return train_acc, test_acc


def probe_rows(
    models: list[tuple[str, GigaTok, GPT]],
    data: nano_data.NanoData,
    budget: Budget,
) -> list[ProbeRow]:
    """One row per (name, tokenizer, AR model), each AR model reading its own tokenizer's tokens, then
    raw pixels."""
    (tr_img, tr_lab), (te_img, te_lab) = data.split("train"), data.split("test")
    tr, te = subset(tr_lab, budget.probe_train), subset(te_lab, budget.probe_test)
    tr_img, tr_lab, te_img, te_lab = tr_img[tr], tr_lab[tr], te_img[te], te_lab[te]
    ytr, yte = torch.from_numpy(tr_lab).long(), torch.from_numpy(te_lab).long()
    rows = []
    for name, tok, ar in models:
        tr_tokens, te_tokens = train_tokenizer.encode_all(tok, tr_img), train_tokenizer.encode_all(tok, te_img)
        xtr, xte = ar_embeddings(ar, tr_tokens), ar_embeddings(ar, te_tokens)
        acc = linear_probe(xtr, ytr, xte, yte, budget.probe_iters)
        layer = ar.config.embedding_layer
        rows.append(ProbeRow(f"{name}: AR layer {layer} of {ar.config.n_layer} (mean hidden state)", xtr.shape[1], *acc))
        log("probe", f"{rows[-1].features}: test accuracy {acc[1]:.4f}")
    pixels = lambda x: torch.from_numpy(nano_data.to_model_input(x).reshape(len(x), -1))  # noqa: E731
    acc = linear_probe(pixels(tr_img), ytr, pixels(te_img), yte, budget.probe_iters)
    rows.append(ProbeRow("raw pixels (RGB 32x32)", pixels(tr_img[:1]).shape[1], *acc))
    log("probe", f"raw pixels: test accuracy {acc[1]:.4f}")
    return rows


# ---------------------------------------------------------------------------------------------
# Report


def render(
    keep_rows: list[KeepRow],
    probe: list[ProbeRow],
    settings: SamplingSettings,
    budget: Budget,
    n_train: int,
    n_test: int,
    tokens: int,
) -> str:
    lines = [
        MARK_BEGIN,
        "### Variations from a token prefix",
        "",
        f"{budget.sources} test images (class-balanced, seeded) x {budget.per_source} variations each, unconditional (null class), "
        f"sampling {settings.label()}, seed {SEED}; PSNR of the decoded variations against the source "
        "image (uint8, as served); teacher agreement = share of variations the teacher puts in the class it "
        "gives the source (label accuracy: the source's true digit). "
        f"k = {tokens} is the reconstruction. "
        "Command: `python -m gigatok_model.nano.evaluate_variations --work-dir <dir>`.",
        "",
        f"| k (of {tokens} tokens kept) | PSNR vs source (dB) | teacher agreement with source | label accuracy |",
        "|---|---|---|---|",
    ]
    for r in keep_rows:
        name = f"{r.keep} (reconstruction)" if r.keep == tokens else str(r.keep)
        lines.append(f"| {name} | {r.psnr:.2f} | {r.agreement:.3f} | {r.label_accuracy:.3f} |")
    lines += [
        "",
        "### Linear probe on the AR representation",
        "",
        f"Multinomial logistic regression (torch L-BFGS, {budget.probe_iters} iterations, L2 1e-4, "
        f"standardized features, seed {SEED}) trained on {n_train} train images, evaluated on {n_test} "
        "test images. The AR representation is what POST /v1/embeddings serves.",
        "",
        "| features | dim | train accuracy | test accuracy |",
        "|---|---|---|---|",
    ]
    for r in probe:
        lines.append(f"| {r.features} | {r.dim} | {r.train_accuracy:.4f} | {r.test_accuracy:.4f} |")
    lines.append(MARK_END)
    return "\n".join(lines) + "\n"


def replace_block(text: str, block: str) -> str:
    """`text` with the marker block replaced by `block`, or `block` appended when there is none."""
    if MARK_BEGIN in text and MARK_END in text:
        head, rest = text.split(MARK_BEGIN, 1)
        _, tail = rest.split(MARK_END, 1)
        return head + block.rstrip("\n") + tail
    return text.rstrip("\n") + "\n\n" + block


def recommended_settings(work: Path) -> SamplingSettings:
    """The run's chosen sampling settings: results.json of a full run, else the manifest a smoke
    run exports into the work dir, else the defaults. The table's header names the settings used."""
    results = work / "results.json"
    if results.is_file():
        return SamplingSettings(**json.loads(results.read_text())["recommended"])
    manifest = work / "model" / "manifest.json"
    if manifest.is_file():
        return SamplingSettings(**json.loads(manifest.read_text())["sampling_defaults"])
    return SamplingSettings()


def run(work: Path, budget: Budget) -> str:
    started = time.perf_counter()
    data = nano_data.load(work)
    teacher = nano_teacher.load(work / "teacher.pt")
    tok = train_tokenizer.load(work / "tokenizer-reg.pt")
    ar = train_ar.load(work / "ar-reg.pt")
    settings = recommended_settings(work)
    images, labels = data.split("test")
    picked = subset(labels, budget.sources)
    keep_rows = variation_rows(tok, ar, teacher, images[picked], labels[picked], settings, budget.per_source)
    models = [("semantic reg.", tok, ar)]
    ablation = ablation_pair(work)
    if ablation is not None:
        models.append(("no semantic reg.", *ablation))
    probe = probe_rows(models, data, budget)
    n_train = len(data.train_idx) if budget.probe_train is None else min(budget.probe_train, len(data.train_idx))
    n_test = len(data.test_idx) if budget.probe_test is None else min(budget.probe_test, len(data.test_idx))
    text = render(keep_rows, probe, settings, budget, n_train, n_test, ar.config.block_size)
    log("variations", f"done in {time.perf_counter() - started:.0f}s")
    return text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gigatok_model.nano.evaluate_variations", description=__doc__)
    p.add_argument("--work-dir", type=Path, default=nano_data.DEFAULT_WORK_DIR)
    p.add_argument("--smoke", action="store_true", help="a few images and a small probe (tests)")
    p.add_argument("--docs", type=Path, help="also replace the marker block in this markdown file")
    args = p.parse_args(argv)
    setup_torch(SEED)
    text = run(args.work_dir, SMOKE if args.smoke else FULL)
    print(text)
    (args.work_dir / "variations.md").write_text(text, encoding="utf-8")
    if args.docs is not None:
        args.docs.write_text(replace_block(args.docs.read_text(encoding="utf-8"), text), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
