"""Evaluates the nano tokenizers and AR models and prints one table.

Reconstruction: PSNR and SSIM on the 1,000 test images (uint8, as served). Generation, at the
recommended sampling settings and at cfg 1.0: class consistency (the teacher's accuracy on 1,000
generated images, 100 per class) and FID in the teacher's penultimate feature space against the
test split. Both the semantically regularized tokenizer and the ablation, each with its own AR
model. `sweep` picks the recommended settings on a separate seed from the one reported.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ..ar import GPT
from ..tokenizer import GigaTok
from . import data as nano_data
from . import metrics, sampling
from . import teacher as nano_teacher
from . import train_ar, train_tokenizer
from .sampling import SamplingSettings
from .util import log, setup_torch

SWEEP_SEED = 1
# Reported numbers are means over these sampling seeds; their spread shows the sampling noise.
EVAL_SEEDS = (0, 2)
PER_CLASS = 100
# Settings whose class consistency reaches this are compared on FID; the lowest FID wins.
MIN_CONSISTENCY = 0.95


@dataclass
class GenResult:
    settings: SamplingSettings
    consistency: float
    fid: float


def eval_classes(per_class: int = PER_CLASS, num_classes: int = 10) -> torch.Tensor:
    return torch.arange(num_classes).repeat_interleave(per_class)


@torch.no_grad()
def decode_u8(tok: GigaTok, tokens: torch.Tensor, batch_size: int = 250) -> np.ndarray:
    tok.eval()
    out = [tok.decode(tokens[i : i + batch_size]) for i in range(0, len(tokens), batch_size)]
    return nano_data.to_uint8(torch.cat(out).numpy())


def teacher_view(teacher: nano_teacher.Teacher, images_u8: np.ndarray) -> nano_teacher.TeacherFeatures:
    return nano_teacher.predict(teacher, torch.from_numpy(nano_data.to_model_input(images_u8)))


def generation(
    tok: GigaTok,
    ar: GPT,
    teacher: nano_teacher.Teacher,
    settings: SamplingSettings,
    seed: int,
    ref_pooled: np.ndarray,
    per_class: int = PER_CLASS,
) -> GenResult:
    classes = eval_classes(per_class)
    tokens = sampling.generate(ar, classes, settings, seed)
    feats = teacher_view(teacher, decode_u8(tok, tokens))
    consistency = (feats.logits.argmax(1) == classes).float().mean().item()
    fid = metrics.frechet_distance(feats.pooled.numpy(), ref_pooled)
    return GenResult(settings, consistency, fid)


def sweep_grid() -> list[SamplingSettings]:
    """Stage 1: guidance scale x schedule at temperature 1 without truncation."""
    grid = [SamplingSettings(cfg_scale=s, cfg_schedule="constant") for s in (1.5, 2.0, 3.0, 4.0, 6.0)]
    grid += [SamplingSettings(cfg_scale=s, cfg_schedule="step") for s in (2.0, 3.0, 4.0, 6.0)]
    return grid


def refine_grid(best: SamplingSettings) -> list[SamplingSettings]:
    """Stage 2: temperature and truncation around the stage-1 winner."""
    return [
        replace(best, temperature=0.9),
        replace(best, temperature=1.1),
        replace(best, top_k=100),
        replace(best, top_p=0.9),
    ]


def choose(results: list[GenResult]) -> GenResult:
    """Lowest FID among settings with consistency >= MIN_CONSISTENCY, else the most consistent."""
    ok = [r for r in results if r.consistency >= MIN_CONSISTENCY]
    if ok:
        return min(ok, key=lambda r: r.fid)
    return max(results, key=lambda r: r.consistency)


def sweep(
    tok: GigaTok,
    ar: GPT,
    teacher: nano_teacher.Teacher,
    ref_pooled: np.ndarray,
    per_class: int = PER_CLASS,
    seed: int = SWEEP_SEED,
) -> tuple[SamplingSettings, list[GenResult]]:
    results = []
    for grid in (sweep_grid(), None):
        settings = grid if grid is not None else refine_grid(choose(results).settings)
        for s in settings:
            r = generation(tok, ar, teacher, s, seed, ref_pooled, per_class)
            log("sweep", f"{s.label()}: consistency {r.consistency:.3f} FID {r.fid:.2f}")
            results.append(r)
    return choose(results).settings, results


def sweep_table(results: list[GenResult], chosen: SamplingSettings) -> str:
    lines = [
        "| cfg | schedule | temperature | top-k | top-p | class consistency | FID (teacher) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        s = r.settings
        mark = " **(chosen)**" if s == chosen else ""
        lines.append(
            f"| {s.cfg_scale:g} | {s.cfg_schedule} | {s.temperature:g} | {s.top_k} | {s.top_p:g} "
            f"| {100 * r.consistency:.1f}% | {r.fid:.2f}{mark} |"
        )
    return "\n".join(lines)


def evaluate_variant(
    name: str,
    tok: GigaTok,
    ar: GPT,
    teacher: nano_teacher.Teacher,
    data: nano_data.NanoData,
    recommended: SamplingSettings,
    ref_pooled: np.ndarray,
    per_class: int = PER_CLASS,
    seeds: tuple[int, ...] = EVAL_SEEDS,
) -> dict:
    test_u8 = data.split("test")[0]
    rec = train_tokenizer.reconstruct(tok, test_u8)
    codes = train_tokenizer.encode_all(tok, test_u8)
    row = {
        "tokenizer": name,
        "psnr": metrics.psnr(test_u8, rec),
        "ssim": metrics.ssim(test_u8, rec),
        "rfid": metrics.frechet_distance(teacher_view(teacher, rec).pooled.numpy(), ref_pooled),
        "codes_used": int(codes.unique().numel()),
    }
    for key, s in (("guided", recommended), ("cfg1", SamplingSettings(cfg_scale=1.0))):
        runs = [generation(tok, ar, teacher, s, seed, ref_pooled, per_class) for seed in seeds]
        row[key] = {
            "settings": s.manifest(),
            "seeds": list(seeds),
            "consistency_runs": [r.consistency for r in runs],
            "fid_runs": [r.fid for r in runs],
            "consistency": float(np.mean([r.consistency for r in runs])),
            "fid": float(np.mean([r.fid for r in runs])),
        }
    log("evaluate", json.dumps(row))
    return row


def _spread(values: list[float], scale: float = 1.0, digits: int = 2) -> str:
    """mean ± half the range over sampling seeds."""
    mean = scale * float(np.mean(values))
    half = scale * (max(values) - min(values)) / 2
    return f"{mean:.{digits}f} ± {half:.{digits}f}"


def results_table(rows: list[dict], recommended: SamplingSettings) -> str:
    lines = [
        "| tokenizer | PSNR (dB) | SSIM | rFID (teacher) | codes used | sampling "
        "| class consistency (%) | FID (teacher) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        for key, label in (("guided", f"recommended ({recommended.label()})"), ("cfg1", "cfg 1.0")):
            g = r[key]
            lines.append(
                f"| {r['tokenizer']} | {r['psnr']:.2f} | {r['ssim']:.4f} | {r['rfid']:.2f} "
                f"| {r['codes_used']} / 1024 | {label} | {_spread(g['consistency_runs'], 100, 1)} "
                f"| {_spread(g['fid_runs'])} |"
            )
    return "\n".join(lines)


def reference_fid(teacher: nano_teacher.Teacher, data: nano_data.NanoData, ref_pooled: np.ndarray) -> float:
    """FID of 1,000 real training images against the test split: the floor at this sample size."""
    x_tr = data.split("train")[0]
    pick = np.random.default_rng(0).choice(len(x_tr), len(ref_pooled), replace=False)
    return metrics.frechet_distance(teacher_view(teacher, x_tr[np.sort(pick)]).pooled.numpy(), ref_pooled)


def ablation_pair(work: Path) -> tuple[GigaTok, GPT] | None:
    """The tokenizer and AR model trained without semantic regularization (`train_all
    --ablation`), or None when the work dir lacks either checkpoint."""
    tok, ar = work / "tokenizer-noreg.pt", work / "ar-noreg.pt"
    if not (tok.is_file() and ar.is_file()):
        return None
    return train_tokenizer.load(tok), train_ar.load(ar)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--work-dir", type=Path, default=nano_data.DEFAULT_WORK_DIR)
    p.add_argument("--sweep", action="store_true", help="re-run the sampling sweep")
    p.add_argument("--manifest", type=Path, help="take the recommended settings from this manifest")
    args = p.parse_args()
    setup_torch(0)
    work = args.work_dir
    data = nano_data.load(work)
    teacher = nano_teacher.load(work / "teacher.pt")
    ref = teacher_view(teacher, data.split("test")[0]).pooled.numpy()
    tok_reg = train_tokenizer.load(work / "tokenizer-reg.pt")
    ar_reg = train_ar.load(work / "ar-reg.pt")
    if args.sweep or args.manifest is None:
        recommended, results = sweep(tok_reg, ar_reg, teacher, ref)
        print(sweep_table(results, recommended))
    else:
        recommended = SamplingSettings(**json.loads(args.manifest.read_text())["sampling_defaults"])
    rows = [evaluate_variant("semantic reg.", tok_reg, ar_reg, teacher, data, recommended, ref)]
    ablation = ablation_pair(work)
    if ablation is not None:
        rows.append(evaluate_variant("no semantic reg.", *ablation, teacher, data, recommended, ref))
    print(results_table(rows, recommended))
    print(f"reference FID (1,000 real train images vs test): {reference_fid(teacher, data, ref):.2f}")


if __name__ == "__main__":
    main()
