"""Per-step cost of generate_chunk.onnx against generate.onnx's step, measured in one process.

For a model directory (e.g. a random-init S-S + GPT-B export) it times, at one batch of guided
images: generate.onnx's whole T-step run divided by T (its mean step, whose mean position is
T/2), ar_step.onnx at one position, and each chunk graph given with --chunk for a chunk of S
steps starting S/2 before that position (a filled state, every row at the same position). With
--profile it also writes an onnxruntime profile of one run per graph and prints the share of
each operator type.

Usage: python bench/chunk_step_cost.py MODEL_DIR [--chunk generate_chunk.onnx ...] [--batch 4]
       [--position 128] [--steps 8] [--repeats 3] [--threads 0] [--profile]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import onnxruntime as ort


def _session(path: Path, threads: int, profile_dir: str | None) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    if profile_dir is not None:
        opts.enable_profiling = True
        opts.profile_file_prefix = str(Path(profile_dir) / path.stem)
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _sampling(batch: int, tokens: int, classes: int, rng) -> dict[str, np.ndarray]:
    return {
        "class_ids": rng.integers(0, classes, batch).astype(np.int64),
        "uniforms": rng.random((batch, tokens), dtype=np.float32),
        "cfg_scale": np.array([4.0], np.float32),
        "cfg_schedule": np.array([0], np.int64),
        "temperature": np.array([1.0], np.float32),
        "top_k": np.array([0], np.int64),
        "top_p": np.array([1.0], np.float32),
    }


def _op_shares(session: ort.InferenceSession) -> list[tuple[str, float]]:
    events = json.loads(Path(session.end_profiling()).read_text(encoding="utf-8"))
    by_op: dict[str, float] = defaultdict(float)
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and e["args"]["op_name"] != "Loop":
            by_op[e["args"]["op_name"]] += e["dur"]
    total = sum(by_op.values()) or 1.0
    return sorted(((op, us / total) for op, us in by_op.items()), key=lambda x: -x[1])


def _timed(run, repeats: int) -> float:
    run()  # warm-up (first-run allocations)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model_dir", type=Path)
    p.add_argument("--chunk", action="append", help="chunk graph file in MODEL_DIR (repeatable)")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--position", type=int, default=128)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="intra-op threads (0 = one per core)")
    p.add_argument("--skip-generate", action="store_true", help="leave out the whole generate.onnx run")
    p.add_argument("--profile", action="store_true")
    args = p.parse_args()
    manifest = json.loads((args.model_dir / "manifest.json").read_text(encoding="utf-8"))
    ar = manifest["ar"]
    rng = np.random.default_rng(0)
    B, pos, S = args.batch, args.position, args.steps
    profile_dir = tempfile.mkdtemp() if args.profile else None
    rows: list[tuple[str, float]] = []
    shares: dict[str, list[tuple[str, float]]] = {}

    step = _session(args.model_dir / manifest["graphs"]["ar_step"]["file"], args.threads, profile_dir)
    past_shape = [d if isinstance(d, int) else None for d in step.get_inputs()[3].shape]
    L, H, D = past_shape[0], past_shape[2], past_shape[4]
    past = rng.standard_normal((L, 2 * B, H, pos, D)).astype(np.float32) * 0.1
    step_feeds = {
        "token_ids": np.zeros((2 * B, 1), np.int64),
        "class_ids": np.zeros(2 * B, np.int64),
        "position": np.array([pos], np.int64),
        "past_keys": past,
        "past_values": past.copy(),
    }
    names = [i.name for i in step.get_inputs()]
    step_feeds = {n: step_feeds[n] for n in names}
    rows.append((f"ar_step.onnx, one step at position {pos}", _timed(lambda: step.run(None, step_feeds), args.repeats)))
    if args.profile:
        shares["ar_step.onnx"] = _op_shares(step)

    if not args.skip_generate:
        gen = _session(args.model_dir / manifest["graphs"]["generate"]["file"], args.threads, profile_dir)
        T = gen.get_inputs()[[i.name for i in gen.get_inputs()].index("uniforms")].shape[1]
        feeds = {**_sampling(B, T, ar["num_classes"], rng), "prefix_tokens": np.zeros((B, 0), np.int64)}
        total = _timed(lambda: gen.run(["tokens"], feeds), max(1, args.repeats - 1))
        rows.append((f"generate.onnx, whole run / {T} (mean step)", total / T))
        if args.profile:
            shares["generate.onnx"] = _op_shares(gen)

    for name in args.chunk or []:
        sess = _session(args.model_dir / name, args.threads, profile_dir)
        shape = {i.name: i.shape for i in sess.get_inputs()}
        T = shape["uniforms"][1]
        key_name = "keys_t" if "keys_t" in shape else "keys"
        start = max(0, pos - S // 2)
        feeds = {
            **_sampling(B, T, ar["num_classes"], rng),
            "prefix_tokens": np.zeros((B, T), np.int64),
            "prefix_len": np.zeros(B, np.int64),
            "positions": np.full(B, start, np.int64),
            "prev_tokens": np.zeros(B, np.int64),
            key_name: rng.standard_normal([B, *shape[key_name][1:]]).astype(np.float32) * 0.1,
            "values": rng.standard_normal([B, *shape["values"][1:]]).astype(np.float32) * 0.1,
            "steps": np.array(S, np.int64),
        }
        best = _timed(lambda: sess.run(["tokens"], feeds), args.repeats)
        rows.append((f"{name}, chunk of {S} from {start} / {S}", best / S))
        if args.profile:
            shares[name] = _op_shares(sess)

    width = max(len(r[0]) for r in rows)
    print(f"batch {B} guided ({2 * B} rows), {args.threads or 'default'} threads, best of {args.repeats}")
    for label, seconds in rows:
        print(f"  {label.ljust(width)}  {seconds * 1e3:8.1f} ms per step")
    for name, ops in shares.items():
        top = ", ".join(f"{op} {share:.0%}" for op, share in ops[:8])
        print(f"  profile {name}: {top}")


if __name__ == "__main__":
    main()
