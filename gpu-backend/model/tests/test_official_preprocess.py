"""The preprocessing goldens are Pillow's output for the committed images, and stay so.

Regenerates every golden from the committed source images with the official recipe and compares it to
the committed one (pixels, tensor hashes, the normalisation table), so the goldens the backend's
TypeScript test is held to cannot drift from what the official code computes.
"""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from gigatok_model.official_preprocess import (
    CASES,
    FIXTURE_DIR,
    center_crop_arr,
    make_goldens,
    normalize_table,
    official_pixels,
    to_tensor_normalized,
)

COMMITTED = json.loads((FIXTURE_DIR / "goldens.json").read_text())


def test_every_case_is_committed():
    assert [c["name"] for c in COMMITTED["cases"]] == [c[0] for c in CASES]


@pytest.mark.parametrize("case", COMMITTED["cases"], ids=lambda c: c["name"])
def test_regenerated_golden_equals_the_committed_one(case):
    data = (FIXTURE_DIR / case["source"]).read_bytes()
    pixels = official_pixels(data, case["size"])
    committed = np.array(Image.open(FIXTURE_DIR / f"{case['name']}.golden.png"))
    assert committed.shape == (case["size"], case["size"], 3)
    assert np.array_equal(pixels, committed)
    assert hashlib.sha256(pixels.tobytes()).hexdigest() == case["pixels_sha256"]
    tensor = to_tensor_normalized(pixels).numpy().astype("<f4")
    assert hashlib.sha256(tensor.tobytes()).hexdigest() == case["tensor_sha256"]


def test_regenerating_writes_the_same_manifest(tmp_path):
    manifest = make_goldens(FIXTURE_DIR, tmp_path)
    assert manifest["cases"] == COMMITTED["cases"]
    assert (tmp_path / "normalize.f32").read_bytes() == (FIXTURE_DIR / "normalize.f32").read_bytes()


def test_normalize_table_is_to_tensor_then_normalize():
    table = normalize_table()
    assert table.dtype == np.float32 and table.shape == (256,)
    assert table[0] == -1.0 and table[255] == 1.0
    # x / 127.5 - 1 computed in float64 and rounded once differs by one float32 ulp for some bytes:
    # the backend must use torch's float32 steps, which this table records.
    rounded_once = (np.arange(256) / 127.5 - 1).astype(np.float32)
    assert 0 < int((table != rounded_once).sum()) <= 128
    assert float(np.abs(table - rounded_once).max()) < 1e-7


def test_the_cases_cover_each_branch_of_the_recipe():
    odd = even = halved = enlarged = portrait = landscape = 0
    for name, width, height, fmt, size, _why in CASES:
        w, h = width, height
        halvings = 0
        while min(w, h) >= 2 * size:
            w, h, halvings = w // 2, h // 2, halvings + 1
        scale = size / min(w, h)
        rw, rh = round(w * scale), round(h * scale)
        overhang = max(rw, rh) - size
        odd += overhang % 2 == 1
        even += overhang > 0 and overhang % 2 == 0
        halved += halvings > 0
        enlarged += scale > 1
        portrait += height > width
        landscape += width > height
    assert min(odd, even, halved, enlarged, portrait, landscape) >= 2


def test_center_crop_arr_floors_the_offset_of_an_odd_overhang():
    # 5 columns 0..4 cropped to 4: the offset is (5 - 4) // 2 = 0, so column 4 is the one dropped.
    arr = np.zeros((4, 5, 3), np.uint8)
    arr[:, :, 0] = np.arange(5, dtype=np.uint8) * 50
    out = center_crop_arr(Image.fromarray(arr), 4)
    assert out[0, :, 0].tolist() == [0, 50, 100, 150]


def test_official_reading_ignores_exif_and_drops_alpha():
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 200
    buf = io.BytesIO()
    Image.fromarray(rgba).save(buf, format="PNG")
    pixels = official_pixels(buf.getvalue(), 8)
    assert pixels[..., 0].min() == 200 and pixels[..., 1].max() == 0
    assert torch.equal(to_tensor_normalized(pixels)[1], torch.full((8, 8), -1.0))
