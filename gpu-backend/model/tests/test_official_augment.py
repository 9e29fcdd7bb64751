"""The augmentation goldens are the official extractor's views of the committed images, and stay so.

Regenerates the goldens with the extractor's recipe (official_augment.py) and compares them to the
committed ones the backend's TypeScript test is held to; checks the TenCrop written with PIL and numpy
against torchvision's definition on an image whose pixels name their coordinates.
"""

from __future__ import annotations

import json

import numpy as np
import torch
from PIL import Image

from gigatok_model.official_augment import (
    AUGMENT_CASES,
    VIEWS,
    five_crop,
    make_augment_goldens,
    official_views,
    ten_crop,
)
from gigatok_model.official_preprocess import FIXTURE_DIR, center_crop_arr, official_pixels

COMMITTED = json.loads((FIXTURE_DIR / "augment-goldens.json").read_text())


def _coordinates(side: int) -> Image.Image:
    """A side x side image whose pixel (x, y) holds [x, y, 7]."""
    y, x = np.mgrid[0:side, 0:side]
    return Image.fromarray(np.dstack([x, y, np.full_like(x, 7)]).astype(np.uint8))


def test_regenerating_writes_the_committed_goldens(tmp_path):
    manifest = make_augment_goldens(FIXTURE_DIR, tmp_path)
    assert manifest == COMMITTED
    assert [(c["name"], c["augment"]) for c in COMMITTED["cases"]] == [
        (name, aug) for name in AUGMENT_CASES for aug in VIEWS
    ]


def test_flip_views_are_the_official_crop_and_its_mirror():
    case = next(c for c in COMMITTED["cases"] if c["augment"] == "flip")
    data = (FIXTURE_DIR / case["source"]).read_bytes()
    pixels, tensors = official_views(data, case["size"], "flip")
    assert np.array_equal(pixels[0], official_pixels(data, case["size"]))
    assert np.array_equal(pixels[1], pixels[0][:, ::-1])
    # Flipping the normalised tensor (the extractor) equals normalising the flipped pixels.
    assert torch.equal(tensors[1], torch.flip(tensors[0], dims=[-1]))


def test_ten_crop_cuts_from_the_1_1x_centre_crop():
    case = next(c for c in COMMITTED["cases"] if c["augment"] == "ten_crop" and c["size"] == 256)
    assert case["source_side"] == 281
    data = (FIXTURE_DIR / case["source"]).read_bytes()
    pixels, _ = official_views(data, 256, "ten_crop")
    big = official_pixels(data, 281)
    assert np.array_equal(pixels[0], big[:256, :256])
    assert np.array_equal(pixels[3], big[25:, 25:])


def test_five_crop_order_and_centre_rounding_follow_torchvision():
    views = five_crop(_coordinates(35), 32)
    # [x, y] of each view's top-left pixel: tl, tr, bl, br, centre at int(round(1.5)) = 2.
    assert [v[0, 0, :2].tolist() for v in views] == [[0, 0], [3, 0], [0, 3], [3, 3], [2, 2]]
    # 281 -> 256: round(12.5) is 12 (ties to even), as torchvision's center_crop computes it.
    assert five_crop(_coordinates(281), 256)[4][0, 0, :2].tolist() == [12, 12]


def test_ten_crop_is_five_crop_then_five_crop_of_the_mirror():
    views = ten_crop(_coordinates(35), 32)
    assert len(views) == 10
    assert [v[0, 0, :2].tolist() for v in views[5:]] == [[34, 0], [31, 0], [34, 3], [31, 3], [32, 2]]


def test_center_crop_arr_at_the_crop_range_is_the_official_source():
    img = _coordinates(40)
    assert center_crop_arr(img, int(32 * 1.1)).shape == (35, 35, 3)
