"""PyTorch eager reference timings for `npm run bench`: the same tokenizer and AR model as a model
directory's ONNX graphs (configs from its manifest.json), timed for encode, decode and generation with
the contract's sampling (guidance by batch doubling, Philox uniforms, inverse-CDF draw).

    PYTHONPATH=gpu-backend/model python bench/reference.py --model-dir DIR --input FILE --batches 1,16

Weights: --tokenizer-ckpt/--ar-ckpt, else the nano training's checkpoints when the model is
gigatok-nano and they exist, else random init (timing does not depend on the weights). Prints one
JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from gigatok_model.ar import GPT
from gigatok_model.configs import ar_config, tokenizer_config
from gigatok_model.checkpoints import GPT_STATE_KEYS, TOKENIZER_STATE_KEYS, load_checkpoint_weights
from gigatok_model.nano.sampling import cfg_at, draw, filter_logits, philox_uniforms
from gigatok_model.tokenizer import GigaTok

NANO_DIR = Path(__file__).resolve().parents[1] / "gpu-backend" / "model" / "gigatok_model" / "nano"


def nano_checkpoints() -> tuple[Path, Path] | None:
    """The reg-variant checkpoints of the nano training: the full run's, else a stand-alone stage's."""
    for work in (NANO_DIR / ".work" / "run", NANO_DIR / ".work"):
        tok, ar = work / "tokenizer-reg.pt", work / "ar-reg.pt"
        if tok.exists() and ar.exists():
            return tok, ar
    return None


def build(manifest: dict, tok_ckpt: str | None, ar_ckpt: str | None) -> tuple[GigaTok, GPT, str]:
    tcfg = tokenizer_config(manifest["tokenizer"]["config"])
    acfg = ar_config(manifest["ar"]["config"], tcfg, num_classes=manifest["ar"]["num_classes"])
    tok, ar = GigaTok(tcfg), GPT(acfg)
    if tok_ckpt is None and ar_ckpt is None and manifest["model_id"] == "gigatok-nano":
        found = nano_checkpoints()
        if found is not None:
            tok_ckpt, ar_ckpt = str(found[0]), str(found[1])
    if tok_ckpt is not None and ar_ckpt is not None:
        tok.load_state_dict(load_checkpoint_weights(tok_ckpt, TOKENIZER_STATE_KEYS).state, strict=True)
        ar.load_state_dict(load_checkpoint_weights(ar_ckpt, GPT_STATE_KEYS).state, strict=True)
        weights = f"checkpoints {tok_ckpt}, {ar_ckpt}"
    else:
        torch.manual_seed(0)
        ar.init_weights(zero_output=False)
        weights = "random init (same configs; timing does not depend on the weights)"
    return tok.eval().requires_grad_(False), ar.eval().requires_grad_(False), weights


@torch.inference_mode()
def generate(ar: GPT, class_ids: torch.Tensor, seed: int, cfg_scale: float, device: torch.device) -> torch.Tensor:
    """Tokens [N, T]: KV-cached GPT.step (what ar_step.onnx exports), [cond; null] rows, constant cfg,
    temperature 1, no top-k/top-p, uniforms u(seed, i, step); the loop of nano/sampling.py on `device`."""
    cfg = ar.config
    t, n = cfg.block_size, len(class_ids)
    u = torch.from_numpy(philox_uniforms(seed, np.arange(n), t)).to(device)
    rows = torch.cat([class_ids, torch.full_like(class_ids, cfg.null_class_id)]).to(device)
    shape = (cfg.n_layer, 2 * n, cfg.n_head, 0, cfg.head_dim)
    past_k = torch.zeros(shape, device=device)
    past_v = torch.zeros(shape, device=device)
    prev = torch.zeros(2 * n, 1, dtype=torch.int64, device=device)
    tokens = []
    for p in range(t):
        position = torch.tensor([p], device=device)
        logits, past_k, past_v = ar.step(prev, rows, position, past_k, past_v)
        cond, uncond = logits[:n], logits[n:]
        logits = uncond + (cond - uncond) * cfg_at(cfg_scale, "constant", p, t)
        logits = filter_logits(logits / 1.0, 0, 1.0)
        tok = draw(torch.softmax(logits.float(), dim=-1), u[:, p])
        tokens.append(tok)
        prev = tok[:, None].repeat(2, 1)
    return torch.stack(tokens, dim=1)


def timed(fn, seconds: float, min_calls: int, device: torch.device) -> dict:
    """Median wall time and mean process CPU time (all threads) per call of `fn()`, in ms, after one
    untimed warm-up call. CPU time is steadier than wall time on a machine shared with other work."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    fn()
    sync()
    times: list[float] = []
    cpu0 = time.process_time()
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or len(times) < min_calls:
        t0 = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t0) * 1000)
    cpu_ms = (time.process_time() - cpu0) * 1000 / len(times)
    return {"median_ms": statistics.median(times), "cpu_ms": cpu_ms, "calls": len(times), "ms": times}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", type=Path, required=True)
    p.add_argument("--input", type=Path, required=True, help="float32 images [max batch, 3, S, S], raw little-endian")
    p.add_argument("--batches", default="1,16")
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    p.add_argument("--seconds", type=float, default=1.5)
    p.add_argument("--min-calls", type=int, default=3)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--tokenizer-ckpt")
    p.add_argument("--ar-ckpt")
    args = p.parse_args(argv)

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    # NNPACK fails to initialise on CPUs it does not support and then warns on every convolution;
    # PyTorch falls back to its other kernels either way, so switch it off up front.
    torch.backends.nnpack.set_flags(False)
    device = torch.device(args.device)
    manifest = json.loads((args.model_dir / "manifest.json").read_text(encoding="utf-8"))
    tok, ar, weights = build(manifest, args.tokenizer_ckpt, args.ar_ckpt)
    tok, ar = tok.to(device), ar.to(device)
    size = manifest["tokenizer"]["image_size"]
    batches = [int(b) for b in args.batches.split(",") if b]
    images = torch.from_numpy(np.fromfile(args.input, dtype="<f4").reshape(-1, 3, size, size).copy()).to(device)
    if images.shape[0] < max(batches):
        raise SystemExit(f"--input holds {images.shape[0]} images, need {max(batches)}")
    classes = manifest["ar"]["num_classes"]
    cfg_scale = 4.0

    figures: dict[str, dict[str, dict]] = {"encode": {}, "decode": {}, "generate": {}}
    with torch.inference_mode():
        first_tokens = tok.encode(images[: max(batches)])
        for b in batches:
            x = images[:b]
            figures["encode"][str(b)] = timed(lambda x=x: tok.encode(x), args.seconds, args.min_calls, device)
            t = first_tokens[:b]
            figures["decode"][str(b)] = timed(lambda t=t: tok.decode(t), args.seconds, args.min_calls, device)
            cls = torch.arange(b, dtype=torch.int64) % classes
            figures["generate"][str(b)] = timed(
                lambda cls=cls: generate(ar, cls, 1, cfg_scale, device), args.seconds, args.min_calls, device
            )
        generated = generate(ar, torch.arange(1, dtype=torch.int64) % classes, 1, cfg_scale, device)

    print(
        json.dumps(
            {
                "torch": torch.__version__,
                "device": args.device,
                "threads": torch.get_num_threads(),
                "weights": weights,
                "figures": figures,
                "encode_tokens": first_tokens[0].tolist(),
                "generated_tokens": generated[0].tolist(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
