"""generate.onnx (the sampling loop in one graph) against the host-driven loop over ar_step.onnx
with sampling.ts's float32 math re-implemented in numpy: same tokens, same probabilities."""

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from gigatok_model.export import export_model_dir, random_ar, random_tokenizer
from gigatok_model.generate_graph import (
    Dims,
    build_generate_model,
    build_sampler_model,
    cfg_at,
    check_cases,
    check_generate,
    dims_from_manifest,
    draw_reference,
    generate_feeds,
    generate_model_for,
    main,
    probabilities_reference,
    reference_generate,
    write_generate_graph,
)

FIXTURE = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "tiny-random"


def session(path_or_model) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    model = path_or_model
    data = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    return ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def tiny(tiny_export):
    out = tiny_export.out
    return {
        "dims": dims_from_manifest(tiny_export.manifest),
        "step": session(out / "ar_step.onnx"),
        "gen": session(out / "generate.onnx"),
        "out": out,
    }


def uniforms(rng, batch: int, steps: int) -> np.ndarray:
    """Values of the form k * 2^-24, as shared/src/random.ts produces them."""
    return (rng.integers(0, 2**24, (batch, steps)) * 2.0**-24).astype(np.float32)


def generate(sess, classes, u, **options) -> np.ndarray:
    return sess.run(["tokens"], generate_feeds(classes, u, **options))[0]


def test_generate_graph_has_the_contract_inputs_and_output(tiny):
    gen = tiny["gen"]
    assert {i.name: i.type for i in gen.get_inputs()} == {
        "class_ids": "tensor(int64)",
        "uniforms": "tensor(float)",
        "cfg_scale": "tensor(float)",
        "cfg_schedule": "tensor(int64)",
        "temperature": "tensor(float)",
        "top_k": "tensor(int64)",
        "top_p": "tensor(float)",
        "prefix_tokens": "tensor(int64)",
    }
    (out,) = gen.get_outputs()
    assert (out.name, out.type, out.shape) == ("tokens", "tensor(int64)", ["B", 8])


def test_weights_are_outer_graph_initializers_read_in_place_from_ar_step(tiny):
    out = tiny["out"]
    model = onnx.load(str(out / "generate.onnx"), load_external_data=False)
    step = onnx.load(str(out / "ar_step.onnx"))
    (loop,) = [n for n in model.graph.node if n.op_type == "Loop"]
    body = onnx.helper.get_attribute_value(loop.attribute[0])
    assert len(body.initializer) == 0
    # What the body holds itself: the step graph's small Constant nodes (shapes, scalars).
    tensors = [a.t for n in body.node for a in n.attribute if a.type == onnx.AttributeProto.TENSOR]
    step_bytes = sum(len(t.raw_data) for t in step.graph.initializer)
    assert sum(t.ByteSize() for t in tensors) < 0.05 * step_bytes
    # Every step weight is external data at its own bytes inside ar_step.onnx: stored once.
    outer = {t.name: t for t in model.graph.initializer}
    for t in step.graph.initializer:
        moved = outer[f"ar_step/{t.name}"]
        assert moved.data_location == onnx.TensorProto.EXTERNAL
        assert {e.key: e.value for e in moved.external_data}["location"] == "ar_step.onnx"
    structure = (out / "ar_step.onnx").stat().st_size - step_bytes  # nodes, names, shapes
    assert (out / "generate.onnx").stat().st_size < structure + 0.2 * step_bytes
    loaded = {t.name: t.raw_data for t in onnx.load(str(out / "generate.onnx")).graph.initializer}
    assert all(loaded[f"ar_step/{t.name}"] == t.raw_data for t in step.graph.initializer)


@pytest.mark.parametrize("case", check_cases(Dims(8, 64, 4, 2, 2, 16)), ids=lambda c: json.dumps(c))
@pytest.mark.parametrize("batch", [1, 4])
def test_tokens_equal_the_per_step_loop(tiny, case, batch):
    dims = tiny["dims"]
    case = dict(case)
    rng = np.random.default_rng(batch * 100 + len(json.dumps(case)))
    prefix = rng.integers(0, dims.vocab, (batch, case.pop("prefix_len", 0)))
    for _ in range(3):  # three seeds
        classes = rng.integers(0, dims.null_class_id + 1, batch).tolist()
        u = uniforms(rng, batch, dims.tokens)
        want = reference_generate(tiny["step"], dims, classes, u, prefix=prefix, **case)
        got = generate(tiny["gen"], classes, u, prefix=prefix, **case)
        np.testing.assert_array_equal(got, want)


def test_different_uniforms_give_different_tokens_and_null_class_rows_are_unconditional(tiny):
    dims, gen = tiny["dims"], tiny["gen"]
    rng = np.random.default_rng(5)
    u1, u2 = uniforms(rng, 2, dims.tokens), uniforms(rng, 2, dims.tokens)
    a, b = generate(gen, [1, dims.null_class_id], u1), generate(gen, [1, dims.null_class_id], u2)
    assert not np.array_equal(a, b)
    # With the null class on both halves the cfg scale cannot matter.
    null = [dims.null_class_id]
    np.testing.assert_array_equal(generate(gen, null, u1[1:], cfg_scale=9.0), generate(gen, null, u1[1:], cfg_scale=1.0))


def test_per_row_parameters_equal_one_run_per_row(tiny):
    dims, gen = tiny["dims"], tiny["gen"]
    rng = np.random.default_rng(11)
    classes = [0, 1, 2, 4]
    u = uniforms(rng, 4, dims.tokens)
    rows = {
        "cfg_scale": [4.0, 1.75, 0.0, 2.0],
        "cfg_schedule": ["constant", "step", "step", "constant"],
        "temperature": [1.0, 0.5, 2.0, 1.0],
        "top_k": [0, 3, 64, 1],
        "top_p": [1.0, 0.7, 0.95, 0.5],
    }
    together = generate(gen, classes, u, **rows)
    for b in range(4):
        alone = generate(gen, classes[b : b + 1], u[b : b + 1], **{k: v[b] for k, v in rows.items()})
        np.testing.assert_array_equal(together[b], alone[0])
    np.testing.assert_array_equal(together, reference_generate(tiny["step"], dims, classes, u, **rows))
    # Each parameter is [1] or [B] on its own.
    mixed = {**rows, "temperature": 0.8, "cfg_schedule": "step"}
    np.testing.assert_array_equal(
        generate(gen, classes, u, **mixed), reference_generate(tiny["step"], dims, classes, u, **mixed)
    )


def test_prefix_tokens_are_forced_and_the_rest_continues_from_them(tiny):
    dims, gen = tiny["dims"], tiny["gen"]
    rng = np.random.default_rng(3)
    u = uniforms(rng, 2, dims.tokens)
    full = generate(gen, [0, 3], u)
    # Forcing the first 3 tokens a free run drew changes nothing.
    np.testing.assert_array_equal(generate(gen, [0, 3], u, prefix=full[:, :3]), full)
    other = (full[:, :3] + 1) % dims.vocab
    varied = generate(gen, [0, 3], u, prefix=other)
    np.testing.assert_array_equal(varied[:, :3], other)
    # The sampled rest is conditioned on the forced tokens (the random tiny model barely reacts to
    # them, so compare with the per-step loop rather than expect a change).
    np.testing.assert_array_equal(varied, reference_generate(tiny["step"], dims, [0, 3], u, prefix=other))
    every = rng.integers(0, dims.vocab, (2, dims.tokens))
    np.testing.assert_array_equal(generate(gen, [0, 3], u, prefix=every), every)


def test_image_tokens_do_not_depend_on_the_batch_they_run_in(tiny):
    dims, gen = tiny["dims"], tiny["gen"]
    rng = np.random.default_rng(8)
    classes = [0, 1, 2, 3, 4]
    u = uniforms(rng, 5, dims.tokens)
    options = {"top_p": 0.9, "temperature": 1.2}
    batched = generate(gen, classes, u, **options)
    for b in range(5):
        np.testing.assert_array_equal(generate(gen, classes[b : b + 1], u[b : b + 1], **options)[0], batched[b])


def test_scatter_kv_variant_gives_the_same_tokens(tiny, tmp_path):
    dims = tiny["dims"]
    path = write_generate_graph(tiny["out"] / "ar_step.onnx", tmp_path / "g.onnx", dims, kv="scatter")
    scatter = session(path)
    rng = np.random.default_rng(4)
    for case in ({}, {"top_k": 4, "top_p": 0.8}):
        u = uniforms(rng, 3, dims.tokens)
        want = generate(tiny["gen"], [0, 2, 4], u, **case)
        np.testing.assert_array_equal(generate(scatter, [0, 2, 4], u, **case), want)
    with pytest.raises(ValueError, match="'kv' must be one of"):
        build_generate_model(onnx.load(str(tiny["out"] / "ar_step.onnx")), dims, kv="ring")


# --- the sampler alone: every probability bit-equal to the numpy mirror of sampling.ts -----------


def random_rows(rng, batch: int, vocab: int, ties: bool):
    scale = rng.choice([0.5, 3.0, 12.0])
    cond = rng.standard_normal((batch, vocab)) * scale
    uncond = rng.standard_normal((batch, vocab)) * scale
    if ties:  # coarse values: many equal logits, so the order of equals matters
        cond, uncond = np.round(cond * 2) / 2, np.round(uncond * 2) / 2
    return cond.astype(np.float32), uncond.astype(np.float32)


def test_sampler_probabilities_and_tokens_are_bitwise_equal_to_the_reference():
    V, T, B = 256, 16, 48
    sampler = session(build_sampler_model(Dims(T, V, 10, 1, 1, 1)))
    rng = np.random.default_rng(0)
    rows = 0
    for it in range(24):
        cond, uncond = random_rows(rng, B, V, ties=it % 2 == 0)
        step = int(rng.integers(0, T))
        feeds = {
            "cond": cond,
            "uncond": uncond,
            "step": np.array(step, np.int64),
            "u": uniforms(rng, 1, B)[0],
            "cfg_scale": rng.choice([0.0, 1.0, 1.75, 4.0], B).astype(np.float32),
            "cfg_schedule": rng.integers(0, 2, B).astype(np.int64),
            "temperature": rng.choice([1e-6, 0.3, 1.0, 2.5], B).astype(np.float32),
            "top_k": rng.choice([0, 1, 2, 7, 100, V, V + 3], B).astype(np.int64),
            "top_p": rng.choice([1.0, 0.01, 0.5, 0.9, 0.999], B).astype(np.float32),
        }
        tokens, probs = sampler.run(["token", "probs"], feeds)
        for b in range(B):
            schedule = "step" if feeds["cfg_schedule"][b] == 1 else "constant"
            args = (
                cond[b],
                uncond[b],
                cfg_at(float(feeds["cfg_scale"][b]), schedule, step, T),
                float(feeds["temperature"][b]),
                int(feeds["top_k"][b]),
                float(feeds["top_p"][b]),
            )
            want = probabilities_reference(*args)
            np.testing.assert_array_equal(probs[b].view(np.uint32), want.view(np.uint32))
            assert tokens[b] == draw_reference(*args, float(feeds["u"][b]))
            rows += 1
    assert rows == 24 * B


def test_top_p_decisions_at_exact_boundaries_match_the_reference():
    """top_p set to the reference's own cumulative probability after r tokens: the keep/drop decision
    for the next tokens then hangs on the last bit of that float32 running sum, so any other
    summation order (sorted instead of id order for the softmax, or a pairwise sum) shows here."""
    V, T, B = 512, 16, 32
    sampler = session(build_sampler_model(Dims(T, V, 10, 1, 1, 1)))
    rng = np.random.default_rng(7)
    for _ in range(12):
        cond, uncond = random_rows(rng, B, V, ties=False)
        top_p = np.zeros(B, np.float32)
        for b in range(B):
            l = uncond[b] + (cond[b] - uncond[b]) * np.float32(2.0)
            q = probabilities_reference(l, np.zeros(V, np.float32), 1.0, 1.0, 0, 1.0)
            running = np.cumsum(q[np.argsort(-l, kind="stable")])
            top_p[b] = min(running[int(rng.integers(0, 40))], np.float32(0.999))
        feeds = {
            "cond": cond,
            "uncond": uncond,
            "step": np.array(0, np.int64),
            "u": uniforms(rng, 1, B)[0],
            "cfg_scale": np.array([2.0], np.float32),
            "cfg_schedule": np.array([0], np.int64),
            "temperature": np.array([1.0], np.float32),
            "top_k": np.array([0], np.int64),
            "top_p": top_p,
        }
        probs = sampler.run(["probs"], feeds)[0]
        for b in range(B):
            want = probabilities_reference(cond[b], uncond[b], 2.0, 1.0, 0, float(top_p[b]))
            np.testing.assert_array_equal(probs[b].view(np.uint32), want.view(np.uint32))


def test_reference_sampler_semantics_on_small_rows():
    f = np.float32
    z = np.zeros(5, f)
    logits = np.array([1.0, 3.0, 3.0, 2.0, -1.0], f)
    # top-k keeps every logit tied with the k-th largest
    p = probabilities_reference(logits, z, 1.0, 1.0, 2, 1.0)
    assert p[1] > 0 and p[2] > 0 and p[0] == p[3] == p[4] == 0
    p = probabilities_reference(logits, z, 1.0, 1.0, 3, 1.0)
    assert p[3] > 0 and p[0] == 0
    # top-p: the first token (lower id among equals) always stays; equals after it go by id
    p = probabilities_reference(logits, z, 1.0, 1.0, 0, 0.01)
    assert p[1] == 1 and p.sum() == 1
    p = probabilities_reference(logits, z, 1.0, 1.0, 0, 0.5)
    assert p[1] > 0 and p[2] > 0 and p[3] == 0
    # guidance: uncond + (cond - uncond) * cfg, so cfg 0 samples the unconditional row
    flipped = logits[::-1].copy()
    np.testing.assert_array_equal(
        probabilities_reference(logits, flipped, 0.0, 1.0, 0, 1.0), probabilities_reference(flipped, z, 1.0, 1.0, 0, 1.0)
    )
    # inverse CDF: u = 0 takes the first token with probability > 0; u -> 1 the last one
    q = probabilities_reference(logits, z, 1.0, 1.0, 2, 1.0)
    assert draw_reference(logits, z, 1.0, 1.0, 2, 1.0, 0.0) == 1
    assert draw_reference(logits, z, 1.0, 1.0, 2, 1.0, float(f(1 - 2**-24))) == 2
    assert draw_reference(logits, z, 1.0, 1.0, 2, 1.0, float(q[1])) == 2
    # step schedule (GigaTok): full scale at step 0, 1.0 while (i + 1) / T < 0.18, full after
    assert [cfg_at(4.0, "step", i, 32) for i in (0, 1, 4, 5, 31)] == [4.0, 1.0, 1.0, 4.0, 4.0]
    assert cfg_at(4.0, "constant", 3, 32) == 4.0


# --- export integration ----------------------------------------------------------------------------


def test_committed_fixture_generate_graph_is_what_this_code_builds():
    """gpu-backend/test/fixtures/tiny-random/generate.onnx is built from the fixture's ar_step.onnx;
    re-run scripts/make-tiny-fixture.sh when this fails."""
    manifest = json.loads((FIXTURE / "manifest.json").read_text())
    assert manifest["graphs"]["generate"] == {"file": "generate.onnx"}
    built = generate_model_for(FIXTURE / "ar_step.onnx", dims_from_manifest(manifest))
    assert built.SerializeToString() == (FIXTURE / "generate.onnx").read_bytes()


def test_check_generate_passes_for_the_export_and_fails_for_a_wrong_graph(tiny, tmp_path):
    assert all(c.ok for c in check_generate(tiny["out"]))
    broken = tmp_path / "broken"
    shutil.copytree(tiny["out"], broken)
    wrong = Dims(**{**tiny["dims"].__dict__, "null_class_id": 0})  # guidance against class 0
    write_generate_graph(broken / "ar_step.onnx", broken / "generate.onnx", wrong)
    assert not all(c.ok for c in check_generate(broken))


def test_fp16_model_with_external_data_shares_the_step_weights_files(tiny_cfgs, tmp_path):
    tc, ac = tiny_cfgs
    tok, ar = random_tokenizer(tc, 0), random_ar(ac, 0)
    options = {"fp16": True, "external_threshold": 0, "log": lambda *_: None}
    result = export_model_dir(tok, ar, tmp_path, model_id="tiny-fp16-ext", **options)
    assert result.manifest["graphs"]["generate"] == {"file": "generate.onnx"}
    assert not (tmp_path / "generate.onnx.data").exists()
    model = onnx.load(str(tmp_path / "generate.onnx"), load_external_data=False)
    locations = {e.value for t in model.graph.initializer for e in t.external_data if e.key == "location"}
    # Large weights in ar_step's side file, the few small ones inline in ar_step.onnx.
    assert locations == {"ar_step.onnx.data", "ar_step.onnx"}
    assert all(c.ok for c in check_generate(tmp_path))


def test_export_without_generate_graph_and_cli_that_adds_it(tiny_models, tmp_path):
    options = {"generate_graph": False, "log": lambda *_: None}
    result = export_model_dir(*tiny_models, tmp_path, model_id="tiny-nogen", **options)
    assert "generate" not in result.manifest["graphs"]
    assert not (tmp_path / "generate.onnx").exists()
    assert main([str(tmp_path)]) == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["graphs"]["generate"] == {"file": "generate.onnx"}
    entry = next(f for f in manifest["files"] if f["path"] == "generate.onnx")
    assert entry["bytes"] == (tmp_path / "generate.onnx").stat().st_size
    assert [f["path"] for f in manifest["files"]] == sorted(f["path"] for f in manifest["files"])
    assert all(c.ok for c in check_generate(tmp_path))


def test_fed_back_tokens_steer_the_loop_on_a_context_sensitive_model(tiny_models, tmp_path):
    """The random tiny AR barely reacts to its input tokens; with embeddings and output scaled up
    it does, so a loop that failed to feed the sampled (or forced) tokens back would show here."""
    import copy

    import torch

    ar = copy.deepcopy(tiny_models[1])
    with torch.no_grad():
        ar.tok_embeddings.weight.mul_(40)
        ar.cls_embedding.embedding_table.weight.mul_(40)
        ar.output.weight.mul_(10)
    export_model_dir(tiny_models[0], ar, tmp_path, model_id="tiny-sharp", log=lambda *_: None)
    dims = dims_from_manifest(json.loads((tmp_path / "manifest.json").read_text()))
    step, gen = session(tmp_path / "ar_step.onnx"), session(tmp_path / "generate.onnx")
    rng = np.random.default_rng(2)
    u = uniforms(rng, 3, dims.tokens)
    free = generate(gen, [0, 1, 4], u)
    np.testing.assert_array_equal(free, reference_generate(step, dims, [0, 1, 4], u))
    forced = (free[:, :2] + 7) % dims.vocab
    varied = generate(gen, [0, 1, 4], u, prefix=forced)
    np.testing.assert_array_equal(varied, reference_generate(step, dims, [0, 1, 4], u, prefix=forced))
    assert not np.array_equal(varied[:, 2:], free[:, 2:])
    assert all(c.ok for c in check_generate(tmp_path))
