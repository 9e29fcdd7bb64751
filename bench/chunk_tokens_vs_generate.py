"""Tokens of generate_chunk.onnx against generate.onnx on a model directory of any size.

Four rows (two at cfg 4 constant over the full vocabulary, two at cfg 1.75 step with top-k 100,
top-p 0.9, temperature 0.9) are served in chunks of S steps, joining at boundaries 0..3 in one
batch, and each is compared with generate.onnx run for that row alone; then row 1 alone in chunks
of each --alone size. Prints the tokens equal and the first position that differs per row. The
pytest checks (tests/test_chunk_graph.py) do this on the tiny config and nano; this script is for
the sizes they cannot afford (GPT-B: about two minutes on two cores).

Usage: python bench/chunk_tokens_vs_generate.py MODEL_DIR [--chunk 64] [--alone 256,64]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from gigatok_model.chunk_graph import CHUNK_FILE, run_schedule
from gigatok_model.generate_graph import dims_from_manifest, generate_feeds
from gigatok_model.verify import session


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model_dir", type=Path)
    p.add_argument("--chunk", type=int, default=64)
    p.add_argument("--alone", default="256,64", help="chunk sizes for row 1 served alone ('' skips)")
    args = p.parse_args()
    manifest = json.loads((args.model_dir / "manifest.json").read_text(encoding="utf-8"))
    dims = dims_from_manifest(manifest)
    gen = session(args.model_dir / manifest["graphs"]["generate"]["file"])
    chunk = session(args.model_dir / CHUNK_FILE)
    rng = np.random.default_rng(5)
    cases = [
        dict(cfg_scale=4.0),
        dict(cfg_scale=1.75, cfg_schedule="step", top_k=100, top_p=0.9, temperature=0.9),
    ]
    rows = []
    for case in cases:
        for _ in range(2):
            c = int(rng.integers(0, dims.null_class_id))
            u = (rng.integers(0, 2**24, (1, dims.tokens)) * 2.0**-24).astype(np.float32)
            rows.append({"class_id": c, "uniforms": u[0], **case})
    want = []
    for r in rows:
        options = {k: v for k, v in r.items() if k not in ("class_id", "uniforms")}
        want.append(gen.run(["tokens"], generate_feeds([r["class_id"]], r["uniforms"][None], **options))[0][0])

    def report(label: str, got: np.ndarray, expected: np.ndarray) -> None:
        differ = np.nonzero(got != expected)[0]
        first = int(differ[0]) if differ.size else None
        print(f"{label}: {int((got == expected).sum())}/{expected.size} equal, first difference at {first}")

    got = run_schedule(chunk, dims, rows, [0, 1, 2, 3], args.chunk, max_batch=4)
    for i, (g, w) in enumerate(zip(got, want)):
        report(f"row {i} in company, S {args.chunk}", g, w)
    for size in [int(s) for s in args.alone.split(",") if s.strip()]:
        alone = run_schedule(chunk, dims, rows[1:2], [0], size, max_batch=1)[0]
        report(f"row 1 alone, S {size}", alone, want[1])


if __name__ == "__main__":
    main()
