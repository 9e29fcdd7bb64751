"""PyTorch eager baseline of `npm run bench -- --sections dataset`: the loop of the official code
extractor (extract_codes_c2i.py, flip augmentation) on the same image files and the same tokenizer as
a model directory: per image, Pillow's open + convert, center_crop_arr, ToTensor + Normalize, encode
[x, flip(x)] in one call, np.save the codes (1, 2, T) and the label. One image per step, as the
extractor's DataLoader (batch_size=1), in one process (no loader workers).

    PYTHONPATH=gpu-backend/model python bench/dataset_reference.py --model-dir DIR --images DIR --threads N

Weights: the nano training's checkpoint when present, else random init (timing does not depend on
the weights). Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference import build  # noqa: E402  (bench/reference.py: the same model construction)

from gigatok_model.official_preprocess import center_crop_arr, to_tensor_normalized  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--images", required=True, help="a folder of image files, encoded in name order")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(max(1, args.threads))
    device = torch.device(args.device)
    manifest = json.loads((Path(args.model_dir) / "manifest.json").read_text())
    tok, _ar, weights = build(manifest, None, None)
    tok = tok.to(device)
    size = manifest["tokenizer"]["image_size"]
    files = sorted(p for p in Path(args.images).iterdir() if p.is_file())

    def step(path: Path, out: Path, i: int) -> None:
        with Image.open(path) as im:
            x = to_tensor_normalized(center_crop_arr(im.convert("RGB"), size))[None].to(device)
        with torch.inference_mode():
            codes = tok.encode(torch.cat([x, torch.flip(x, dims=[-1])]))
        np.save(out / "codes" / f"{i}.npy", codes.reshape(1, 2, -1).cpu().numpy())
        np.save(out / "labels" / f"{i}.npy", np.array([i % 10], dtype=np.int64))

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        (out / "codes").mkdir()
        (out / "labels").mkdir()
        for i, path in enumerate(files[:8]):  # warm-up, untimed
            step(path, out, i)
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        for i, path in enumerate(files):
            step(path, out, i)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - started
        first = np.load(out / "codes" / "0.npy")
    print(
        json.dumps(
            {
                "images": len(files),
                "seconds": seconds,
                "images_per_second": len(files) / seconds,
                "threads": torch.get_num_threads(),
                "torch": torch.__version__,
                "weights": weights,
                "first_codes": first.reshape(2, -1).tolist(),
            }
        )
    )


if __name__ == "__main__":
    main()
