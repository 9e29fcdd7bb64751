"""The official GigaTok image transform, run with Pillow, and the golden files the backend is held to.

GigaTok's data pipeline (like LlamaGen's and ADM's) loads with ``Image.open(path).convert("RGB")``,
then ``center_crop_arr``: halve with ``Image.BOX`` while the short side is at least twice the target,
resize with ``Image.BICUBIC`` so the short side equals the target (each side ``round(side * scale)``),
crop the centre with floored offsets; then ``ToTensor`` and ``Normalize(0.5, 0.5)``. This module
states that recipe once, makes a small deterministic set of test images that exercise each branch
(odd and even overhangs, portrait, landscape, enlargement, box halving, JPEG, WebP, alpha, grey,
palette, 16-bit, EXIF), and
writes Pillow's results as goldens for gpu-backend/test/official-preprocess.test.ts.

    python -m gigatok_model.official_preprocess --images   # (re)make the source images
    python -m gigatok_model.official_preprocess            # (re)make the goldens from them
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image

FIXTURE_DIR = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "preprocess"

# name, width, height, format, target size, what it exercises. Overhangs are those of the resized
# image (resized side - target); odd overhangs are where a rounded-up centre offset would differ.
CASES: list[tuple[str, int, int, str, int, str]] = [
    ("exact-32", 32, 32, "png", 32, "already the target size: no resize, no crop"),
    ("landscape-even-crop", 48, 32, "png", 32, "no resize, overhang 16"),
    ("landscape-odd-crop", 45, 32, "png", 32, "no resize, overhang 13"),
    ("portrait-even", 37, 53, "png", 32, "bicubic down per axis to 32x46, overhang 14"),
    ("portrait-odd", 41, 60, "png", 32, "bicubic down to 32x47, overhang 15"),
    ("landscape-odd", 70, 41, "png", 32, "bicubic down to 55x32, overhang 23"),
    ("enlarge-landscape-odd", 20, 13, "png", 32, "bicubic up to 49x32, overhang 17"),
    ("enlarge-portrait-even", 18, 27, "png", 32, "bicubic up to 32x48, overhang 16"),
    ("halve-once-odd", 130, 97, "png", 32, "box to 65x48, bicubic to 43x32, overhang 11"),
    ("halve-twice-even", 300, 200, "png", 32, "box to 150x100 and 75x50, bicubic to 48x32"),
    ("jpeg-landscape", 90, 60, "jpeg", 32, "a JPEG: bicubic down to 48x32"),
    ("alpha-portrait", 40, 50, "png-rgba", 32, "RGBA: convert('RGB') drops alpha"),
    ("grey-square", 33, 33, "png-grey", 32, "8-bit grey: convert('RGB') repeats it"),
    ("exif-rotated", 40, 64, "jpeg-exif6", 32, "EXIF orientation 6, which the official loader ignores"),
    ("photo-256", 1030, 520, "jpeg", 256, "box to 515x260, bicubic to 507x256, overhang 251"),
    ("palette-transparent", 45, 60, "png-palette", 32, "palette + tRNS: convert('RGB') uses the palette"),
    ("rgb16-landscape", 70, 50, "png-rgb16", 32, "16 bits per channel: Pillow keeps the high byte"),
    ("grey-alpha", 52, 40, "png-la", 32, "grey + alpha: alpha dropped, grey repeated"),
    ("webp-lossless", 77, 40, "webp", 32, "a lossless WebP"),
]


def center_crop_arr(pil_image: Image.Image, image_size: int) -> np.ndarray:
    """ADM's center_crop_arr (guided-diffusion image_datasets.py), as GigaTok's training uses it."""
    while min(*pil_image.size) >= 2 * image_size:
        pil_image = pil_image.resize(tuple(x // 2 for x in pil_image.size), resample=Image.BOX)
    scale = image_size / min(*pil_image.size)
    pil_image = pil_image.resize(
        tuple(round(x * scale) for x in pil_image.size), resample=Image.BICUBIC
    )
    arr = np.array(pil_image)
    crop_y = (arr.shape[0] - image_size) // 2
    crop_x = (arr.shape[1] - image_size) // 2
    return arr[crop_y : crop_y + image_size, crop_x : crop_x + image_size]


def official_pixels(data: bytes, image_size: int) -> np.ndarray:
    """Image file bytes -> the HWC uint8 array the official pipeline crops (no EXIF, alpha dropped)."""
    with Image.open(io.BytesIO(data)) as im:
        return center_crop_arr(im.convert("RGB"), image_size)


def to_tensor_normalized(pixels: np.ndarray) -> torch.Tensor:
    """torchvision's ToTensor then Normalize(0.5, 0.5), in the same float32 operations."""
    t = torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1).contiguous()
    t = t.to(torch.float32).div(255)
    return t.sub_(torch.tensor(0.5)).div_(torch.tensor(0.5))


def normalize_table() -> np.ndarray:
    """The float32 value the official transform gives each byte value 0..255."""
    ramp = np.arange(256, dtype=np.uint8).reshape(1, 256, 1).repeat(3, axis=2)
    return to_tensor_normalized(ramp)[0, 0].numpy().astype("<f4")


def _scene(width: int, height: int, seed: int) -> np.ndarray:
    """A photo-like RGB test scene: gradients, a few sharp-edged shapes, fine stripes and mild noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    u, v = x / max(width - 1, 1), y / max(height - 1, 1)
    img = np.stack([200 * u + 30, 180 * v + 40, 120 * (1 - u) * v + 60], axis=-1)
    for _ in range(4):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        r = rng.uniform(0.1, 0.3) * min(width, height)
        disc = (x - cx) ** 2 + (y - cy) ** 2 < r * r
        img[disc] = rng.uniform(0, 255, 3)
    # Fine stripes and noise on the small images test rounding everywhere; the large ones get broad
    # stripes and no noise, which keeps their files small.
    small = width * height <= 10_000
    freq = 1.0 if small else 0.12
    img += 40 * np.sin(x * 1.3 * freq + y * 0.7 * freq)[..., None]
    if small:
        img += rng.normal(0, 6, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _png_rgb16(pixels: np.ndarray) -> bytes:
    """A 16-bit RGB PNG (Pillow writes none): PNG spec 11.2.2 IHDR, one IDAT of filter-0 rows, IEND."""
    height, width, _ = pixels.shape
    rows = b"".join(b"\x00" + pixels[y].astype(">u2").tobytes() for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def make_images(out: Path = FIXTURE_DIR) -> None:
    """Writes each case's source image (deterministic: seeded scenes, fixed encoder settings)."""
    out.mkdir(parents=True, exist_ok=True)
    for seed, (name, width, height, fmt, _size, _why) in enumerate(CASES):
        rgb = _scene(width, height, seed)
        if fmt == "png":
            Image.fromarray(rgb).save(out / f"{name}.png", optimize=True)
        elif fmt == "png-rgba":
            alpha = np.zeros((height, width), np.uint8)
            alpha[:, : width // 2] = 255
            alpha[height // 3 :, width // 2 :] = 96
            Image.fromarray(np.dstack([rgb, alpha])).save(out / f"{name}.png", optimize=True)
        elif fmt == "png-grey":
            Image.fromarray(rgb[..., 1]).save(out / f"{name}.png", optimize=True)
        elif fmt == "jpeg":
            Image.fromarray(rgb).save(out / f"{name}.jpg", quality=80)
        elif fmt == "png-palette":
            Image.fromarray(rgb).quantize(64, dither=Image.Dither.NONE).save(
                out / f"{name}.png", transparency=3, optimize=True
            )
        elif fmt == "png-rgb16":
            wide = rgb.astype(">u2") * 257 + np.random.default_rng(seed).integers(0, 256, rgb.shape)
            (out / f"{name}.png").write_bytes(_png_rgb16(wide.astype(">u2")))
        elif fmt == "png-la":
            alpha = np.tile(np.arange(width, dtype=np.uint8) * 4, (height, 1))
            Image.fromarray(np.dstack([rgb[..., 0], alpha]), "LA").save(out / f"{name}.png")
        elif fmt == "webp":
            Image.fromarray(rgb).save(out / f"{name}.webp", lossless=True)
        elif fmt == "jpeg-exif6":
            exif = Image.Exif()
            exif[0x0112] = 6
            Image.fromarray(rgb).save(out / f"{name}.jpg", quality=90, exif=exif)
        else:
            raise ValueError(f"unknown format {fmt!r}")


def source_path(name: str, fmt: str, base: Path = FIXTURE_DIR) -> Path:
    ext = "jpg" if fmt.startswith("jpeg") else "webp" if fmt == "webp" else "png"
    return base / f"{name}.{ext}"


def make_goldens(src: Path = FIXTURE_DIR, out: Path = FIXTURE_DIR) -> dict:
    """Runs the official transform on every source image; writes `<name>.golden.png` (the cropped
    uint8 pixels, lossless), `normalize.f32` (the 256-entry value table) and `goldens.json`."""
    out.mkdir(parents=True, exist_ok=True)
    cases = []
    for name, width, height, fmt, size, why in CASES:
        data = source_path(name, fmt, src).read_bytes()
        pixels = official_pixels(data, size)
        assert pixels.shape == (size, size, 3), (name, pixels.shape)
        Image.fromarray(pixels).save(out / f"{name}.golden.png", optimize=True)
        tensor = to_tensor_normalized(pixels)
        cases.append(
            {
                "name": name,
                "source": source_path(name, fmt, src).name,
                "width": width,
                "height": height,
                "size": size,
                "exercises": why,
                "pixels_sha256": hashlib.sha256(pixels.tobytes()).hexdigest(),
                "tensor_sha256": hashlib.sha256(tensor.numpy().astype("<f4").tobytes()).hexdigest(),
            }
        )
    (out / "normalize.f32").write_bytes(normalize_table().tobytes())
    manifest = {
        "recipe": "Image.open().convert('RGB'); center_crop_arr (ADM); ToTensor; Normalize(0.5, 0.5)",
        "pillow": Image.__version__,
        "cases": cases,
    }
    (out / "goldens.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", action="store_true", help="remake the source images first")
    parser.add_argument("--out", type=Path, default=FIXTURE_DIR)
    args = parser.parse_args()
    if args.images:
        make_images(args.out)
    manifest = make_goldens(args.out, args.out)
    print(f"{len(manifest['cases'])} goldens in {args.out} (Pillow {manifest['pillow']})")


if __name__ == "__main__":
    main()
