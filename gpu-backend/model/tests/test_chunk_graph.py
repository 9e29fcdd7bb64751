"""generate_chunk.onnx against generate.onnx: a row served in chunks (any chunk size, joining the
batch at any boundary, next to rows at other positions with other options) draws exactly the
tokens generate.onnx draws for the same uniforms, for every sampling option set."""

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from gigatok_model.chunk_graph import (
    CHUNK_FILE,
    CHUNK_OUTPUTS,
    check_chunks,
    chunk_feeds,
    empty_state,
    run_schedule,
    write_chunk_graph,
)
from gigatok_model.generate_graph import check_cases, dims_from_manifest, generate_feeds

NANO = Path(__file__).resolve().parents[3] / "models" / "gigatok-nano"


def session(path) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def rows_and_expected(gen, dims, rng, per_case: int = 2):
    """Rows covering every sampling option set and generate.onnx's tokens for each (run alone)."""
    rows, want = [], []
    for case in check_cases(dims):
        case = dict(case)
        k = case.pop("prefix_len", 0)
        for _ in range(per_case):
            c = int(rng.integers(0, dims.null_class_id + 1))
            u = (rng.integers(0, 2**24, (1, dims.tokens)) * 2.0**-24).astype(np.float32)
            prefix = rng.integers(0, dims.vocab, (1, k)).astype(np.int64)
            want.append(gen.run(["tokens"], generate_feeds([c], u, prefix=prefix, **case))[0][0])
            rows.append({"class_id": c, "uniforms": u[0], "prefix": prefix[0], **case})
    return rows, want


@pytest.fixture(scope="module")
def tiny_chunk(tiny_export, tiny_models, tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny-chunk")
    for f in ("ar_step.onnx", "generate.onnx", "manifest.json"):
        shutil.copy(tiny_export.out / f, out / f)
    dims = dims_from_manifest(tiny_export.manifest)
    write_chunk_graph(tiny_models[1], out / CHUNK_FILE, dims, share_with=out / "ar_step.onnx")
    return {"dims": dims, "gen": session(out / "generate.onnx"), "chunk": session(out / CHUNK_FILE), "out": out}


def test_the_export_lists_the_chunk_graph_and_reads_weights_from_ar_step(tiny_export):
    assert tiny_export.manifest["graphs"]["generate_chunk"] == {"file": CHUNK_FILE}
    model = onnx.load(str(tiny_export.out / CHUNK_FILE), load_external_data=False)
    shared = [
        t.name
        for t in model.graph.initializer
        if t.data_location == onnx.TensorProto.EXTERNAL
        and {e.key: e.value for e in t.external_data}["location"] == "ar_step.onnx"
    ]
    assert len(shared) >= 4, shared


@pytest.mark.parametrize("chunk", [1, 3, 5, 8])
def test_tiny_rows_joining_at_any_boundary_draw_generate_onnx_tokens(tiny_chunk, chunk):
    dims, rng = tiny_chunk["dims"], np.random.default_rng(chunk)
    rows, want = rows_and_expected(tiny_chunk["gen"], dims, rng)
    joins = [int(j) for j in rng.integers(0, 5, len(rows))]
    got = run_schedule(tiny_chunk["chunk"], dims, rows, joins, chunk, max_batch=4)
    for r, (g, w) in enumerate(zip(got, want)):
        assert np.array_equal(g, w), f"row {r} ({rows[r]}) chunk {chunk}"


def test_the_same_row_draws_the_same_tokens_in_any_company(tiny_chunk):
    dims, rng = tiny_chunk["dims"], np.random.default_rng(7)
    rows, _ = rows_and_expected(tiny_chunk["gen"], dims, rng, per_case=1)
    alone = run_schedule(tiny_chunk["chunk"], dims, rows[:1], [0], 2, max_batch=1)[0]
    crowd = run_schedule(tiny_chunk["chunk"], dims, rows[1:] + rows[:1], [0] * (len(rows) - 1) + [1], 2, 8)
    assert np.array_equal(alone, crowd[-1])
    # Different uniforms draw different tokens: the comparison above is not vacuous.
    other = dict(rows[0], uniforms=np.roll(rows[0]["uniforms"], 3))
    assert not np.array_equal(alone, run_schedule(tiny_chunk["chunk"], dims, [other], [0], 2, 1)[0])


def test_a_finished_row_draws_nothing_and_keeps_its_position(tiny_chunk):
    dims = tiny_chunk["dims"]
    T = dims.tokens
    u = np.full(T, 0.5, np.float32)
    rows = [{"class_id": 0, "uniforms": u}, {"class_id": 1, "uniforms": u}]
    keys, values = empty_state(dims, 2)
    feeds = chunk_feeds(dims, rows, [T, T - 2], [0, 0], keys, values, 4)
    tokens, *_ = tiny_chunk["chunk"].run(CHUNK_OUTPUTS, feeds)
    assert tokens.shape == (2, 4)
    assert tokens[0].tolist() == [-1, -1, -1, -1]
    assert (tokens[1, :2] >= 0).all() and tokens[1, 2:].tolist() == [-1, -1]


@pytest.mark.skipif(not (NANO / CHUNK_FILE).exists(), reason="models/gigatok-nano has no chunk graph")
def test_nano_chunked_tokens_equal_generate_onnx():
    manifest = json.loads((NANO / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["graphs"]["generate_chunk"] == {"file": CHUNK_FILE}
    (check,) = check_chunks(NANO, seed=3)
    assert check.ok, check


def test_a_rebuild_that_does_not_reproduce_generate_onnx_is_refused(tiny_export, tiny_cfgs, tmp_path, monkeypatch):
    import gigatok_model.chunk_graph as chunk_graph
    from gigatok_model.export import random_ar

    for f in ("ar_step.onnx", "generate.onnx"):
        shutil.copy(tiny_export.out / f, tmp_path / f)
    manifest = dict(tiny_export.manifest)
    manifest["graphs"] = {k: v for k, v in manifest["graphs"].items() if k != "generate_chunk"}
    manifest["files"] = [f for f in manifest["files"] if f["path"] != CHUNK_FILE]
    before = json.dumps(manifest, indent=2) + "\n"
    (tmp_path / "manifest.json").write_text(before, encoding="utf-8")
    # Other weights than ar_step.onnx's: what a wrong name map would give.
    monkeypatch.setattr(chunk_graph, "gpt_from_ar_step", lambda path, cfg: random_ar(tiny_cfgs[1], 7))
    with pytest.raises(ValueError, match="does not reproduce generate.onnx"):
        chunk_graph.add_to_model_dir(tmp_path)
    assert (tmp_path / "manifest.json").read_text(encoding="utf-8") == before
    assert not (tmp_path / CHUNK_FILE).exists()
    # The real rebuild passes on the same directory.
    monkeypatch.undo()
    assert chunk_graph.add_to_model_dir(tmp_path)["graphs"]["generate_chunk"] == {"file": CHUNK_FILE}
