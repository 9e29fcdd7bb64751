"""Builds generate.onnx: the whole guided AR sampling loop in ONE ONNX graph (docs/model-contract.md).

An ONNX `Loop` (opset 18) over the T steps. Its body is the exported ar_step graph (nodes copied,
weights left in the OUTER graph: inside the body they would be held twice) followed by the
contract's sampler, written op for op like gpu-backend/src/sampling.ts so that both paths draw the
same tokens from the same Philox uniforms. Usage (re-builds generate.onnx of an existing model
directory and updates its manifest): python -m gigatok_model.generate_graph MODEL_DIR
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

GENERATE_FILE = "generate.onnx"
# GigaTok's step schedule (autoregressive/models/generate.py): cfg 1.0 while (i + 1) / T < 0.18.
STEP_SCHEDULE_CUTOFF = 0.18
# sampling.ts divides by max(temperature, 1e-5).
MIN_TEMPERATURE = np.float32(1e-5)
KV_MODES = ("concat", "scatter")


@dataclass(frozen=True)
class Dims:
    """What the builder needs to know about the model (manifest `tokenizer` / `ar` fields)."""

    tokens: int
    vocab: int
    null_class_id: int
    n_layer: int
    n_head: int
    head_dim: int


class _Nodes:
    """Accumulates nodes of one graph with generated, scope-unique value names."""

    def __init__(self, prefix: str, consts: _Consts):
        self.prefix = prefix
        self.consts = consts
        self.nodes: list[onnx.NodeProto] = []
        self._count = 0

    def op(self, op_type: str, *inputs: str, outputs: int = 1, **attrs) -> str | list[str]:
        self._count += 1
        base = f"{self.prefix}{op_type}_{self._count}"
        outs = [base] if outputs == 1 else [f"{base}_{k}" for k in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, name=base, **attrs))
        return outs[0] if outputs == 1 else outs

    def c(self, name: str, value) -> str:
        return self.consts.get(name, value)


class _Consts:
    """Constants as initializers of the outer graph (the body and its branches read them from
    there; ONNX subgraphs see every name of their enclosing scopes)."""

    def __init__(self):
        self.tensors: dict[str, TensorProto] = {}

    def get(self, name: str, value) -> str:
        full = f"gen/const/{name}"
        if full not in self.tensors:
            self.tensors[full] = numpy_helper.from_array(np.asarray(value), full)
        return full


def _low_cfg_table(tokens: int) -> np.ndarray:
    """Steps where the `step` schedule uses cfg 1.0: i > 0 and (i + 1) / T < 0.18, evaluated in
    float64 exactly as sampling.ts's cfgAt does."""
    return np.array([i > 0 and (i + 1) / tokens < STEP_SCHEDULE_CUTOFF for i in range(tokens)])


# ---------------------------------------------------------------------------------------------
# The sampler: sampling.ts drawToken, op for op, on rows [B, V].


@dataclass(frozen=True)
class _Params:
    """Names of the per-request parameters, prepared once in the outer graph. `S` is 1 or B."""

    cfg: str  # f32 [S, 1]
    step_schedule: str  # bool [S, 1]
    temperature: str  # f32 [S, 1], already max(t, 1e-5)
    topk_on: str  # bool [S, 1]
    any_topk: str  # bool scalar
    k_max: str  # i64 [1]: max over rows of clip(top_k, 1, V)
    kth_index: str  # i64 [B, 1]: clip(top_k, 1, V) - 1
    top_p: str  # f32 [S, 1]
    topp_on: str  # bool [S, 1]
    any_topp: str  # bool scalar


def _prepare_params(g: _Nodes, batch_shape: str, vocab: int) -> _Params:
    col = lambda x: g.op("Unsqueeze", x, g.c("axis1", np.array([1], np.int64)))  # noqa: E731
    any_of = lambda x: g.op(  # noqa: E731
        "Cast", g.op("ReduceMax", g.op("Cast", x, to=TensorProto.INT32), keepdims=0), to=TensorProto.BOOL
    )
    temperature = g.op("Max", "temperature", g.c("min_temperature", np.array([MIN_TEMPERATURE])))
    topk_on = g.op("Greater", "top_k", g.c("zero_i64", np.array([0], np.int64)))
    one = g.c("one_i64", np.array([1], np.int64))
    k = g.op("Max", g.op("Min", "top_k", g.c("vocab", np.array([vocab], np.int64))), one)
    kth = col(g.op("Sub", k, g.c("one_i64", np.array([1], np.int64))))
    kth_shape = g.op("Concat", batch_shape, g.c("one_i64", np.array([1], np.int64)), axis=0)
    topp_on = g.op("Less", "top_p", g.c("one_f32", np.array([1.0], np.float32)))
    return _Params(
        cfg=col("cfg_scale"),
        step_schedule=col(g.op("Equal", "cfg_schedule", g.c("one_i64", np.array([1], np.int64)))),
        temperature=col(temperature),
        topk_on=col(topk_on),
        any_topk=any_of(topk_on),
        k_max=g.op("ReduceMax", k, keepdims=1),
        kth_index=g.op("Expand", kth, kth_shape),
        top_p=col("top_p"),
        topp_on=col(topp_on),
        any_topp=any_of(topp_on),
    )


def _exp_f32(g: _Nodes, x: str) -> str:
    """float32(exp(double(x))): what sampling.ts computes as Math.fround(Math.exp(x)). A float32
    Exp kernel (a polynomial with ~1 ulp error) would disagree with it in the last bit often."""
    return g.op("Cast", g.op("Exp", g.op("Cast", x, to=TensorProto.DOUBLE)), to=TensorProto.FLOAT)


def _last_column(g: _Nodes, x: str, vocab: int) -> str:
    return g.op(
        "Slice",
        x,
        g.c("last_start", np.array([vocab - 1], np.int64)),
        g.c("last_end", np.array([vocab], np.int64)),
        g.c("axis1", np.array([1], np.int64)),
    )


def _softmax(g: _Nodes, x: str, vocab: int) -> str:
    """sampling.ts softmax over rows [B, V]: m = max, e = exp(x - m), s = sum of e in id order,
    p = e / s. CumSum is a sequential float32 running sum (ORT's CPU and CUDA kernels alike), so
    its last column is sampling.ts's `sum += e` loop; ReduceSum (pairwise, vectorised) and the
    Softmax op (polynomial exp, multiply by 1/s) are not bit-equal to it."""
    axis1 = g.c("axis1", np.array([1], np.int64))
    e = _exp_f32(g, g.op("Sub", x, g.op("ReduceMax", x, axis1, keepdims=1)))
    total = _last_column(g, g.op("CumSum", e, g.c("axis1_scalar", np.array(1, np.int64))), vocab)
    return g.op("Div", e, total)


def _branch(name: str, g: _Nodes, out: str) -> onnx.GraphProto:
    return helper.make_graph(g.nodes, name, [], [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)])


def _sampler(
    g: _Nodes, cond: str, uncond: str, step: str, u: str, p: _Params, dims: Dims
) -> tuple[str, str]:
    """Nodes that draw one token per row: cond/uncond logits f32 [B, V], step i64 scalar,
    u f32 [B, 1] -> (token i64 [B], probabilities f32 [B, V]). Steps as numbered in
    sampling.ts drawToken."""
    V, neg_inf = dims.vocab, np.array([-np.inf], np.float32)
    axis1 = g.c("axis1", np.array([1], np.int64))
    # 1. guidance mix with the scheduled scale: l = uncond + (cond - uncond) * cfg(step)
    low = g.op("Gather", g.c("low_cfg_steps", _low_cfg_table(dims.tokens)), step)
    cfg = g.op("Where", g.op("And", p.step_schedule, low), g.c("one_f32", np.array([1.0], np.float32)), p.cfg)
    mixed = g.op("Add", uncond, g.op("Mul", g.op("Sub", cond, uncond), cfg))
    # 2. temperature
    l0 = g.op("Div", mixed, p.temperature)
    # 3. top-k: logits below the k-th largest become -inf (ties with it stay)
    tk = _Nodes(f"{g.prefix}topk/", g.consts)
    values = tk.op("TopK", l0, p.k_max, outputs=2, axis=1, largest=1, sorted=1)[0]
    kth = tk.op("GatherElements", values, p.kth_index, axis=1)
    masked_k = tk.op("Where", tk.op("And", tk.op("Less", l0, kth), p.topk_on), tk.c("neg_inf", neg_inf), l0)
    keep_k = _Nodes(f"{g.prefix}topk_off/", g.consts)
    l1 = g.op(
        "If",
        p.any_topk,
        then_branch=_branch("top_k", tk, masked_k),
        else_branch=_branch("top_k_off", keep_k, keep_k.op("Identity", l0)),
    )
    # 4. top-p: q = softmax(l) in id order (as step 5); visit tokens by descending logit (TopK breaks
    # ties by the lower index, as sampling.ts does) summing q; drop a token when the tokens before
    # it already sum to more than p (never the first)
    tp = _Nodes(f"{g.prefix}topp/", g.consts)
    sv, si = tp.op("TopK", l1, tp.c("vocab", np.array([V], np.int64)), outputs=2, axis=1, largest=1, sorted=1)
    q_sorted = tp.op("GatherElements", _softmax(tp, l1, V), si, axis=1)
    before = tp.op("CumSum", q_sorted, tp.c("axis1_scalar", np.array(1, np.int64)), exclusive=1)
    drop = tp.op("And", tp.op("Greater", before, p.top_p), p.topp_on)
    filtered = tp.op("Where", drop, tp.c("neg_inf", neg_inf), sv)
    unsorted = tp.op("ScatterElements", l1, si, filtered, axis=1)
    keep_p = _Nodes(f"{g.prefix}topp_off/", g.consts)
    l2 = g.op(
        "If",
        p.any_topp,
        then_branch=_branch("top_p", tp, unsorted),
        else_branch=_branch("top_p_off", keep_p, keep_p.op("Identity", l1)),
    )
    # 5. softmax in id order
    probs = _softmax(g, l2, V)
    # 6. inverse CDF: token = min(count(cdf <= u), V - 1)
    cdf = g.op("CumSum", probs, g.c("axis1_scalar", np.array(1, np.int64)))
    at_or_below = g.op("Cast", g.op("LessOrEqual", cdf, u), to=TensorProto.INT64)
    count = g.op("ReduceSum", at_or_below, axis1, keepdims=0)
    return g.op("Min", count, g.c("last_token", np.array([V - 1], np.int64))), probs


# ---------------------------------------------------------------------------------------------
# The loop around the step graph.


def _step_body_nodes(step: onnx.GraphProto, rename: dict[str, str], prefix: str) -> list[onnx.NodeProto]:
    """The step graph's nodes with every value renamed into the body's scope (`rename` maps the
    step graph's inputs; other names get `prefix`)."""
    nodes = []
    for n in step.node:
        if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in n.attribute):
            raise ValueError(f"ar_step node {n.name} ({n.op_type}) has a subgraph; not supported")
        copy = onnx.NodeProto()
        copy.CopyFrom(n)
        del copy.input[:]
        del copy.output[:]
        copy.input.extend([rename.get(x, prefix + x) if x else "" for x in n.input])
        copy.output.extend([prefix + x for x in n.output])
        copy.name = prefix + (n.name or n.output[0])
        nodes.append(copy)
    return nodes


def _input(name: str, elem: int, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


def _sampling_param_inputs() -> list[onnx.ValueInfoProto]:
    """The sampling parameters every sampler-bearing graph takes, in order; each is 1 or B on its own
    (a shared dim_param would tell ORT they are equal)."""
    param = [None]
    return [
        _input("cfg_scale", TensorProto.FLOAT, param),
        _input("cfg_schedule", TensorProto.INT64, param),
        _input("temperature", TensorProto.FLOAT, param),
        _input("top_k", TensorProto.INT64, param),
        _input("top_p", TensorProto.FLOAT, param),
    ]


def _sampling_inputs(T: int) -> list[onnx.ValueInfoProto]:
    """The inputs generate.onnx and generate_chunk.onnx share, in order: class ids, uniforms and the
    sampling parameters."""
    return [
        _input("class_ids", TensorProto.INT64, ["B"]),
        _input("uniforms", TensorProto.FLOAT, ["B", T]),
        *_sampling_param_inputs(),
    ]


def build_generate_model(
    step_model: onnx.ModelProto,
    dims: Dims,
    kv: str = "concat",
    shared_weights: tuple[str, dict[str, tuple[int, int]]] | None = None,
) -> onnx.ModelProto:
    """generate.onnx around a loaded ar_step model (loaded without external data).

    Weights become outer-graph initializers. `shared_weights` = (file name, {initializer name:
    (offset, length)}) makes each one ONNX external data pointing at its bytes inside that file,
    ar_step.onnx itself (see `raw_data_spans`), so no weight is stored twice. Initializers that
    already point at a side file (graphs over 2 GiB) keep pointing there.

    `kv`: `concat` carries the KV cache as loop state that grows by one position per step (the
    step graph's own present_* outputs); `scatter` carries a fixed [L, N, H, T, D] cache, slices
    the first i positions as the step's past and writes the new position back with
    ScatterElements (on CPU slower for small caches, faster for GPT-B-sized ones; figures in
    docs/model-contract.md, "generate.onnx")."""
    if kv not in KV_MODES:
        raise ValueError(f"'kv' must be one of {', '.join(KV_MODES)}, got {kv!r}")
    step = step_model.graph
    want_in = ["token_ids", "class_ids", "position", "past_keys", "past_values"]
    want_out = ["logits", "present_keys", "present_values"]
    if [i.name for i in step.input] != want_in or [o.name for o in step.output] != want_out:
        raise ValueError("not an ar_step graph (docs/model-contract.md): inputs/outputs differ")
    T, V, L, H, D = dims.tokens, dims.vocab, dims.n_layer, dims.n_head, dims.head_dim
    consts = _Consts()
    outer = _Nodes("gen/", consts)
    w = "ar_step/"  # the step graph's names inside generate.onnx

    # Outer graph: shapes, the doubled class batch [cond; null], initial loop state, parameters.
    batch = outer.op("Shape", "class_ids")
    nulls = outer.op("Expand", outer.c("null_class", np.array([dims.null_class_id], np.int64)), batch)
    step_classes = outer.op("Concat", "class_ids", nulls, axis=0)
    rows = outer.op("Mul", batch, outer.c("two_i64", np.array([2], np.int64)))
    seq = 0 if kv == "concat" else T
    kv_shape = outer.op(
        "Concat",
        outer.c("kv_l", np.array([L], np.int64)),
        rows,
        outer.c("kv_hpd", np.array([H, seq, D], np.int64)),
        axis=0,
    )
    zero_f = helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0])
    zero_i = helper.make_tensor("zero", TensorProto.INT64, [1], [0])
    keys0 = outer.op("ConstantOfShape", kv_shape, value=zero_f)
    values0 = outer.op("ConstantOfShape", kv_shape, value=zero_f)
    prev0 = outer.op("ConstantOfShape", batch, value=zero_i)
    # Prefix tokens: padded with T zero columns so that column i always exists; forced while i < K.
    prefix_len = outer.op("Shape", "prefix_tokens", start=1, end=2)
    pad_shape = outer.op("Concat", batch, outer.c("tokens", np.array([T], np.int64)), axis=0)
    prefix = outer.op("Concat", "prefix_tokens", outer.op("ConstantOfShape", pad_shape, value=zero_i), axis=1)
    params = _prepare_params(outer, batch, V)

    # Loop body.
    body = _Nodes("gen/body/", consts)
    b_i, b_cond, b_prev, b_keys, b_values = (
        f"gen/body/in/{n}" for n in ("i", "cond", "prev", "keys", "values")
    )
    position = body.op("Unsqueeze", b_i, body.c("axis0", np.array([0], np.int64)))
    token_ids = body.op(
        "Unsqueeze", body.op("Concat", b_prev, b_prev, axis=0), body.c("axis1", np.array([1], np.int64))
    )
    if kv == "concat":
        past_k, past_v = b_keys, b_values
    else:
        axis3 = body.c("axis3", np.array([3], np.int64))
        zero = body.c("zero_i64", np.array([0], np.int64))
        past_k = body.op("Slice", b_keys, zero, position, axis3)
        past_v = body.op("Slice", b_values, zero, position, axis3)
    rename = {
        "token_ids": token_ids,
        "class_ids": step_classes,
        "position": position,
        "past_keys": past_k,
        "past_values": past_v,
    }
    for t in step.initializer:
        rename[t.name] = w + t.name
    body.nodes += _step_body_nodes(step, rename, w)
    logits, present_k, present_v = (w + n for n in want_out)
    if kv == "scatter":
        # Write position i of present_* into slot i of the fixed cache.
        axis3 = body.c("axis3", np.array([3], np.int64))
        next_pos = body.op("Add", position, body.c("one_i64", np.array([1], np.int64)))
        new_k = body.op("Slice", present_k, position, next_pos, axis3)
        new_v = body.op("Slice", present_v, position, next_pos, axis3)
        slot = body.op("Expand", b_i, body.op("Shape", new_k))
        present_k = body.op("ScatterElements", b_keys, slot, new_k, axis=3)
        present_v = body.op("ScatterElements", b_values, slot, new_v, axis=3)
    cond_l, uncond_l = body.op("Split", logits, axis=0, num_outputs=2, outputs=2)
    u = body.op(
        "Unsqueeze", body.op("Gather", "uniforms", b_i, axis=1), body.c("axis1", np.array([1], np.int64))
    )
    sampled, _ = _sampler(body, cond_l, uncond_l, b_i, u, params, dims)
    forced = body.op("Less", b_i, prefix_len)
    token = body.op("Where", forced, body.op("Gather", prefix, b_i, axis=1), sampled)
    cond_out = body.op("Identity", b_cond)
    scan_token = body.op("Identity", token)
    kv_dims = [L, "N", H, None, D]
    body_graph = helper.make_graph(
        body.nodes,
        "generate_step",
        [
            _input(b_i, TensorProto.INT64, []),
            _input(b_cond, TensorProto.BOOL, []),
            _input(b_prev, TensorProto.INT64, ["B"]),
            _input(b_keys, TensorProto.FLOAT, kv_dims),
            _input(b_values, TensorProto.FLOAT, kv_dims),
        ],
        [
            _input(cond_out, TensorProto.BOOL, []),
            _input(token, TensorProto.INT64, ["B"]),
            _input(present_k, TensorProto.FLOAT, kv_dims),
            _input(present_v, TensorProto.FLOAT, kv_dims),
            _input(scan_token, TensorProto.INT64, ["B"]),
        ],
    )
    _, _, _, tokens_tb = outer.op(
        "Loop",
        outer.c("trip_count", np.array(T, np.int64)),
        outer.c("true", np.array(True)),
        prev0,
        keys0,
        values0,
        outputs=4,
        body=body_graph,
    )
    outer.nodes.append(helper.make_node("Transpose", [tokens_tb], ["tokens"], name="gen/tokens", perm=[1, 0]))

    weights = []
    for t in step.initializer:
        moved = TensorProto()
        moved.CopyFrom(t)
        moved.name = w + t.name
        span = None if shared_weights is None else shared_weights[1].get(t.name)
        if span is not None and t.data_location != TensorProto.EXTERNAL:
            moved.ClearField("raw_data")
            moved.data_location = TensorProto.EXTERNAL
            for key, value in (("location", shared_weights[0]), ("offset", span[0]), ("length", span[1])):
                entry = moved.external_data.add()
                entry.key, entry.value = key, str(value)
        weights.append(moved)
    graph = helper.make_graph(
        outer.nodes,
        "generate",
        [
            *_sampling_inputs(T),
            _input("prefix_tokens", TensorProto.INT64, ["B", "K"]),
        ],
        [_input("tokens", TensorProto.INT64, ["B", T])],
        initializer=weights + list(consts.tensors.values()),
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 18)],
        ir_version=step_model.ir_version,
        producer_name="gigatok_model.generate_graph",
    )
    model.doc_string = f"GigaTok AR sampling loop: {T} steps, vocabulary {V}, KV cache by {kv}"
    return model


def build_sampler_model(dims: Dims) -> onnx.ModelProto:
    """The sampler alone (one draw per row), for tests: inputs cond/uncond f32 [B, V], step i64
    scalar, u f32 [B] and the generate parameters -> token i64 [B] and the float32
    probabilities [B, V] it drew from. Same nodes as in the loop."""
    consts = _Consts()
    g = _Nodes("gen/", consts)
    params = _prepare_params(g, g.op("Shape", "u"), dims.vocab)
    u = g.op("Unsqueeze", "u", g.c("axis1", np.array([1], np.int64)))
    token, probs = _sampler(g, "cond", "uncond", "step", u, params, dims)
    g.nodes.append(helper.make_node("Identity", [token], ["token"]))
    g.nodes.append(helper.make_node("Identity", [probs], ["probs"]))
    graph = helper.make_graph(
        g.nodes,
        "sampler",
        [
            _input("cond", TensorProto.FLOAT, ["B", dims.vocab]),
            _input("uncond", TensorProto.FLOAT, ["B", dims.vocab]),
            _input("step", TensorProto.INT64, []),
            _input("u", TensorProto.FLOAT, ["B"]),
            *_sampling_param_inputs(),
        ],
        [_input("token", TensorProto.INT64, ["B"]), _input("probs", TensorProto.FLOAT, ["B", dims.vocab])],
        initializer=list(consts.tensors.values()),
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=8)


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(buf: bytes, start: int, end: int):
    """(field number, wire type, payload start, payload end) of a protobuf message's fields."""
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            _, nxt = _varint(buf, pos)
        elif wire == 1:
            nxt = pos + 8
        elif wire == 2:
            size, pos = _varint(buf, pos)
            nxt = pos + size
        elif wire == 5:
            nxt = pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield field, wire, pos, nxt
        pos = nxt


# Field numbers of onnx.proto3: ModelProto.graph, GraphProto.initializer, TensorProto.name/raw_data.
_MODEL_GRAPH, _GRAPH_INITIALIZER, _TENSOR_NAME, _TENSOR_RAW_DATA = 7, 5, 8, 9


def raw_data_spans(model_bytes: bytes) -> dict[str, tuple[int, int]]:
    """{initializer name: (byte offset, length)} of each initializer's raw_data inside a
    serialized ModelProto: where ONNX external data can point to read the weights in place."""
    spans: dict[str, tuple[int, int]] = {}
    buf = model_bytes
    for f, wire, s, e in _fields(buf, 0, len(buf)):
        if f != _MODEL_GRAPH or wire != 2:
            continue
        for g, wire2, s2, e2 in _fields(buf, s, e):
            if g != _GRAPH_INITIALIZER or wire2 != 2:
                continue
            name, raw = None, None
            for t, wire3, s3, e3 in _fields(buf, s2, e2):
                if t == _TENSOR_NAME and wire3 == 2:
                    name = buf[s3:e3].decode("utf-8")
                elif t == _TENSOR_RAW_DATA and wire3 == 2:
                    raw = (s3, e3 - s3)
            if name is not None and raw is not None:
                spans[name] = raw
    return spans


def generate_model_for(step_path: Path, dims: Dims, kv: str = "concat", share: bool = True) -> onnx.ModelProto:
    """generate.onnx for the ar_step graph at `step_path`, its weights read in place from that file
    (`share`; for a generate.onnx in the same directory) or copied into the model."""
    blob = step_path.read_bytes()
    step_model = onnx.load_model_from_string(blob)
    shared = None
    if share:
        spans = raw_data_spans(blob)
        for t in step_model.graph.initializer:  # the spans must hold exactly each tensor's bytes
            span = spans.get(t.name)
            if t.data_location != TensorProto.EXTERNAL and (
                span is None or blob[span[0] : span[0] + span[1]] != t.raw_data
            ):
                raise ValueError(f"{step_path}: cannot locate the bytes of initializer {t.name}")
        shared = (step_path.name, spans)
    return build_generate_model(step_model, dims, kv, shared)


def write_generate_graph(step_path: Path, out_path: Path, dims: Dims, kv: str = "concat") -> Path:
    """Writes generate.onnx. Next to ar_step.onnx it stores no weights: its initializers are ONNX
    external data pointing into ar_step.onnx (or at ar_step's own side file for graphs over 2 GiB),
    so the directory holds each weight once. Elsewhere (benchmarks) the weights are copied in."""
    same_dir = out_path.resolve().parent == step_path.resolve().parent
    model = generate_model_for(step_path, dims, kv, share=same_dir)
    out_path.unlink(missing_ok=True)
    onnx.save_model(model, str(out_path))
    onnx.checker.check_model(str(out_path))
    return out_path


def dims_from_manifest(manifest: dict) -> Dims:
    return Dims(
        tokens=manifest["tokenizer"]["tokens_per_image"],
        vocab=manifest["tokenizer"]["codebook_size"],
        null_class_id=manifest["ar"]["null_class_id"],
        n_layer=manifest["ar"]["n_layer"],
        n_head=manifest["ar"]["n_head"],
        head_dim=manifest["ar"]["head_dim"],
    )


# ---------------------------------------------------------------------------------------------
# Reference: the host-driven loop over ar_step.onnx with sampling.ts's float32 math in numpy.


def cfg_at(scale: float, schedule: str, step: int, tokens: int) -> float:
    if schedule == "constant" or step == 0:
        return scale
    return 1.0 if (step + 1) / tokens < STEP_SCHEDULE_CUTOFF else scale


def _exp32(x: np.ndarray) -> np.ndarray:
    return np.exp(x.astype(np.float64)).astype(np.float32)


def _softmax32(l: np.ndarray) -> np.ndarray:
    e = _exp32(l - l.max())
    return e / np.cumsum(e)[-1]


def probabilities_reference(
    cond: np.ndarray,
    uncond: np.ndarray,
    cfg: float,
    temperature: float,
    top_k: int,
    top_p: float,
) -> np.ndarray:
    """sampling.ts `probabilities` in numpy float32 (np.cumsum is a sequential float32 running
    sum, like the `sum += e` loops there)."""
    f32 = np.float32
    V = cond.shape[0]
    l = (uncond + (cond - uncond) * f32(cfg)) / max(f32(temperature), MIN_TEMPERATURE)
    if 0 < top_k < V:
        kth = np.sort(l)[V - top_k]
        l = np.where(l < kth, f32(-np.inf), l)
    if top_p < 1:
        order = np.argsort(-l, kind="stable")  # descending, lower id first among equals
        before = np.concatenate([[f32(0)], np.cumsum(_softmax32(l)[order])[:-1]])
        drop = before > f32(top_p)
        drop[0] = False
        l = l.copy()
        l[order[drop]] = f32(-np.inf)
    return _softmax32(l)


def draw_reference(
    cond: np.ndarray,
    uncond: np.ndarray,
    cfg: float,
    temperature: float,
    top_k: int,
    top_p: float,
    u: float,
) -> int:
    """sampling.ts drawToken: token = min(count(cdf <= u), V - 1), cdf a float32 running sum."""
    cdf = np.cumsum(probabilities_reference(cond, uncond, cfg, temperature, top_k, top_p))
    return min(int(np.count_nonzero(cdf <= np.float32(u))), cdf.shape[0] - 1)


def _per_row(value, n: int) -> list:
    return list(value) if isinstance(value, (list, tuple, np.ndarray)) else [value] * n


def reference_generate(
    step_session,
    dims: Dims,
    class_ids,
    uniforms: np.ndarray,
    *,
    cfg_scale=4.0,
    cfg_schedule="constant",
    temperature=1.0,
    top_k=0,
    top_p=1.0,
    prefix: np.ndarray | None = None,
) -> np.ndarray:
    """Tokens [B, T] from the per-step loop: ar_step.onnx with a host-held KV cache, guidance by
    batch doubling, draw_reference per row. Parameters are scalars or one value per row."""
    B, T = len(class_ids), dims.tokens
    cfgs, schedules, temps, ks, ps = (
        _per_row(v, B) for v in (cfg_scale, cfg_schedule, temperature, top_k, top_p)
    )
    classes = np.array(list(class_ids) + [dims.null_class_id] * B, np.int64)
    past = np.zeros((dims.n_layer, 2 * B, dims.n_head, 0, dims.head_dim), np.float32)
    keys, values = past, past.copy()
    tokens = np.zeros((B, T), np.int64)
    prev = np.zeros(B, np.int64)
    k_prefix = 0 if prefix is None else prefix.shape[1]
    for i in range(T):
        logits, keys, values = step_session.run(
            None,
            {
                "token_ids": np.concatenate([prev, prev]).reshape(2 * B, 1),
                "class_ids": classes,
                "position": np.array([i], np.int64),
                "past_keys": keys,
                "past_values": values,
            },
        )
        for b in range(B):
            if i < k_prefix:
                tokens[b, i] = prefix[b, i]
                continue
            cfg = cfg_at(float(np.float32(cfgs[b])), schedules[b], i, T)
            tokens[b, i] = draw_reference(
                logits[b], logits[B + b], cfg, temps[b], int(ks[b]), float(np.float32(ps[b])), uniforms[b, i]
            )
        prev = tokens[:, i].copy()
    return tokens


def generate_feeds(
    class_ids,
    uniforms: np.ndarray,
    *,
    cfg_scale=4.0,
    cfg_schedule="constant",
    temperature=1.0,
    top_k=0,
    top_p=1.0,
    prefix: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """generate.onnx feeds for the same arguments as reference_generate."""
    B = len(class_ids)
    vec = lambda v, dt: np.atleast_1d(np.asarray(v, dt))  # noqa: E731
    schedules = [1 if s == "step" else 0 for s in np.atleast_1d(cfg_schedule)]
    return {
        "class_ids": np.asarray(class_ids, np.int64),
        "uniforms": np.asarray(uniforms, np.float32),
        "cfg_scale": vec(cfg_scale, np.float32),
        "cfg_schedule": vec(schedules, np.int64),
        "temperature": vec(temperature, np.float32),
        "top_k": vec(top_k, np.int64),
        "top_p": vec(top_p, np.float32),
        "prefix_tokens": np.zeros((B, 0), np.int64) if prefix is None else np.asarray(prefix, np.int64),
    }


def check_cases(dims: Dims) -> list[dict]:
    """Sampling options that exercise every branch of the sampler (used by --verify and tests)."""
    half = max(1, dims.tokens // 2)
    return [
        {},
        {"cfg_scale": 1.75, "cfg_schedule": "step"},
        {"temperature": 0.7, "top_k": 5},
        {"top_p": 0.6},
        {"cfg_scale": 2.5, "temperature": 1.3, "top_k": max(2, dims.vocab // 4), "top_p": 0.9},
        {"top_k": 1},
        {"prefix_len": half},
    ]


def check_generate(model_dir: str | Path, seed: int = 0, batch: int = 3) -> list:
    """--verify check: generate.onnx tokens equal the host-driven loop over ar_step.onnx with the
    same float32 sampling math, for every case of check_cases (classes include the null class)."""
    from .verify import Check, session

    model_dir = Path(model_dir)
    manifest = json.loads((model_dir / "manifest.json").read_text(encoding="utf-8"))
    dims = dims_from_manifest(manifest)
    step = session(model_dir / manifest["graphs"]["ar_step"]["file"])
    gen = session(model_dir / manifest["graphs"]["generate"]["file"])
    rng = np.random.default_rng(seed)
    equal = total = 0
    for case in check_cases(dims):
        case = dict(case)
        classes = [int(c) for c in rng.integers(0, dims.null_class_id + 1, batch)]
        classes[-1] = dims.null_class_id
        u = (rng.integers(0, 2**24, (batch, dims.tokens)) * 2.0**-24).astype(np.float32)
        k = case.pop("prefix_len", 0)
        prefix = rng.integers(0, dims.vocab, (batch, k)).astype(np.int64)
        want = reference_generate(step, dims, classes, u, prefix=prefix, **case)
        got = gen.run(["tokens"], generate_feeds(classes, u, prefix=prefix, **case))[0]
        equal += int(np.sum(got == want))
        total += want.size
    metric = f"tokens equal to the per-step loop ({total})"
    return [Check("generate", metric, equal, f"== {total}", equal == total)]


# ---------------------------------------------------------------------------------------------
# CLI: (re)build generate.onnx in an existing model directory.


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def add_to_model_dir(model_dir: Path, kv: str = "concat") -> dict:
    """Writes MODEL_DIR/generate.onnx and records it in manifest.json (graphs.generate, files)."""
    manifest_path = model_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    step = model_dir / manifest["graphs"]["ar_step"]["file"]
    out = write_generate_graph(step, model_dir / GENERATE_FILE, dims_from_manifest(manifest), kv)
    manifest["graphs"]["generate"] = {"file": GENERATE_FILE}
    files = [f for f in manifest["files"] if f["path"] != GENERATE_FILE]
    files.append({"path": GENERATE_FILE, "sha256": _sha256(out), "bytes": out.stat().st_size})
    manifest["files"] = sorted(files, key=lambda f: f["path"])
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gigatok_model.generate_graph", description=__doc__)
    p.add_argument("model_dir", help="model directory with manifest.json and ar_step.onnx")
    p.add_argument("--kv", choices=KV_MODES, default="concat", help="KV cache as loop state (default concat)")
    p.add_argument("--out", help="write the graph here instead, leaving the directory and manifest alone")
    args = p.parse_args(argv)
    model_dir = Path(args.model_dir)
    if args.out:
        manifest = json.loads((model_dir / "manifest.json").read_text(encoding="utf-8"))
        step = model_dir / manifest["graphs"]["ar_step"]["file"]
        write_generate_graph(step, Path(args.out), dims_from_manifest(manifest), args.kv)
        print(f"wrote {args.out}")
    else:
        add_to_model_dir(model_dir, args.kv)
        print(f"wrote {model_dir / GENERATE_FILE} and updated manifest.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
