"""Builds generate_chunk.onnx: up to S sampling steps of a batch whose rows sit at different
positions, with the KV state going in and out, so a server can let requests join and leave
between chunks (docs/model-contract.md, "generate_chunk.onnx").

The step inside the loop is `ChunkStep`, the GPT step with one position per row: a KV window of W
slots per row (W = min(T, max position + S), cut from the T-slot state once per chunk), the new
key/value written into slot p of its row, and attention over each row's slots 0..p. After it comes the
same sampler as generate.onnx (generate_graph._sampler), fed with each row's own step index, so a
row draws u(seed, image, p) and the same float32 math whatever else shares the batch and however
its steps are cut into chunks.

State layout: keys_t [B, L, 2, H, D, T] and values [B, L, 2, H, T, D] (row-major per image: layer,
guidance half (cond, uncond), head, then head dim x slot for keys, slot x head dim for values), so
the rows of a batch can be added and removed by concatenating and slicing whole rows. Keys are
stored transposed and multiplied by key_scale_root, the form in which the attention's MatMul takes
them, so a step reads them in place. A row at position T is finished: it still computes (its
results are discarded), draws nothing (token -1) and its position stays T.

Usage (adds the graph to an existing model directory and its manifest):
python -m gigatok_model.chunk_graph MODEL_DIR
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper
from torch import nn

from .ar import GPT
from .configs import ARConfig
from .generate_graph import (
    Dims,
    _Consts,
    _input,
    _Nodes,
    _prepare_params,
    _sampling_inputs,
    _sampler,
    _sha256,
    _step_body_nodes,
    dims_from_manifest,
)

CHUNK_FILE = "generate_chunk.onnx"
STEP_INPUTS = ["token_ids", "class_ids", "positions", "key_root"]
STEP_OUTPUTS = ["cond_logits", "uncond_logits"]
CHUNK_OUTPUTS = ["tokens", "next_keys_t", "next_values"]


def _layer_names(prefix: str, n_layer: int) -> list[str]:
    """Per-layer state names: keys of layers 0..L-1, then values."""
    return [f"{prefix}{kind}_{i}" for kind in ("keys", "values") for i in range(n_layer)]


def key_scale_root(head_dim: int) -> np.float32:
    """(1/sqrt(D))^(1/2) in float32, computed as the exporter's scaled_dot_product_attention does
    (ar_step multiplies both q and the transposed keys by it before their MatMul): the chunk state
    holds keys already multiplied by it, so each key is scaled once, when written, with the same
    float32 product ar_step forms at every step."""
    return np.sqrt(np.float32(1.0) / np.sqrt(np.float32(head_dim)))


class ChunkStep(nn.Module):
    """One guided step for rows at their own positions over a window of W slots: token_ids,
    class_ids, positions [B] i64, key_root (f32 scalar, key_scale_root(D)) and the state per layer
    (keys of layers 0..L-1 as [2B, H, D, W], already multiplied by key_root, then values
    [2B, H, W, D]) -> cond/uncond logits [B, V] and the per-layer state with slot p of each row
    written.

    The arithmetic of each row is GPT.step's as exported (same modules, same order, the same
    float32 products): the query times the scale root against keys stored transposed and scaled,
    so the attention reads the state with no Transpose or Mul of the cache per step. Here the
    attention runs over the whole window with slots past p masked to -inf (a valid torch model, and
    what the export traces); build_chunk_model replaces it in the graph by one over each row's
    p + 1 slots (_row_length_attention), which is what makes the sums generate.onnx's bit for bit."""

    def __init__(self, ar: GPT):
        super().__init__()
        self.ar = ar

    def forward(self, token_ids, class_ids, positions, root, *state):
        ar, cfg = self.ar, self.ar.config
        L = cfg.n_layer
        keys, values = state[:L], state[L:]
        H, hd = cfg.n_head, cfg.head_dim
        W = keys[0].shape[3]
        null = torch.full_like(class_ids, ar.num_classes)
        classes = torch.stack([class_ids, null], 1).reshape(-1)
        tokens = torch.stack([token_ids, token_ids], 1).reshape(-1)
        pos = torch.stack([positions, positions], 1).reshape(-1)
        tok = ar.tok_embeddings(tokens).unsqueeze(1)
        cls = ar.cls_embedding.embedding_table(classes).unsqueeze(1)
        h = torch.where((pos == 0).reshape(-1, 1, 1), cls, tok)
        h = h + ar.positional_embedding[pos].unsqueeze(1)
        slots = torch.arange(W, device=pos.device).unsqueeze(0)
        visible = (slots <= pos.unsqueeze(1)).reshape(-1, 1, 1, W)
        hidden = torch.full((), float("-inf"))
        # Slot p of each row takes the new key/value (ScatterElements: one write of the W-slot
        # window per layer and step, where generate.onnx concatenates its p + 1 slots).
        key_slot = pos.reshape(-1, 1, 1, 1).expand(-1, H, hd, 1)
        value_slot = pos.reshape(-1, 1, 1, 1).expand(-1, H, 1, hd)
        new_k, new_v = [], []
        for i, layer in enumerate(ar.layers):
            att = layer.attention
            x = layer.attention_norm(h)
            q, k, v = att.wqkv(x).split(att.dim, dim=-1)
            q = q.reshape(-1, H, 1, hd)
            k_all = keys[i].scatter(3, key_slot, k.reshape(-1, H, hd, 1) * root)
            v_all = values[i].scatter(2, value_slot, v.reshape(-1, H, 1, hd))
            scores = torch.where(visible, torch.matmul(q * root, k_all), hidden)
            out = torch.matmul(torch.softmax(scores, dim=-1), v_all)
            h = h + att.wo(out.reshape(-1, 1, att.dim))
            h = h + layer.feed_forward(layer.ffn_norm(h))
            new_k.append(k_all)
            new_v.append(v_all)
        B = token_ids.shape[0]
        logits = ar.output(ar.norm(h))[:, 0].float().reshape(B, 2, -1)
        return (logits[:, 0], logits[:, 1], *new_k, *new_v)


def export_chunk_step(ar: GPT) -> onnx.ModelProto:
    """ChunkStep as ONNX (the TorchScript exporter, as export.py uses for ar_step), dynamic in the
    rows N = 2B and the window W."""
    c = ar.config
    window = 5
    key = torch.zeros(4, c.n_head, c.head_dim, window)
    value = torch.zeros(4, c.n_head, window, c.head_dim)
    args = (
        torch.zeros(2, dtype=torch.int64),
        torch.zeros(2, dtype=torch.int64),
        torch.tensor([0, 3], dtype=torch.int64),
        torch.tensor(float(key_scale_root(c.head_dim))),
        *(key.clone() for _ in range(c.n_layer)),
        *(value.clone() for _ in range(c.n_layer)),
    )
    inputs = STEP_INPUTS + _layer_names("", c.n_layer)
    outputs = STEP_OUTPUTS + _layer_names("next_", c.n_layer)
    axes: dict[str, dict[int, str]] = {n: {0: "B"} for n in STEP_INPUTS[:3] + STEP_OUTPUTS}
    for prefix in ("", "next_"):
        for n in _layer_names(prefix, c.n_layer):
            axes[n] = {0: "N", 3: "W"} if "keys" in n else {0: "N", 2: "W"}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "chunk_step.onnx"
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                ChunkStep(ar.eval()),
                args,
                str(path),
                input_names=inputs,
                output_names=outputs,
                dynamic_axes=axes,
                opset_version=18,
                do_constant_folding=True,
                dynamo=False,
            )
        return onnx.load(str(path), load_external_data=True)


def _row_length_attention(
    body: _Nodes, step_nodes: list[onnx.NodeProto], positions: str, n_head: int, head_dim: int
) -> list[onnx.NodeProto]:
    """`step_nodes` with each attention (MatMul(q, keys) -> Where(mask) -> Softmax -> MatMul(., values)
    over the W-slot window) replaced by a Loop over the images that attends over each image's first
    p + 1 slots only (its cond and uncond rows together): the same MatMul and Softmax shapes per row as generate.onnx's step, so the same
    float32 sums. Over the masked W-slot window ONNX Runtime rounds differently (its Softmax and
    MatMul kernels group their sums by length; measured at GPT-B: a near-tie drawn the other way)."""
    axis0 = body.c("axis0", np.array([0], np.int64))
    lengths = body.op("Add", positions, body.c("one_i64", np.array([1], np.int64)))
    images = body.op("Squeeze", body.op("Shape", positions), axis0)
    producer = {o: n for n in step_nodes for o in n.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for n in step_nodes:
        for x in n.input:
            consumers.setdefault(x, []).append(n)
    replaced: dict[int, list[onnx.NodeProto] | None] = {}
    for soft in (n for n in step_nodes if n.op_type == "Softmax"):
        mask = producer[soft.input[0]]
        scores = producer[mask.input[1]]
        (weighted,) = consumers[soft.output[0]]
        if mask.op_type != "Where" or scores.op_type != "MatMul" or weighted.op_type != "MatMul":
            raise ValueError(f"unexpected attention around {soft.name}: {scores.op_type}, {mask.op_type}")
        query, keys = scores.input
        values = weighted.input[1]
        inner = _Nodes(f"{soft.name}/row/", body.consts)
        i, cond = f"{soft.name}/row/in/i", f"{soft.name}/row/in/cond"
        # The image's two rows (cond, uncond) share its position: rows 2i and 2i + 1.
        two_rows = inner.c("two_1", np.array([2], np.int64))
        start = inner.op("Mul", inner.op("Unsqueeze", i, axis0), two_rows)
        stop = inner.op("Add", start, two_rows)
        length = inner.op("Unsqueeze", inner.op("Gather", lengths, i, axis=0), axis0)
        zero = inner.c("zero_1", np.array([0], np.int64))
        # The image's queries, and its keys [2, H, D, p + 1] and values [2, H, p + 1, D].
        first = inner.op("Concat", start, zero, axis=0)
        last = inner.op("Concat", stop, length, axis=0)
        q = inner.op("Slice", query, start, stop, axis0)
        k = inner.op("Slice", keys, first, last, inner.c("row_key_axes", np.array([0, 3], np.int64)))
        v = inner.op("Slice", values, first, last, inner.c("row_value_axes", np.array([0, 2], np.int64)))
        weights = inner.op("Softmax", inner.op("MatMul", q, k), axis=-1)
        out = inner.op("MatMul", weights, v)
        keep = inner.op("Identity", cond)
        graph = helper.make_graph(
            inner.nodes,
            f"{soft.name}/row",
            [_input(i, TensorProto.INT64, []), _input(cond, TensorProto.BOOL, [])],
            [_input(keep, TensorProto.BOOL, []), _input(out, TensorProto.FLOAT, None)],
        )
        name = f"{soft.name}/rows"
        stacked = f"{name}/stacked"
        loop = helper.make_node("Loop", [images, ""], [stacked], name=name, body=graph)
        rows_shape = body.c("attention_rows", np.array([-1, n_head, 1, head_dim], np.int64))
        merge = helper.make_node("Reshape", [stacked, rows_shape], [weighted.output[0]], name=f"{name}/merge")
        for n in (scores, mask, soft):
            replaced[id(n)] = None
        replaced[id(weighted)] = [loop, merge]
    out_nodes = []
    for n in step_nodes:
        if id(n) not in replaced:
            out_nodes.append(n)
        else:
            out_nodes += replaced[id(n)] or []
    return out_nodes


def build_chunk_model(step_model: onnx.ModelProto, dims: Dims) -> onnx.ModelProto:
    """The chunk graph around an exported ChunkStep.

    Inputs: class_ids [B], uniforms [B, T], the five sampling parameters ([B] or [1], as
    generate.onnx), prefix_tokens [B, T] with prefix_len [B] (tokens forced while p < K; columns
    past K are ignored), positions [B] (each row's next step), prev_tokens [B] (the token at p - 1;
    ignored at p = 0), keys_t [B, L, 2, H, D, T] (keys transposed and scaled by key_scale_root),
    values [B, L, 2, H, T, D], steps (i64 scalar: S).
    Outputs: tokens [B, S] (-1 where the row had already finished), next_keys_t, next_values.

    The loop runs over a window of W = min(T, max(positions) + S) slots: no row reads or writes a
    slot at or past W during the chunk, so the window is sliced out of the state once on entry and
    padded back to T slots (zeros) once on exit."""
    step = step_model.graph
    T, V, L, H, D = dims.tokens, dims.vocab, dims.n_layer, dims.n_head, dims.head_dim
    step_in, step_out = STEP_INPUTS + _layer_names("", L), STEP_OUTPUTS + _layer_names("next_", L)
    if [i.name for i in step.input] != step_in or [o.name for o in step.output] != step_out:
        raise ValueError("not a ChunkStep graph: inputs/outputs differ")
    consts = _Consts()
    outer = _Nodes("chunk/", consts)
    params = _prepare_params(outer, outer.op("Shape", "class_ids"), V)
    one = outer.c("chunk_one", np.array([1], np.int64))
    reach = outer.op("Add", outer.op("ReduceMax", "positions", keepdims=1), outer.op("Reshape", "steps", one))
    window = outer.op("Min", outer.op("Max", reach, one), outer.c("tokens", np.array([T], np.int64)))
    zero = outer.c("chunk_zero", np.array([0], np.int64))
    key_rows = outer.op("Concat", outer.c("key_rows", np.array([-1, H, D], np.int64)), window, axis=0)
    head_dim_col = outer.c("head_dim", np.array([D], np.int64))
    value_head = outer.c("value_rows", np.array([-1, H], np.int64))
    value_rows = outer.op("Concat", value_head, window, head_dim_col, axis=0)
    # key_root computed at run time from D, as ar_step's exported attention computes its scale: a
    # constant would let ONNX Runtime fold it into the MatMul (alpha), which rounds differently.
    d_axis = outer.c("d_axis", np.array(4, np.int64))
    head_dim = outer.op("Cast", outer.op("Gather", outer.op("Shape", "keys_t"), d_axis), to=TensorProto.FLOAT)
    f_one = outer.c("f_one", np.array(1.0, np.float32))
    root = outer.op("Sqrt", outer.op("Div", f_one, outer.op("Sqrt", head_dim)))
    # The state per layer for the loop, as the step reads it: [2B, H, D, W] and [2B, H, W, D].
    per_layer = []
    for name, slot_axis, rows in (("keys_t", 5, key_rows), ("values", 4, value_rows)):
        axes = outer.c(f"{name}_axes", np.array([1, slot_axis], np.int64))
        for i in range(L):
            start = outer.c(f"layer{i}_start", np.array([i, 0], np.int64))
            end = outer.op("Concat", outer.c(f"layer{i}_end", np.array([i + 1], np.int64)), window, axis=0)
            per_layer.append(outer.op("Reshape", outer.op("Slice", name, start, end, axes), rows))

    body = _Nodes("chunk/body/", consts)
    b_i, b_cond, b_pos, b_prev = (f"chunk/body/in/{n}" for n in ("i", "cond", "pos", "prev"))
    b_state = _layer_names("chunk/body/in/", L)
    last = body.c("last_position", np.array([T - 1], np.int64))
    active = body.op("Less", b_pos, body.c("tokens", np.array([T], np.int64)))
    p = body.op("Min", b_pos, last)
    w = "chunk_step/"
    rename = {"token_ids": b_prev, "class_ids": "class_ids", "positions": p, "key_root": root}
    rename.update(zip(_layer_names("", L), b_state))
    for t in step.initializer:
        rename[t.name] = w + t.name
    body.nodes += _row_length_attention(body, _step_body_nodes(step, rename, w), p, H, D)
    cond_l, uncond_l, *next_state = (w + n for n in step_out)
    p_col = body.op("Unsqueeze", p, body.c("axis1", np.array([1], np.int64)))
    u = body.op("GatherElements", "uniforms", p_col, axis=1)
    sampled, _ = _sampler(body, cond_l, uncond_l, p_col, u, params, dims)
    forced = body.op("Less", p, "prefix_len")
    prefix_at = body.op(
        "Squeeze",
        body.op("GatherElements", "prefix_tokens", p_col, axis=1),
        body.c("axis1", np.array([1], np.int64)),
    )
    token = body.op("Where", forced, prefix_at, sampled)
    drawn = body.op("Where", active, token, body.c("minus_one", np.array([-1], np.int64)))
    next_prev = body.op("Where", active, token, b_prev)
    next_pos = body.op("Add", b_pos, body.op("Cast", active, to=TensorProto.INT64))
    cond_out = body.op("Identity", b_cond)
    layer_shapes = [["N", H, D, "W"]] * L + [["N", H, "W", D]] * L
    body_graph = helper.make_graph(
        body.nodes,
        "chunk_step",
        [
            _input(b_i, TensorProto.INT64, []),
            _input(b_cond, TensorProto.BOOL, []),
            _input(b_pos, TensorProto.INT64, ["B"]),
            _input(b_prev, TensorProto.INT64, ["B"]),
            *(_input(n, TensorProto.FLOAT, s) for n, s in zip(b_state, layer_shapes)),
        ],
        [
            _input(cond_out, TensorProto.BOOL, []),
            _input(next_pos, TensorProto.INT64, ["B"]),
            _input(next_prev, TensorProto.INT64, ["B"]),
            *(_input(n, TensorProto.FLOAT, s) for n, s in zip(next_state, layer_shapes)),
            _input(drawn, TensorProto.INT64, ["B"]),
        ],
    )
    outs = outer.op(
        "Loop",
        "steps",
        outer.c("true", np.array(True)),
        "positions",
        "prev_tokens",
        *per_layer,
        outputs=2 + 2 * L + 1,
        body=body_graph,
    )
    final = outs[2 : 2 + 2 * L]
    # Back to [B, L, 2, H, ., .] and to T slots: the slots past the window are zeros.
    past_window = outer.op("Sub", outer.c("tokens", np.array([T], np.int64)), window)
    pad = outer.op("Concat", zero, past_window, axis=0)
    key_image = outer.c("key_image", np.array([-1, 1, 2, H, D], np.int64))
    value_image = outer.c("value_image", np.array([-1, 1, 2, H], np.int64))
    for k, (name, slot_axis, per_image) in enumerate(
        (
            ("next_keys_t", 5, outer.op("Concat", key_image, window, axis=0)),
            ("next_values", 4, outer.op("Concat", value_image, window, head_dim_col, axis=0)),
        )
    ):
        parts = [outer.op("Reshape", t, per_image) for t in final[k * L : (k + 1) * L]]
        stacked = outer.op("Concat", *parts, axis=1) if L > 1 else parts[0]
        axis = outer.c(f"{name}_slot_axis", np.array([slot_axis], np.int64))
        outer.nodes.append(
            helper.make_node("Pad", [stacked, pad, "", axis], [name], name=f"chunk/{name}", mode="constant")
        )
    outer.nodes.append(helper.make_node("Transpose", [outs[-1]], ["tokens"], name="chunk/tokens", perm=[1, 0]))
    weights = []
    for t in step.initializer:
        moved = TensorProto()
        moved.CopyFrom(t)
        moved.name = w + t.name
        weights.append(moved)
    graph = helper.make_graph(
        outer.nodes,
        "generate_chunk",
        [
            *_sampling_inputs(T),
            _input("prefix_tokens", TensorProto.INT64, ["B", T]),
            _input("prefix_len", TensorProto.INT64, ["B"]),
            _input("positions", TensorProto.INT64, ["B"]),
            _input("prev_tokens", TensorProto.INT64, ["B"]),
            _input("keys_t", TensorProto.FLOAT, ["B", L, 2, H, D, T]),
            _input("values", TensorProto.FLOAT, ["B", L, 2, H, T, D]),
            _input("steps", TensorProto.INT64, []),
        ],
        [
            _input("tokens", TensorProto.INT64, ["B", "S"]),
            _input("next_keys_t", TensorProto.FLOAT, ["B", L, 2, H, D, T]),
            _input("next_values", TensorProto.FLOAT, ["B", L, 2, H, T, D]),
        ],
        initializer=weights + list(consts.tensors.values()),
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 18)],
        ir_version=step_model.ir_version,
        producer_name="gigatok_model.chunk_graph",
    )
    model.doc_string = f"GigaTok AR sampling in chunks: rows at their own positions, {T} slots, vocabulary {V}"
    return model


# ---------------------------------------------------------------------------------------------
# The torch model of an exported ar_step.onnx (a model directory keeps no checkpoint).


def _step_parameter_map(ar: GPT) -> dict[str, tuple[str, int, bool]]:
    """{parameter name: (node name, input index, transposed)}: where each weight of `ar` enters
    the ar_step graph export.py writes for a GPT of its config. Found by exporting `ar` itself
    (distinct values everywhere) and matching initializer values; read by node, because the
    exporter names folded weights `onnx::MatMul_<n>` and merges initializers of equal value (the
    all-ones norm weights of a fresh model) into one, read elsewhere through Identity nodes."""
    from .export import ar_step_spec, export_graph

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ar_step.onnx"
        export_graph(ar_step_spec(ar), path, 18)
        model = onnx.load(str(path))
    params = {n: p.detach().numpy() for n, p in ar.named_parameters()}
    owner: dict[str, tuple[str, bool]] = {}
    for t in model.graph.initializer:
        arr = onnx.numpy_helper.to_array(t)
        for name, value in params.items():
            if arr.shape == value.shape and np.array_equal(arr, value):
                owner[t.name] = (name, False)
                break
            if arr.ndim == 2 and arr.shape == value.T.shape and np.array_equal(arr, value.T):
                owner[t.name] = (name, True)
                break
    sites: dict[str, tuple[str, int, bool]] = {}
    for node in model.graph.node:
        for k, x in enumerate(node.input):
            if x in owner and owner[x][0] not in sites:
                sites[owner[x][0]] = (node.name, k, owner[x][1])
    return sites


def gpt_from_ar_step(step_path: Path, cfg: ARConfig, seed: int = 0) -> GPT:
    """A GPT holding the weights of the ar_step.onnx at `step_path` (exported from a GPT of `cfg`)."""
    torch.manual_seed(seed)
    ar = GPT(cfg).eval()
    with torch.no_grad():  # distinct values everywhere, so each initializer matches one parameter
        for p in ar.parameters():
            p.normal_()
    sites = _step_parameter_map(ar)
    missing = sorted({n for n, _ in ar.named_parameters()} - sites.keys())
    if missing:
        raise ValueError(f"{step_path}: cannot map ar_step weights to parameters {missing[:4]}")
    graph = onnx.load(str(step_path)).graph
    nodes = {n.name: n for n in graph.node}
    weights = {t.name: t for t in graph.initializer}
    # Merged initializers reach their other users through Identity nodes.
    for n in graph.node:
        if n.op_type == "Identity" and n.input[0] in weights:
            weights[n.output[0]] = weights[n.input[0]]
    params = dict(ar.named_parameters())
    with torch.no_grad():
        for name, (node, k, transposed) in sites.items():
            source = nodes.get(node)
            tensor = None if source is None or k >= len(source.input) else weights.get(source.input[k])
            if tensor is None:
                raise ValueError(f"{step_path}: no weight at input {k} of node {node} (for {name})")
            arr = onnx.numpy_helper.to_array(tensor)
            params[name].copy_(torch.from_numpy(np.array(arr.T if transposed else arr)))
    return ar


def write_chunk_graph(ar: GPT, out_path: Path, dims: Dims, share_with: Path | None = None) -> Path:
    """Writes generate_chunk.onnx; with `share_with` (ar_step.onnx in the same directory) its
    weights are external data pointing into that file, so the directory holds each weight once."""
    from .export import share_weights_with

    model = build_chunk_model(export_chunk_step(ar), dims)
    out_path.unlink(missing_ok=True)
    onnx.save_model(model, str(out_path))
    if share_with is not None:
        share_weights_with(out_path, share_with)
    onnx.checker.check_model(str(out_path))
    return out_path


def add_to_model_dir(model_dir: Path, ar: GPT | None = None) -> dict:
    """Writes MODEL_DIR/generate_chunk.onnx and records it in manifest.json (graphs.generate_chunk,
    files). Without `ar` the weights are read back from the directory's ar_step.onnx."""
    from .configs import ar_config, tokenizer_config

    manifest_path = model_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    step = model_dir / manifest["graphs"]["ar_step"]["file"]
    rebuilt = ar is None
    if rebuilt:
        cfg = ar_config(manifest["ar"]["config"], tokenizer_config(manifest["tokenizer"]["config"]))
        ar = gpt_from_ar_step(step, cfg)
    before = manifest_path.read_text(encoding="utf-8")
    out = write_chunk_graph(ar, model_dir / CHUNK_FILE, dims_from_manifest(manifest), share_with=step)
    manifest["graphs"]["generate_chunk"] = {"file": CHUNK_FILE}
    files = [f for f in manifest["files"] if f["path"] != CHUNK_FILE]
    files.append({"path": CHUNK_FILE, "sha256": _sha256(out), "bytes": out.stat().st_size})
    manifest["files"] = sorted(files, key=lambda f: f["path"])
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    if rebuilt:
        # The rebuild maps initializers by the names this exporter gives them; a file from another
        # exporter version maps wrongly, which shows as tokens that differ from generate.onnx's.
        (check,) = check_chunks(model_dir)
        if not check.ok:
            manifest_path.write_text(before, encoding="utf-8")
            out.unlink()
            raise ValueError(
                f"{step}: the GPT rebuilt from its weights does not reproduce generate.onnx "
                f"({check.value}/{check.limit[3:]} tokens equal); export the directory again instead"
            )
    return manifest


# ---------------------------------------------------------------------------------------------
# Driving the chunk graph from Python (tests, --verify): a batch with joins and leaves.


def empty_state(dims: Dims, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Zero keys_t [rows, L, 2, H, D, T] and values [rows, L, 2, H, T, D]."""
    L, H, T, D = dims.n_layer, dims.n_head, dims.tokens, dims.head_dim
    return np.zeros((rows, L, 2, H, D, T), np.float32), np.zeros((rows, L, 2, H, T, D), np.float32)


def chunk_feeds(dims: Dims, rows: list[dict], positions, prev, keys, values, steps: int) -> dict:
    """Feeds for rows given as dicts with class_id, uniforms [T], and generate_feeds-style
    sampling options (cfg_scale, cfg_schedule, temperature, top_k, top_p, prefix)."""
    T = dims.tokens
    get = lambda r, k, d: r.get(k, d)  # noqa: E731
    prefix = np.zeros((len(rows), T), np.int64)
    prefix_len = np.zeros(len(rows), np.int64)
    for b, r in enumerate(rows):
        fixed = np.asarray(r.get("prefix", []), np.int64)
        prefix[b, : fixed.size] = fixed
        prefix_len[b] = fixed.size
    return {
        "class_ids": np.array([r["class_id"] for r in rows], np.int64),
        "uniforms": np.stack([r["uniforms"] for r in rows]).astype(np.float32),
        "cfg_scale": np.array([get(r, "cfg_scale", 4.0) for r in rows], np.float32),
        "cfg_schedule": np.array([1 if get(r, "cfg_schedule", "constant") == "step" else 0 for r in rows], np.int64),
        "temperature": np.array([get(r, "temperature", 1.0) for r in rows], np.float32),
        "top_k": np.array([get(r, "top_k", 0) for r in rows], np.int64),
        "top_p": np.array([get(r, "top_p", 1.0) for r in rows], np.float32),
        "prefix_tokens": prefix,
        "prefix_len": prefix_len,
        "positions": np.asarray(positions, np.int64),
        "prev_tokens": np.asarray(prev, np.int64),
        "keys_t": keys,
        "values": values,
        "steps": np.array(steps, np.int64),
    }


def run_schedule(sess, dims: Dims, rows: list[dict], joins: list[int], chunk: int, max_batch: int) -> list[np.ndarray]:
    """Serves `rows` as the backend's chunked scheduler does: row r joins at chunk boundary
    joins[r] (or later, when the batch is full), finished rows leave, chunks of `chunk` steps.
    Returns each row's T tokens."""
    T = dims.tokens
    waiting = list(range(len(rows)))
    batch: list[int] = []
    pos: list[int] = []
    prev: list[int] = []
    keys, values = empty_state(dims, 0)
    out = [np.full(T, -1, np.int64) for _ in rows]
    boundary = 0
    while waiting or batch:
        for r in [r for r in waiting if joins[r] <= boundary]:
            if len(batch) == max_batch:
                break
            waiting.remove(r)
            batch.append(r)
            pos.append(0)
            prev.append(0)
            new_keys, new_values = empty_state(dims, 1)
            keys = np.concatenate([keys, new_keys])
            values = np.concatenate([values, new_values])
        boundary += 1
        if not batch:
            continue
        feeds = chunk_feeds(dims, [rows[r] for r in batch], pos, prev, keys, values, chunk)
        tokens, keys, values = sess.run(CHUNK_OUTPUTS, feeds)
        keep = []
        for b, r in enumerate(batch):
            drawn = tokens[b][tokens[b] >= 0]
            out[r][pos[b] : pos[b] + drawn.size] = drawn
            pos[b] += drawn.size
            if drawn.size:
                prev[b] = int(drawn[-1])
            keep.append(pos[b] < T)
        batch = [r for r, k in zip(batch, keep) if k]
        pos = [p for p, k in zip(pos, keep) if k]
        prev = [p for p, k in zip(prev, keep) if k]
        keys, values = keys[np.array(keep, bool)], values[np.array(keep, bool)]
    return out


def check_chunks(model_dir: str | Path, seed: int = 0) -> list:
    """--verify check: rows served in chunks (joining at different boundaries, chunk sizes 1, 3
    and T) draw the tokens generate.onnx draws for the same uniforms, for every case of
    check_cases."""
    from .generate_graph import check_cases, generate_feeds
    from .verify import Check, session

    model_dir = Path(model_dir)
    manifest = json.loads((model_dir / "manifest.json").read_text(encoding="utf-8"))
    dims = dims_from_manifest(manifest)
    gen = session(model_dir / manifest["graphs"]["generate"]["file"])
    chunk = session(model_dir / manifest["graphs"]["generate_chunk"]["file"])
    rng = np.random.default_rng(seed)
    rows, want = [], []
    for case in check_cases(dims):
        case = dict(case)
        k = case.pop("prefix_len", 0)
        for _ in range(2):
            c = int(rng.integers(0, dims.null_class_id + 1))
            u = (rng.integers(0, 2**24, (1, dims.tokens)) * 2.0**-24).astype(np.float32)
            prefix = rng.integers(0, dims.vocab, (1, k)).astype(np.int64)
            want.append(gen.run(["tokens"], generate_feeds([c], u, prefix=prefix, **case))[0][0])
            rows.append({"class_id": c, "uniforms": u[0], "prefix": prefix[0], **case})
    equal = total = 0
    for size in (1, 3, dims.tokens):
        joins = [int(j) for j in rng.integers(0, 4, len(rows))]
        got = run_schedule(chunk, dims, rows, joins, size, max_batch=5)
        equal += sum(int(np.sum(g == w)) for g, w in zip(got, want))
        total += sum(w.size for w in want)
    metric = f"chunked tokens equal to generate.onnx ({total})"
    return [Check("generate_chunk", metric, equal, f"== {total}", equal == total)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gigatok_model.chunk_graph", description=__doc__)
    p.add_argument("model_dir", help="model directory with manifest.json and ar_step.onnx")
    p.add_argument("--verify", action="store_true", help="then check its tokens against generate.onnx")
    args = p.parse_args(argv)
    add_to_model_dir(Path(args.model_dir))
    print(f"wrote {Path(args.model_dir) / CHUNK_FILE} and updated manifest.json")
    if args.verify:
        checks = check_chunks(args.model_dir)
        for c in checks:
            print(c)
        return 0 if all(c.ok for c in checks) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
