"""Exports a tokenizer + AR model to a model directory (ONNX graphs + manifest.json).

The directory layout, graph I/O names and manifest fields are the contract in
docs/model-contract.md; the Node backend (gpu-backend/) loads nothing else.
Usage: python -m gigatok_model.export --tokenizer-config S-S --ar-config GPT-B --random-init --out DIR
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import io
import json
import re
import sys
import tempfile
import time
import warnings
from pathlib import Path

import onnx
import torch
import torch.nn.functional as F
from torch import nn

from .ar import GPT
from .checkpoints import GPT_STATE_KEYS, ROOT_STATE_KEY, TOKENIZER_STATE_KEYS, from_checkpoints
from .chunk_graph import CHUNK_FILE, write_chunk_graph
from .class_labels import default_class_labels, read_class_labels
from .configs import ARConfig, TokenizerConfig, ar_config, is_imagenet, tokenizer_config
from .generate_graph import GENERATE_FILE, Dims, raw_data_spans, write_generate_graph
from .tokenizer import AdaptiveGroupNorm, GigaTok

FORMAT_VERSION = 1
MODEL_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
# A protobuf message cannot exceed 2 GiB; larger graphs keep their weights in a side file.
PROTOBUF_LIMIT = 2**31 - 1
GRAPH_FILES = {"encoder": "encoder.onnx", "decoder": "decoder.onnx", "ar_step": "ar_step.onnx"}
EMBED_FILE = "embed.onnx"


# ---------------------------------------------------------------------------------------------
# Graph wrappers: exactly the contract's inputs and outputs, float32 I/O whatever the weights.


class EncoderGraph(nn.Module):
    def __init__(self, tok: GigaTok):
        super().__init__()
        self.tok = tok
        self.dtype = tok.quant_conv.weight.dtype

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.tok.encode(image.to(self.dtype))


class DecoderGraph(nn.Module):
    def __init__(self, tok: GigaTok):
        super().__init__()
        self.tok = tok

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.tok.decode(tokens).float()


class ARStepGraph(nn.Module):
    def __init__(self, ar: GPT):
        super().__init__()
        self.ar = ar
        self.dtype = ar.output.weight.dtype

    def forward(self, token_ids, class_ids, position, past_keys, past_values):
        logits, k, v = self.ar.step(
            token_ids, class_ids, position, past_keys.to(self.dtype), past_values.to(self.dtype)
        )
        return logits.float(), k.float(), v.float()


class EmbedGraph(nn.Module):
    """The AR representation GigaTok's linear probe reads (paper Sec. 4, "AR probing"): the mean
    hidden state after `embedding_layer` (n_layer / 2) blocks over the class token and the image
    tokens 0..T-2 (the AR model's teacher-forced input; the last token is never an input)."""

    def __init__(self, ar: GPT):
        super().__init__()
        self.ar = ar

    def forward(self, token_ids, class_ids):
        return self.ar.hidden_mean(class_ids, token_ids).float()


# ---------------------------------------------------------------------------------------------
# Models: random weights (checkpoints load in checkpoints.py).


@torch.no_grad()
def random_tokenizer(cfg: TokenizerConfig, seed: int) -> GigaTok:
    """A random tokenizer whose tokens vary from image to image and position to position.

    The training init (std 0.02) collapses every latent onto one code, which would make any
    parity check trivially pass; here linears/convs get PyTorch's default init with zero biases,
    and the codebook is seeded from latents of random smooth images (k-means style), so nearest
    code look-ups spread over the codebook."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    tok = GigaTok(cfg).eval()
    for m in tok.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            m.reset_parameters()
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    for m in tok.modules():
        # Scale ~1 rather than ~0: a near-zero adaptive scale, renormalised by the next
        # GroupNorm, would amplify float rounding a thousandfold in random models.
        if isinstance(m, AdaptiveGroupNorm):
            nn.init.ones_(m.gamma.bias)
    # A few images suffice (each gives T latents); rows repeat with noise to fill the codebook.
    n_img = min(4, max(1, -(-cfg.codebook_size // cfg.num_latent_tokens)))
    h = tok.encode_latent(smooth_images(n_img, cfg.image_size, gen))
    latents = h.permute(0, 2, 3, 1).reshape(-1, cfg.codebook_dim)
    pool = latents.repeat(-(-cfg.codebook_size // latents.shape[0]), 1)[: cfg.codebook_size]
    pool = pool + 0.05 * pool.std() * torch.randn(pool.shape, generator=gen)
    tok.quantize.embedding.weight.copy_(F.normalize(pool, dim=-1))
    return tok


def smooth_images(n: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """Random low-frequency images in [-1, 1] (4x4 colours, bilinear-upsampled)."""
    coarse = torch.rand(n, 3, 4, 4, generator=gen) * 2 - 1
    return F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)


def random_ar(cfg: ARConfig, seed: int) -> GPT:
    torch.manual_seed(seed + 1)
    ar = GPT(cfg).eval()
    ar.init_weights(zero_output=False)
    return ar


# ---------------------------------------------------------------------------------------------
# ONNX export


@dataclasses.dataclass
class GraphSpec:
    name: str
    module: nn.Module
    args: tuple
    input_names: list[str]
    output_names: list[str]
    dynamic_axes: dict[str, dict[int, str]]
    # Declared output shapes (the exporter's inferred names like "Reshapetokens_dim_1" are
    # replaced, so a reader of the graph sees the contract's shapes).
    output_shapes: dict[str, list[int | str]]


def graph_specs(tok: GigaTok, ar: GPT) -> list[GraphSpec]:
    tc = tok.config
    s = tc.image_size
    return [
        GraphSpec(
            "encoder",
            EncoderGraph(tok),
            (torch.zeros(2, 3, s, s),),
            ["image"],
            ["tokens"],
            {"image": {0: "B"}, "tokens": {0: "B"}},
            {"tokens": ["B", tc.num_latent_tokens]},
        ),
        GraphSpec(
            "decoder",
            DecoderGraph(tok),
            (torch.zeros(2, tc.num_latent_tokens, dtype=torch.int64),),
            ["tokens"],
            ["image"],
            {"tokens": {0: "B"}, "image": {0: "B"}},
            {"image": ["B", 3, s, s]},
        ),
        ar_step_spec(ar),
    ]


def ar_step_spec(ar: GPT) -> GraphSpec:
    ac = ar.config
    past = torch.zeros(ac.n_layer, 2, ac.n_head, 3, ac.head_dim)
    return GraphSpec(
        "ar_step",
        ARStepGraph(ar),
        (
            torch.zeros(2, 1, dtype=torch.int64),
            torch.zeros(2, dtype=torch.int64),
            torch.tensor([3], dtype=torch.int64),
            past,
            past.clone(),
        ),
        ["token_ids", "class_ids", "position", "past_keys", "past_values"],
        ["logits", "present_keys", "present_values"],
        {
            "token_ids": {0: "N"},
            "class_ids": {0: "N"},
            "past_keys": {1: "N", 3: "P"},
            "past_values": {1: "N", 3: "P"},
            "logits": {0: "N"},
            "present_keys": {1: "N", 3: "P_plus_1"},
            "present_values": {1: "N", 3: "P_plus_1"},
        },
        {
            "logits": ["N", ac.vocab_size],
            "present_keys": [ac.n_layer, "N", ac.n_head, "P_plus_1", ac.head_dim],
            "present_values": [ac.n_layer, "N", ac.n_head, "P_plus_1", ac.head_dim],
        },
    )


def embed_spec(ar: GPT) -> GraphSpec:
    ac = ar.config
    return GraphSpec(
        "embed",
        EmbedGraph(ar),
        (torch.zeros(2, ac.block_size, dtype=torch.int64), torch.zeros(2, dtype=torch.int64)),
        ["token_ids", "class_ids"],
        ["embedding"],
        {"token_ids": {0: "B"}, "class_ids": {0: "B"}, "embedding": {0: "B"}},
        {"embedding": ["B", ac.dim]},
    )


def share_weights_with(path: Path, source: Path) -> int:
    """Rewrites the graph at `path` so that each initializer whose bytes (dtype and shape too)
    equal one of `source`'s becomes ONNX external data pointing at those bytes inside `source`
    (a file in the same directory), as generate.onnx does with ar_step.onnx: the directory then
    holds each weight once. Matching by content, not by name, because constant folding renames
    tensors. Returns the number of bytes no longer stored twice."""
    blob = source.read_bytes()
    spans = raw_data_spans(blob)
    src = onnx.load_model_from_string(blob)
    where: dict[tuple, tuple[int, int]] = {}
    for t in src.graph.initializer:
        span = spans.get(t.name)
        if span is not None and t.data_location != onnx.TensorProto.EXTERNAL and blob[span[0] : span[0] + span[1]] == t.raw_data:
            where.setdefault((t.data_type, tuple(t.dims), t.raw_data), span)
    model = onnx.load(str(path))
    saved = 0
    for t in model.graph.initializer:
        span = where.get((t.data_type, tuple(t.dims), t.raw_data)) if t.HasField("raw_data") else None
        if span is None or len(t.raw_data) < 1024:
            continue
        saved += len(t.raw_data)
        t.ClearField("raw_data")
        t.data_location = onnx.TensorProto.EXTERNAL
        for key, value in (("location", source.name), ("offset", span[0]), ("length", span[1])):
            entry = t.external_data.add()
            entry.key, entry.value = key, str(value)
    path.unlink()
    onnx.save_model(model, str(path))
    onnx.checker.check_model(str(path))
    return saved


def _initializer_bytes(model: onnx.ModelProto) -> int:
    total = 0
    for t in model.graph.initializer:
        total += len(t.raw_data) if t.HasField("raw_data") else t.ByteSize()
    return total


def set_output_shapes(model: onnx.ModelProto, shapes: dict[str, list[int | str]]) -> None:
    for out in model.graph.output:
        if out.name not in shapes:
            continue
        dims = out.type.tensor_type.shape.dim
        if len(dims) != len(shapes[out.name]):
            raise RuntimeError(f"{out.name}: exported rank {len(dims)}, expected {shapes[out.name]}")
        for dim, want in zip(dims, shapes[out.name], strict=True):
            if isinstance(want, int):
                dim.dim_value = want
            else:
                dim.dim_param = want


def export_graph(
    spec: GraphSpec, path: Path, opset: int, external_threshold: int = PROTOBUF_LIMIT
) -> list[Path]:
    """Exports one graph to `path`; returns the files written (the graph, plus `<name>.data`
    when its weights exceed `external_threshold` bytes).

    The TorchScript-based exporter (dynamo=False) is used: it keeps the named dynamic axes and
    handles these modules without graph breaks; the exported file is then re-saved through
    `onnx` so that external data, when needed, lands in ONE side file next to the graph."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp) / "graph.onnx"
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(
                spec.module,
                spec.args,
                str(tmp_path),
                input_names=spec.input_names,
                output_names=spec.output_names,
                dynamic_axes=spec.dynamic_axes,
                opset_version=opset,
                do_constant_folding=True,
                dynamo=False,
            )
        model = onnx.load(str(tmp_path), load_external_data=True)
    model.producer_name = "gigatok_model.export"
    set_output_shapes(model, spec.output_shapes)
    data_name = path.name + ".data"
    for stale in (path, path.with_name(data_name)):
        stale.unlink(missing_ok=True)
    if _initializer_bytes(model) > external_threshold:
        onnx.save_model(
            model,
            str(path),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=data_name,
            size_threshold=1024,
        )
        written = [path, path.with_name(data_name)]
    else:
        onnx.save_model(model, str(path))
        written = [path]
    onnx.checker.check_model(str(path))
    return written


# ---------------------------------------------------------------------------------------------
# Manifest


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def default_sampling(ar: ARConfig) -> dict:
    if is_imagenet(ar):
        # GigaTok's quantitative setting (README / paper, Sec. 4): cfg 1.75 with the step schedule.
        return {"cfg_scale": 1.75, "cfg_schedule": "step", "temperature": 1.0, "top_k": 0, "top_p": 1.0}
    return {"cfg_scale": 4.0, "cfg_schedule": "constant", "temperature": 1.0, "top_k": 0, "top_p": 1.0}


def build_manifest(
    out: Path,
    *,
    model_id: str,
    description: str,
    dtype: str,
    tok: TokenizerConfig,
    ar: ARConfig,
    files: list[Path],
    sampling: dict,
    class_labels: list[str],
    generate: bool = False,
    embed: bool = False,
    source: dict | None = None,
    chunk: bool = False,
) -> dict:
    graphs = {name: {"file": file} for name, file in GRAPH_FILES.items()}
    if generate:
        graphs["generate"] = {"file": GENERATE_FILE}
    if chunk:
        graphs["generate_chunk"] = {"file": CHUNK_FILE}
    if embed:
        graphs["embed"] = {"file": EMBED_FILE}
    manifest = {
        "format_version": FORMAT_VERSION,
        "model_id": model_id,
        "description": description,
        "dtype": dtype,
        "tokenizer": {
            "config": tok.name,
            "image_size": tok.image_size,
            "tokens_per_image": tok.num_latent_tokens,
            "codebook_size": tok.codebook_size,
            "codebook_dim": tok.codebook_dim,
        },
        "ar": {
            "config": ar.name,
            "num_classes": ar.num_classes,
            "null_class_id": ar.null_class_id,
            "n_layer": ar.n_layer,
            "n_head": ar.n_head,
            "head_dim": ar.head_dim,
            "embedding_layer": ar.embedding_layer,
        },
        "graphs": graphs,
        "files": [
            {"path": f.relative_to(out).as_posix(), "sha256": sha256_file(f), "bytes": f.stat().st_size}
            for f in sorted(files)
        ],
        "sampling_defaults": sampling,
        "class_labels": class_labels,
    }
    if source is not None:
        manifest["source"] = source
    return manifest


# ---------------------------------------------------------------------------------------------
# Entry points


@dataclasses.dataclass
class ExportResult:
    out: Path
    manifest: dict
    seconds: dict[str, float]
    tokenizer: GigaTok
    ar: GPT


def export_model_dir(
    tok: GigaTok,
    ar: GPT,
    out: str | Path,
    *,
    model_id: str,
    description: str = "",
    fp16: bool = False,
    opset: int = 18,
    sampling: dict | None = None,
    class_labels: list[str] | None = None,
    external_threshold: int = PROTOBUF_LIMIT,
    generate_graph: bool = True,
    embed_graph: bool = True,
    source: dict | None = None,
    log=print,
) -> ExportResult:
    if not MODEL_ID_RE.match(model_id):
        raise ValueError(f"'model_id' must match {MODEL_ID_RE.pattern}, got {model_id!r}")
    tc, ac = tok.config, ar.config
    if ac.vocab_size != tc.codebook_size or ac.block_size != tc.num_latent_tokens:
        raise ValueError(
            f"AR vocab/length {ac.vocab_size}/{ac.block_size} do not match the tokenizer's "
            f"codebook/tokens {tc.codebook_size}/{tc.num_latent_tokens}"
        )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tok, ar = tok.eval(), ar.eval()
    if fp16:
        tok, ar = tok.half(), ar.half()
    files: list[Path] = []
    seconds: dict[str, float] = {}
    with torch.no_grad():
        for spec in graph_specs(tok, ar):
            t0 = time.perf_counter()
            files += export_graph(spec, out / GRAPH_FILES[spec.name], opset, external_threshold)
            seconds[spec.name] = time.perf_counter() - t0
            log(f"exported {spec.name} in {seconds[spec.name]:.1f}s")
    if generate_graph:
        # The whole sampling loop as one graph around ar_step.onnx (gigatok_model/generate_graph.py).
        t0 = time.perf_counter()
        dims = Dims(
            tc.num_latent_tokens, tc.codebook_size, ac.null_class_id, ac.n_layer, ac.n_head, ac.head_dim
        )
        files.append(write_generate_graph(out / GRAPH_FILES["ar_step"], out / GENERATE_FILE, dims))
        seconds["generate"] = time.perf_counter() - t0
        log(f"built generate in {seconds['generate']:.1f}s")
    # The sampling loop in chunks for rows at different positions (gigatok_model/chunk_graph.py):
    # float32 models whose weights fit in one file, read in place from ar_step.onnx.
    chunk = generate_graph and not fp16 and not (out / (GRAPH_FILES["ar_step"] + ".data")).exists()
    if chunk:
        t0 = time.perf_counter()
        step_file = out / GRAPH_FILES["ar_step"]
        files.append(write_chunk_graph(ar, out / CHUNK_FILE, dims, share_with=step_file))
        seconds["generate_chunk"] = time.perf_counter() - t0
        log(f"built generate_chunk in {seconds['generate_chunk']:.1f}s")
    if embed_graph:
        # The probe representation as its own graph; weights it shares with ar_step.onnx
        # are read from there, unless ar_step keeps them in a side file (over 2 GiB).
        t0 = time.perf_counter()
        with torch.no_grad():
            written = export_graph(embed_spec(ar), out / EMBED_FILE, opset, external_threshold)
        if len(written) == 1 and not (out / (GRAPH_FILES["ar_step"] + ".data")).exists():
            share_weights_with(out / EMBED_FILE, out / GRAPH_FILES["ar_step"])
        files += written
        seconds["embed"] = time.perf_counter() - t0
        log(f"exported embed in {seconds['embed']:.1f}s")
    manifest = build_manifest(
        out,
        model_id=model_id,
        description=description,
        dtype="float16" if fp16 else "float32",
        tok=tc,
        ar=ac,
        files=files,
        sampling=sampling or default_sampling(ac),
        class_labels=class_labels or default_class_labels(ac.num_classes)[0],
        generate=generate_graph,
        embed=embed_graph,
        source=source,
        chunk=chunk,
    )
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return ExportResult(out, manifest, seconds, tok, ar)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m gigatok_model.export", description=__doc__)
    p.add_argument("--tokenizer-config", required=True, help="S-S, S-B, B-L, XL-XXL, nano, tiny")
    p.add_argument("--tokenizer-ckpt", help="GigaTok checkpoint (.pt)")
    p.add_argument(
        "--tokenizer-state-key",
        help=f"top-level key of --tokenizer-ckpt to load; default: the first of {', '.join(TOKENIZER_STATE_KEYS)} "
        f"it holds, as the official sampling scripts do; '{ROOT_STATE_KEY}': the file is the state dict",
    )
    p.add_argument("--ar-config", required=True, help="GPT-B, GPT-L, GPT-XL, GPT-XXL, gpt-nano, gpt-tiny")
    p.add_argument("--ar-ckpt", help="AR checkpoint (.pt)")
    p.add_argument(
        "--ar-state-key",
        help=f"top-level key of --ar-ckpt to load; default: the first of {', '.join(GPT_STATE_KEYS)} it holds "
        f"(never ema), as the official sampling scripts do; '{ROOT_STATE_KEY}': the file is the state dict",
    )
    p.add_argument("--num-classes", type=int, help="override the AR config's class count")
    p.add_argument("--out", required=True, help="model directory to write")
    p.add_argument("--random-init", action="store_true", help="random weights instead of checkpoints")
    p.add_argument("--seed", type=int, default=0, help="seed for --random-init and --verify inputs")
    p.add_argument("--fp16", action="store_true", help="float16 weights (graph I/O stays float32)")
    p.add_argument("--verify", action="store_true", help="check ONNX Runtime against PyTorch")
    p.add_argument("--opset", type=int, default=18)
    p.add_argument("--model-id", help="manifest model_id (default gigatok-<tokenizer>-<ar>)")
    p.add_argument("--description", default=None)
    p.add_argument(
        "--class-labels",
        help="JSON array or text file, one label a line (default: the ImageNet-1k names for 1000 classes, "
        "else 'class N')",
    )
    p.add_argument("--cfg-scale", type=float)
    p.add_argument("--cfg-schedule", choices=["constant", "step"])
    p.add_argument("--temperature", type=float)
    p.add_argument("--top-k", type=int)
    p.add_argument("--top-p", type=float)
    p.add_argument(
        "--generate-graph",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also write generate.onnx, the whole sampling loop in one graph (default on)",
    )
    p.add_argument(
        "--embed-graph",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also write embed.onnx, the mean hidden state at layer n_layer/2 (default on)",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tc = tokenizer_config(args.tokenizer_config)
    overrides = {} if args.num_classes is None else {"num_classes": args.num_classes}
    ac = ar_config(args.ar_config, tc, **overrides)
    source = None
    if args.random_init:
        if args.tokenizer_ckpt or args.ar_ckpt or args.tokenizer_state_key or args.ar_state_key:
            raise SystemExit("--random-init excludes --tokenizer-ckpt/--ar-ckpt and their state keys")
        tok, ar = random_tokenizer(tc, args.seed), random_ar(ac, args.seed)
    else:
        if not (args.tokenizer_ckpt and args.ar_ckpt):
            raise SystemExit("give --tokenizer-ckpt and --ar-ckpt, or --random-init")
        loaded = from_checkpoints(
            tc,
            ac,
            args.tokenizer_ckpt,
            args.ar_ckpt,
            tokenizer_state_key=args.tokenizer_state_key,
            ar_state_key=args.ar_state_key,
        )
        tok, ar, source = loaded.tokenizer, loaded.ar, loaded.source
        for what, entry in source.items():
            key = entry["state_key"]
            where = "the file itself" if key is None else f"key '{key}'"
            print(f"{what} weights: {entry['checkpoint']}, {where}")
    model_id = args.model_id or f"gigatok-{tc.name}-{ac.name}".lower()
    sampling = default_sampling(ac)
    for key in ("cfg_scale", "cfg_schedule", "temperature", "top_k", "top_p"):
        if getattr(args, key) is not None:
            sampling[key] = getattr(args, key)
    weights = "random weights" if args.random_init else "checkpoint weights"
    description = args.description or f"GigaTok {tc.name} tokenizer + {ac.name} ({weights})"
    class_labels = read_class_labels(args.class_labels, ac.num_classes)
    if args.class_labels is None:
        print(f"class labels: {default_class_labels(ac.num_classes)[1]} ({ac.num_classes})")
    t0 = time.perf_counter()
    result = export_model_dir(
        tok,
        ar,
        args.out,
        model_id=model_id,
        description=description,
        fp16=args.fp16,
        opset=args.opset,
        sampling=sampling,
        class_labels=class_labels,
        generate_graph=args.generate_graph,
        embed_graph=args.embed_graph,
        source=source,
    )
    print(f"wrote {args.out} in {time.perf_counter() - t0:.1f}s")
    for f in result.manifest["files"]:
        print(f"  {f['path']:<24} {f['bytes']:>14,d} bytes  sha256 {f['sha256'][:16]}…")
    if args.verify:
        from .verify import verify_model_dir

        report = verify_model_dir(
            args.out, result.tokenizer.float(), result.ar.float(), seed=args.seed
        )
        if args.generate_graph:
            from .generate_graph import check_generate

            report.checks += check_generate(args.out, seed=args.seed)
            if "generate_chunk" in result.manifest["graphs"]:
                from .chunk_graph import check_chunks

                report.checks += check_chunks(args.out, seed=args.seed)
        print(report.table())
        if not report.ok:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
