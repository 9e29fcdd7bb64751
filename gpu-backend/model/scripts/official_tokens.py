"""Tokens the official pipeline gives image files with an exported encoder.

Each file goes through the official recipe in Python (Pillow load, ADM center_crop_arr, ToTensor,
Normalize(0.5, 0.5): gigatok_model.official_preprocess) and then the model directory's encoder.onnx in
onnxruntime, one image per run. Prints one JSON object, {file name: [token, ...]}, so a test can
compare the API's tokens for the same files with these, independently of the backend's TypeScript
preprocessing.

    python scripts/official_tokens.py --model-dir DIR image.png photo.jpg ...
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gigatok_model.official_preprocess import official_pixels, to_tensor_normalized  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("images", type=Path, nargs="+")
    args = parser.parse_args(argv)

    manifest = json.loads((args.model_dir / "manifest.json").read_text())
    size = int(manifest["tokenizer"]["image_size"])
    encoder = args.model_dir / manifest["graphs"]["encoder"]["file"]
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(encoder), options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name

    out: dict[str, list[int]] = {}
    for path in args.images:
        tensor = to_tensor_normalized(official_pixels(path.read_bytes(), size)).unsqueeze(0).numpy()
        (tokens,) = session.run(None, {input_name: tensor})
        out[path.name] = [int(t) for t in tokens[0]]
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
