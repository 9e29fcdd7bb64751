"""The official code extractor's augmentations, run with Pillow and numpy, and their goldens.

LlamaGen's ``autoregressive/train/extract_codes_c2i.py`` (which GigaTok reuses) encodes each image in
one of two ways (docs/model-contract.md, "Dataset augmentations"):

- flip (the default): ``center_crop_arr(img, S)``, ToTensor, Normalize(0.5, 0.5); then
  ``torch.cat([x, torch.flip(x, dims=[-1])])``: views [image, horizontal mirror].
- ten_crop (``--ten-crop``): ``center_crop_arr(img, int(S * crop_range))`` with crop_range 1.1, then
  torchvision's ``TenCrop(S)``: five_crop (top-left, top-right, bottom-left, bottom-right, centre with
  offset ``int(round((side - S) / 2.0))``) of the crop, then five_crop of its horizontal mirror.

torchvision does not import in this environment, so TenCrop is written here from its definition with
PIL and numpy. The goldens (sha256 of each view's uint8 pixels and float32 tensor) hold the backend's
gpu-backend/src/images/augment.ts to the same bytes (gpu-backend/test/augment.test.ts).

    python -m gigatok_model.official_augment     # (re)make fixtures/preprocess/augment-goldens.json
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gigatok_model.official_preprocess import (
    CASES,
    FIXTURE_DIR,
    center_crop_arr,
    source_path,
    to_tensor_normalized,
)

# The extractor's default --crop-range.
CROP_RANGE = 1.1
VIEWS = {"flip": 2, "ten_crop": 10}
# Odd and even overhangs, portrait and landscape, box halving, enlargement, and one at 256 (281 -> 256,
# where the centre offset 12.5 rounds to even).
AUGMENT_CASES = ["portrait-odd", "landscape-even-crop", "halve-once-odd", "enlarge-landscape-odd", "photo-256"]


def five_crop(pil_image: Image.Image, size: int) -> list[np.ndarray]:
    """torchvision's five_crop on a PIL image: tl, tr, bl, br, centre (Python's round for the centre)."""
    arr = np.array(pil_image)
    h, w = arr.shape[:2]
    top = int(round((h - size) / 2.0))
    left = int(round((w - size) / 2.0))
    boxes = [(0, 0), (0, w - size), (h - size, 0), (h - size, w - size), (top, left)]
    return [arr[y : y + size, x : x + size] for y, x in boxes]


def ten_crop(pil_image: Image.Image, size: int) -> list[np.ndarray]:
    """torchvision's ten_crop (vertical_flip=False): five_crop, then five_crop of the hflipped image."""
    return five_crop(pil_image, size) + five_crop(pil_image.transpose(Image.FLIP_LEFT_RIGHT), size)


def official_views(data: bytes, image_size: int, augment: str) -> tuple[list[np.ndarray], list[torch.Tensor]]:
    """One image file -> the extractor's views: HWC uint8 pixels and the CHW float32 tensors it encodes."""
    with Image.open(io.BytesIO(data)) as im:
        rgb = im.convert("RGB")
    if augment == "flip":
        pixels = center_crop_arr(rgb, image_size)
        x = to_tensor_normalized(pixels)
        # The extractor flips the normalised tensor; the mirror of the uint8 pixels is the same view.
        return [pixels, np.ascontiguousarray(pixels[:, ::-1])], [x, torch.flip(x, dims=[-1])]
    if augment == "ten_crop":
        crop = center_crop_arr(rgb, int(image_size * CROP_RANGE))
        views = ten_crop(Image.fromarray(crop), image_size)
        return views, [to_tensor_normalized(v) for v in views]
    raise ValueError(f"unknown augmentation {augment!r}")


def _sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def make_augment_goldens(src: Path = FIXTURE_DIR, out: Path = FIXTURE_DIR) -> dict:
    """Runs both augmentations on the chosen cases; writes `augment-goldens.json` (per view hashes)."""
    by_name = {c[0]: c for c in CASES}
    cases = []
    for name in AUGMENT_CASES:
        _, width, height, fmt, size, _why = by_name[name]
        data = source_path(name, fmt, src).read_bytes()
        for augment, count in VIEWS.items():
            pixels, tensors = official_views(data, size, augment)
            assert len(pixels) == count and all(p.shape == (size, size, 3) for p in pixels)
            cases.append(
                {
                    "name": name,
                    "source": source_path(name, fmt, src).name,
                    "size": size,
                    "augment": augment,
                    "source_side": int(size * CROP_RANGE) if augment == "ten_crop" else size,
                    "pixels_sha256": [_sha256(p) for p in pixels],
                    "tensor_sha256": [_sha256(t.numpy().astype("<f4")) for t in tensors],
                }
            )
    manifest = {
        "recipe": "extract_codes_c2i.py: flip = [x, torch.flip(x, -1)]; ten_crop = TenCrop(S) of "
        "center_crop_arr(int(S * 1.1))",
        "cases": cases,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "augment-goldens.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=FIXTURE_DIR)
    args = parser.parse_args()
    manifest = make_augment_goldens(FIXTURE_DIR, args.out)
    print(f"{len(manifest['cases'])} augmentation goldens in {args.out}")


if __name__ == "__main__":
    main()
