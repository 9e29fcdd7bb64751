"""embed.onnx (the AR representation: mean hidden state at layer n_layer/2) against
GPT.hidden_mean in PyTorch: same vectors, batch-independent, weights read from ar_step.onnx."""

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from gigatok_model.export import EMBED_FILE, export_model_dir


def session(path: Path) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def embed(tiny_export):
    return session(tiny_export.out / EMBED_FILE)


def run(sess, tokens: np.ndarray, classes: np.ndarray) -> np.ndarray:
    return sess.run(["embedding"], {"token_ids": tokens, "class_ids": classes})[0]


def inputs(tiny_export, batch: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    ac = tiny_export.ar.config
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, ac.vocab_size, (batch, ac.block_size)).astype(np.int64)
    # Real classes and the null class (row num_classes), which is what the backend feeds.
    classes = rng.integers(0, ac.num_classes + 1, batch).astype(np.int64)
    classes[0] = ac.null_class_id
    return tokens, classes


def test_manifest_lists_embed_graph(tiny_export):
    m = tiny_export.manifest
    assert m["graphs"]["embed"] == {"file": EMBED_FILE}
    assert EMBED_FILE in [f["path"] for f in m["files"]]
    assert m["ar"]["embedding_layer"] == tiny_export.ar.config.n_layer // 2


def test_embed_graph_io_is_the_contract(embed, tiny_export):
    ac = tiny_export.ar.config
    assert [(i.name, i.type) for i in embed.get_inputs()] == [
        ("token_ids", "tensor(int64)"),
        ("class_ids", "tensor(int64)"),
    ]
    (out,) = embed.get_outputs()
    assert out.name == "embedding" and out.type == "tensor(float)" and out.shape[1] == ac.dim


def test_embed_graph_matches_pytorch_hidden_mean(embed, tiny_export):
    tokens, classes = inputs(tiny_export, 5, 1)
    got = run(embed, tokens, classes)
    ar = tiny_export.ar.float().eval()
    want = ar.hidden_mean(torch.from_numpy(classes), torch.from_numpy(tokens)).numpy()
    assert got.shape == (5, ar.config.dim)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)
    # Different inputs give different vectors (a constant output would pass the check above only
    # if PyTorch were constant too; this states it).
    assert np.abs(got[1] - got[2]).max() > 1e-3


def test_embed_graph_batched_equals_unbatched_and_is_deterministic(embed, tiny_export):
    tokens, classes = inputs(tiny_export, 4, 2)
    batched = run(embed, tokens, classes)
    for i in range(4):
        single = run(embed, tokens[i : i + 1], classes[i : i + 1])
        np.testing.assert_allclose(single[0], batched[i], rtol=0, atol=1e-6)
    np.testing.assert_array_equal(run(embed, tokens, classes), batched)


def test_embed_graph_ignores_the_last_token(embed, tiny_export):
    """The AR model's input is the class token and tokens 0..T-2; token T-1 is only a target."""
    tokens, classes = inputs(tiny_export, 2, 3)
    changed = tokens.copy()
    changed[:, -1] = (changed[:, -1] + 1) % tiny_export.ar.config.vocab_size
    np.testing.assert_array_equal(run(embed, changed, classes), run(embed, tokens, classes))
    changed[:, 0] = (changed[:, 0] + 1) % tiny_export.ar.config.vocab_size
    assert np.abs(run(embed, changed, classes) - run(embed, tokens, classes)).max() > 1e-5


def test_embed_graph_reads_its_weights_from_ar_step(tiny_export):
    model = onnx.load(str(tiny_export.out / EMBED_FILE), load_external_data=False)
    external = [t for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    assert external, "no initializer shares ar_step.onnx's bytes"
    locations = {e.value for t in external for e in t.external_data if e.key == "location"}
    assert locations == {"ar_step.onnx"}
    shared = sum(int(e.value) for t in external for e in t.external_data if e.key == "length")
    inline = (tiny_export.out / EMBED_FILE).stat().st_size
    assert shared > inline


def test_export_without_embed_graph_leaves_it_out(tiny_models, tmp_path):
    tok, ar = tiny_models
    result = export_model_dir(
        tok, ar, tmp_path, model_id="no-embed", generate_graph=False, embed_graph=False, log=lambda *_: None
    )
    assert "embed" not in result.manifest["graphs"]
    assert not (tmp_path / EMBED_FILE).exists()
