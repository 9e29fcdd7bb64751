"""ONNX export of small random models: contract I/O, manifest, parity, external data, fp16, CLI."""

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper
import onnxruntime as ort
import pytest

from gigatok_model.export import export_model_dir, main, random_ar, random_tokenizer
from gigatok_model.verify import verify_model_dir

CONTRACT_IO = {
    "encoder": ({"image": "tensor(float)"}, {"tokens": "tensor(int64)"}),
    "decoder": ({"tokens": "tensor(int64)"}, {"image": "tensor(float)"}),
    "ar_step": (
        {
            "token_ids": "tensor(int64)",
            "class_ids": "tensor(int64)",
            "position": "tensor(int64)",
            "past_keys": "tensor(float)",
            "past_values": "tensor(float)",
        },
        {"logits": "tensor(float)", "present_keys": "tensor(float)", "present_values": "tensor(float)"},
    ),
}


def io_types(path):
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return {i.name: i.type for i in s.get_inputs()}, {o.name: o.type for o in s.get_outputs()}


def test_graphs_have_exactly_the_contract_inputs_and_outputs(tiny_export):
    for name, want in CONTRACT_IO.items():
        assert io_types(tiny_export.out / f"{name}.onnx") == want, name


def test_manifest_lists_every_file_with_its_sha256_and_size(tiny_export):
    m = json.loads((tiny_export.out / "manifest.json").read_text())
    assert m["format_version"] == 1 and m["dtype"] == "float32"
    assert m["tokenizer"] == {
        "config": "tiny",
        "image_size": 16,
        "tokens_per_image": 8,
        "codebook_size": 64,
        "codebook_dim": 4,
    }
    assert m["ar"] == {
        "config": "gpt-tiny",
        "num_classes": 4,
        "null_class_id": 4,
        "n_layer": 2,
        "n_head": 2,
        "head_dim": 16,
        "embedding_layer": 1,
    }
    assert m["graphs"] == {k: {"file": f"{k}.onnx"} for k in ("encoder", "decoder", "ar_step", "generate", "generate_chunk", "embed")}
    on_disk = sorted(p.name for p in tiny_export.out.iterdir() if p.name != "manifest.json")
    assert [f["path"] for f in m["files"]] == on_disk
    for f in m["files"]:
        data = (tiny_export.out / f["path"]).read_bytes()
        assert f["bytes"] == len(data) and f["sha256"] == hashlib.sha256(data).hexdigest()
    assert m["class_labels"] == ["class 0", "class 1", "class 2", "class 3"]
    assert m["sampling_defaults"]["cfg_schedule"] in ("constant", "step")


def test_exported_graphs_match_pytorch(tiny_export, tiny_models):
    report = verify_model_dir(tiny_export.out, *tiny_models, seed=3)
    assert report.ok, report.table()


def test_parity_check_fails_for_a_graph_from_other_weights(tiny_export, tiny_cfgs):
    tc, ac = tiny_cfgs
    report = verify_model_dir(tiny_export.out, random_tokenizer(tc, 7), random_ar(ac, 7))
    failed = {c.name for c in report.checks if not c.ok}
    assert {"decoder", "ar_step", "kv decode"} <= failed


def test_dynamic_batch_and_past_length(tiny_export):
    enc = ort.InferenceSession(str(tiny_export.out / "encoder.onnx"))
    dec = ort.InferenceSession(str(tiny_export.out / "decoder.onnx"))
    step = ort.InferenceSession(str(tiny_export.out / "ar_step.onnx"))
    for b in (1, 5):
        tokens = enc.run(None, {"image": np.zeros((b, 3, 16, 16), np.float32)})[0]
        assert tokens.shape == (b, 8) and tokens.dtype == np.int64
        assert dec.run(None, {"tokens": tokens})[0].shape == (b, 3, 16, 16)
    for n, p in ((1, 0), (6, 7)):
        past = np.zeros((2, n, 2, p, 16), np.float32)
        logits, pk, pv = step.run(
            None,
            {
                "token_ids": np.zeros((n, 1), np.int64),
                "class_ids": np.zeros(n, np.int64),
                "position": np.array([p], np.int64),
                "past_keys": past,
                "past_values": past,
            },
        )
        assert logits.shape == (n, 64) and pk.shape == pv.shape == (2, n, 2, p + 1, 16)


def test_large_graphs_keep_weights_in_one_external_data_file(tiny_models, tmp_path):
    result = export_model_dir(*tiny_models, tmp_path, model_id="tiny-ext", external_threshold=0, log=lambda *_: None)
    names = sorted(f["path"] for f in result.manifest["files"])
    assert names == sorted(
        [
            "ar_step.onnx",
            "ar_step.onnx.data",
            "decoder.onnx",
            "decoder.onnx.data",
            "encoder.onnx",
            "encoder.onnx.data",
            "generate.onnx",  # shares ar_step.onnx.data
            "embed.onnx",  # its own side file: sharing is only done with weights inside ar_step.onnx
            "embed.onnx.data",
        ]
    )
    graph = onnx.load(str(tmp_path / "decoder.onnx"), load_external_data=False)
    assert any(t.data_location == onnx.TensorProto.EXTERNAL for t in graph.graph.initializer)
    assert (tmp_path / "decoder.onnx").stat().st_size < 0.2 * (tmp_path / "decoder.onnx.data").stat().st_size
    report = verify_model_dir(tmp_path, *tiny_models)
    assert report.ok, report.table()


def test_covering_token_decoder_queries_export_and_match_pytorch(tiny_cfgs, tmp_path):
    tc, ac = tiny_cfgs
    tok = random_tokenizer(dataclasses.replace(tc, decoder_query_init="covering_token"), 0)
    result = export_model_dir(tok, random_ar(ac, 0), tmp_path, model_id="tiny-cover", log=lambda *_: None)
    report = verify_model_dir(tmp_path, result.tokenizer, result.ar)
    assert report.ok, report.table()


def test_fp16_export_keeps_float32_io_and_runs_on_cpu(tiny_cfgs, tmp_path):
    tc, ac = tiny_cfgs
    tok, ar = random_tokenizer(tc, 0), random_ar(ac, 0)
    result = export_model_dir(tok, ar, tmp_path, model_id="tiny-fp16", fp16=True, log=lambda *_: None)
    assert result.manifest["dtype"] == "float16"
    for name, want in CONTRACT_IO.items():
        assert io_types(tmp_path / f"{name}.onnx") == want
    weights = onnx.load(str(tmp_path / "decoder.onnx")).graph.initializer
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in weights)
    report = verify_model_dir(tmp_path, result.tokenizer, result.ar)
    assert report.ok, report.table()


def test_cli_exports_and_verifies_a_random_model(tmp_path, capsys):
    labels = tmp_path / "labels.txt"
    labels.write_text("zero\none\ntwo\nthree\n")
    out = tmp_path / "model"
    argv = ["--tokenizer-config", "tiny", "--ar-config", "gpt-tiny", "--random-init", "--seed", "1"]
    argv += ["--out", str(out), "--verify", "--class-labels", str(labels), "--cfg-scale", "2.5"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "kv decode" in text and "FAIL" not in text
    m = json.loads((out / "manifest.json").read_text())
    assert m["model_id"] == "gigatok-tiny-gpt-tiny"
    assert m["class_labels"] == ["zero", "one", "two", "three"]
    assert m["sampling_defaults"]["cfg_scale"] == 2.5


def test_cli_refuses_bad_arguments(tmp_path):
    base = ["--tokenizer-config", "tiny", "--ar-config", "gpt-tiny", "--out", str(tmp_path)]
    with pytest.raises(SystemExit, match="--random-init"):
        main(base)
    with pytest.raises(ValueError, match="model_id"):
        main([*base, "--random-init", "--model-id", "Bad Id"])
    with pytest.raises(SystemExit, match="2 labels for 4 classes"):
        labels = tmp_path / "labels.json"
        labels.write_text('["a", "b"]')
        main([*base, "--random-init", "--class-labels", str(labels)])


def test_a_tokenizer_and_ar_model_of_different_vocabularies_are_refused(tiny_models, tiny_cfgs, tmp_path):
    from gigatok_model.configs import ar_config

    other = random_ar(ar_config("gpt-tiny", vocab_size=32), 0)
    with pytest.raises(ValueError, match="do not match"):
        export_model_dir(tiny_models[0], other, tmp_path, model_id="x")


def same_graph(a_path: Path, b_path: Path) -> bool:
    """Same nodes and initializers equal to float rounding (thread count and CPU kernels may
    move a folded constant by an ulp, so bytes alone would be too strict across machines)."""
    a, b = onnx.load(str(a_path)), onnx.load(str(b_path))
    if [(n.op_type, list(n.input), list(n.output)) for n in a.graph.node] != [
        (n.op_type, list(n.input), list(n.output)) for n in b.graph.node
    ]:
        return False
    ia = {t.name: numpy_helper.to_array(t) for t in a.graph.initializer}
    ib = {t.name: numpy_helper.to_array(t) for t in b.graph.initializer}
    return ia.keys() == ib.keys() and all(
        ia[k].dtype == ib[k].dtype and ia[k].shape == ib[k].shape and np.allclose(ia[k], ib[k], rtol=1e-5, atol=1e-6)
        for k in ia
    )


def test_committed_backend_fixture_is_what_this_code_exports(tiny_export):
    """gpu-backend/test/fixtures/tiny-random is the seed-0 tiny export. When the model code
    changes, re-run scripts/make-tiny-fixture.sh (and tell the backend)."""
    fixture = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "tiny-random"
    m = json.loads((fixture / "manifest.json").read_text())
    assert m["model_id"] == "tiny-random"
    for f in m["files"]:
        data = (fixture / f["path"]).read_bytes()
        assert f["bytes"] == len(data) and f["sha256"] == hashlib.sha256(data).hexdigest()
    assert [f["path"] for f in m["files"]] == [f["path"] for f in tiny_export.manifest["files"]]
    for f in m["files"]:
        assert same_graph(fixture / f["path"], tiny_export.out / f["path"]), f["path"]
    keys = ("tokenizer", "ar", "graphs", "dtype", "format_version")
    assert {k: m[k] for k in keys} == {k: tiny_export.manifest[k] for k in keys}
