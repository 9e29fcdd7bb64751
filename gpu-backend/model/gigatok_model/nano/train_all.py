"""Reproduces the gigatok-nano default model from scratch: data, teacher, the semantically
regularized tokenizer and its AR model, the sampling sweep, ONNX export, evaluation and
docs/default-model.md. Seeded; sized for 2 CPU cores in under an hour.

`--ablation` also trains and evaluates the same tokenizer and AR model without semantic
regularization (about 35 more minutes), which the ablation section of the page needs.

    npm run model:train-nano                  # = gpu-backend/model/scripts/train-nano.sh
    npm run model:train-nano -- --ablation    # the page as committed: both variants
    python -m gigatok_model.nano.train_all --smoke --work-dir /tmp/x   # a few steps of each stage
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..export import export_model_dir
from ..verify import verify_model_dir
from . import data as nano_data
from . import evaluate, report
from . import teacher as nano_teacher
from . import train_ar, train_tokenizer
from .sampling import SamplingSettings
from .util import NUM_THREADS, Clock, log, setup_torch, write_json

MODEL_ID = "gigatok-nano"
DEFAULT_OUT = nano_data.REPO_ROOT / "models" / MODEL_ID
DEFAULT_DOC = nano_data.REPO_ROOT / "docs" / "default-model.md"
SIZE_LIMIT = 20 * 1024 * 1024
DESCRIPTION = (
    "gigatok-nano: 32x32 RGB coloured MNIST digits, 32 tokens from a 1024 x 8 codebook, "
    "class-conditional gpt-nano (classes '0'..'9'); trained with semantic regularization "
    "(docs/default-model.md)"
)


@dataclass(frozen=True)
class Plan:
    teacher_epochs: int
    teacher_max_steps: int | None
    tokenizer: train_tokenizer.TokenizerRecipe
    ar: train_ar.ARRecipe
    per_class: int  # generated images per class in the sweep and the evaluation
    sweep: bool
    eval_seeds: tuple[int, ...] = evaluate.EVAL_SEEDS


FULL = Plan(
    teacher_epochs=3,
    teacher_max_steps=None,
    tokenizer=train_tokenizer.TokenizerRecipe(),
    ar=train_ar.ARRecipe(),
    per_class=evaluate.PER_CLASS,
    sweep=True,
)
SMOKE = Plan(
    teacher_epochs=1,
    teacher_max_steps=3,
    tokenizer=train_tokenizer.TokenizerRecipe(steps=4, batch_size=8, warmup=1, ae_warmup=2, restart_every=1),
    ar=train_ar.ARRecipe(steps=3, batch_size=16, warmup=1),
    per_class=2,
    sweep=False,
    eval_seeds=(0,),
)


def smoke_data(data: nano_data.NanoData, n_train: int = 64, n_test: int = 20) -> nano_data.NanoData:
    """A small slice of the split, so every smoke stage touches real images quickly."""
    return nano_data.NanoData(
        data.images, data.labels, data.train_idx[:n_train], data.test_idx[:n_test], data.palette, data.pair_idx
    )


ROW_NAMES = {"reg": "semantic reg. (shipped)", "noreg": "no semantic reg. (ablation)"}
SHIPPED_STAGES = ("data", "teacher", "tokenizer-reg", "ar-reg", "sweep", "export", "evaluate-reg")
"""The stages that produce and measure the shipped model (the 60-minute budget the shipped model's training must fit)."""


def run(
    work: Path,
    out: Path,
    doc: Path | None,
    plan: Plan,
    command: str,
    resume: bool = False,
    ablation: bool = True,
) -> dict:
    setup_torch(0)
    total = Clock()
    times: dict[str, dict] = {}
    load_start = os.getloadavg()[0]
    log("train_all", f"work dir {work}, out {out}, {NUM_THREADS} threads, load {load_start:.1f}")

    clock = Clock()
    data = nano_data.load(nano_data.DEFAULT_WORK_DIR if plan is SMOKE else work)
    if plan is SMOKE:
        data = smoke_data(data)
    times["data"] = clock.summary()

    def stage(name: str, path: Path, recipe: dict, train) -> dict:
        """Runs a training stage, or with --resume reuses its checkpoint when the stats file
        next to it records the same recipe (its own measured time is then reported)."""
        stats_path = path.with_suffix(".json")
        if resume and path.is_file() and stats_path.is_file():
            stats = json.loads(stats_path.read_text())
            if stats.get("recipe") == json.loads(json.dumps(recipe)):
                log("train_all", f"{name}: reusing {path} (same recipe)")
                times[name] = {"wall_s": stats["wall_s"], "cpu_s": stats["cpu_s"], "reused": True}
                return stats
        stats = train()
        times[name] = {"wall_s": stats["wall_s"], "cpu_s": stats["cpu_s"]}
        return stats

    teacher_recipe = {
        "epochs": plan.teacher_epochs,
        "batch_size": min(nano_teacher.BATCH_SIZE, len(data.train_idx)),
        "lr": nano_teacher.LR,
        "max_steps": plan.teacher_max_steps,
        "seed": nano_teacher.SEED,
    }
    teacher_stats = stage(
        "teacher",
        work / "teacher.pt",
        teacher_recipe,
        lambda: nano_teacher.train(
            data, work / "teacher.pt", epochs=plan.teacher_epochs, max_steps=plan.teacher_max_steps
        ),
    )
    teacher = nano_teacher.load(work / "teacher.pt")

    models = {}
    variants = [("reg", plan.tokenizer.semantic_weight)] + ([("noreg", 0.0)] if ablation else [])
    for variant, weight in variants:
        recipe = train_tokenizer.TokenizerRecipe(**{**asdict(plan.tokenizer), "semantic_weight": weight})
        path = work / f"tokenizer-{variant}.pt"
        stage(
            f"tokenizer-{variant}",
            path,
            asdict(recipe),
            lambda recipe=recipe, path=path, weight=weight: train_tokenizer.train(
                data, teacher if weight > 0 else None, path, recipe
            ),
        )
        tok = train_tokenizer.load(path)
        ar_path = work / f"ar-{variant}.pt"

        def train_ar_stage(tok=tok, ar_path=ar_path, variant=variant):
            clock = Clock()
            tokens = train_ar.token_splits(tok, data)
            st = train_ar.train(tokens, ar_path, plan.ar, f"ar-{variant}")
            # The stage time includes encoding the training split.
            st.update(wall_s=round(clock.wall(), 1), cpu_s=round(clock.cpu(), 1))
            write_json(ar_path.with_suffix(".json"), st)
            return st

        st = stage(f"ar-{variant}", ar_path, asdict(plan.ar), train_ar_stage)
        models[variant] = (tok, train_ar.load(ar_path), st)

    clock = Clock()
    ref = evaluate.teacher_view(teacher, data.split("test")[0]).pooled.numpy()
    tok_reg, ar_reg, _ = models["reg"]
    if plan.sweep:
        recommended, sweep_results = evaluate.sweep(tok_reg, ar_reg, teacher, ref, plan.per_class)
    else:
        recommended = SamplingSettings(cfg_scale=4.0)
        sweep_results = [evaluate.generation(tok_reg, ar_reg, teacher, recommended, 1, ref, plan.per_class)]
    times["sweep"] = clock.summary()

    clock = Clock()
    export = export_model_dir(
        tok_reg,
        ar_reg,
        out,
        model_id=MODEL_ID,
        description=DESCRIPTION,
        sampling=recommended.manifest(),
        class_labels=[str(i) for i in range(10)],
        log=lambda msg: log("export", msg),
    )
    size = sum(f["bytes"] for f in export.manifest["files"])
    if size > SIZE_LIMIT:
        raise SystemExit(f"model directory is {size:,} bytes, over the {SIZE_LIMIT:,} limit")
    parity = verify_model_dir(out, tok_reg, ar_reg)
    log("export", "\n" + parity.table())
    if not parity.ok:
        raise SystemExit("exported graphs do not match PyTorch")
    times["export"] = clock.summary()

    rows = []
    for v, (tok, ar, _) in models.items():
        clock = Clock()
        rows.append(
            evaluate.evaluate_variant(
                ROW_NAMES[v], tok, ar, teacher, data, recommended, ref, plan.per_class, plan.eval_seeds
            )
        )
        if v == "reg":
            # The FID floor (real train images vs test) is part of measuring the shipped model.
            ref_fid = evaluate.reference_fid(teacher, data, ref)
        times[f"evaluate-{v}"] = clock.summary()
    times["total"] = total.summary()
    shipped = [times[name] for name in SHIPPED_STAGES]
    times["shipped"] = {
        "wall_s": round(sum(t["wall_s"] for t in shipped), 1),
        "cpu_s": round(sum(t["cpu_s"] for t in shipped), 1),
    }

    results = {
        "command": command,
        "times": times,
        "load_average_start": load_start,
        "load_average_end": os.getloadavg()[0],
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{NUM_THREADS} threads",
        "teacher_accuracy": teacher_stats["test_accuracy"],
        "test_index_sha256": nano_data.index_digest(data.test_idx),
        "plan": asdict(plan),
        "ablation": ablation,
        "recommended": recommended.manifest(),
        "sweep": [
            {"settings": r.settings.manifest(), "consistency": r.consistency, "fid": r.fid}
            for r in sweep_results
        ],
        "rows": rows,
        "reference_fid": ref_fid,
        "model_dir_bytes": size,
        "files": export.manifest["files"],
        "training_history": {v: models[v][2]["history"] for v in models},
        "parity": [asdict(c) for c in parity.checks],
    }
    write_json(work / "results.json", results)
    table = evaluate.results_table(rows, recommended)
    print(table, flush=True)
    print(f"reference FID (1,000 real train images vs test): {ref_fid:.2f}", flush=True)
    if doc is not None:
        doc.parent.mkdir(parents=True, exist_ok=True)
        doc.write_text(report.render(results, sweep_results), encoding="utf-8")
        log("train_all", f"wrote {doc}")
    log("train_all", f"done in {times['total']['wall_s']:.0f} s wall, {times['total']['cpu_s']:.0f} s CPU")
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gigatok_model.nano.train_all", description=__doc__)
    p.add_argument("--smoke", action="store_true", help="a few steps of each stage, into a temp dir")
    p.add_argument("--work-dir", type=Path, help="checkpoints and logs (default nano/.work/run)")
    p.add_argument("--out", type=Path, help=f"model directory (default {DEFAULT_OUT})")
    p.add_argument("--doc", type=Path, help=f"report to write (default {DEFAULT_DOC})")
    p.add_argument(
        "--ablation",
        action="store_true",
        help="also train and evaluate the variant without semantic regularization (always on with --smoke)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="reuse stage checkpoints in the work dir whose recorded recipe matches",
    )
    args = p.parse_args(argv)
    if args.smoke:
        command = "train_all --smoke"
        tmp = Path(tempfile.mkdtemp(prefix="gigatok-nano-smoke-")) if args.work_dir is None else args.work_dir
        work = tmp
        out = args.out or tmp / "model"
        doc = args.doc or tmp / "default-model.md"
        run(work, out, doc, SMOKE, command)
        if args.work_dir is None:
            shutil.rmtree(tmp)
        return 0
    work = args.work_dir or nano_data.DEFAULT_WORK_DIR / "run"
    command = "npm run model:train-nano" + (" -- --ablation" if args.ablation else "")
    run(work, args.out or DEFAULT_OUT, args.doc or DEFAULT_DOC, FULL, command, args.resume, args.ablation)
    return 0


if __name__ == "__main__":
    t0 = time.time()
    rc = main()
    print(json.dumps({"seconds": round(time.time() - t0, 1)}))
    sys.exit(rc)
