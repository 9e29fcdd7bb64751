"""The nano data set: source digits, palette contrast, and the documented seeded split."""

import numpy as np
import pytest

from gigatok_model.nano import data as nd

# The split is part of docs/default-model.md: a change here is a change of the published numbers.
TEST_INDEX_SHA256 = "2606cd70c5cff2cfd2db10117cb7337225f96fd2f50913427f74bbe9e359a89f"


@pytest.fixture(scope="module")
def nano():
    return nd.build()


def test_builds_ten_thousand_rgb_32x32_digits(nano):
    assert nano.images.shape == (10_000, 3, 32, 32)
    assert nano.images.dtype == np.uint8
    assert np.bincount(nano.labels).tolist() == [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]


def test_split_is_9000_1000_disjoint_and_stratified(nano):
    assert len(nano.train_idx) == 9000 and len(nano.test_idx) == 1000
    assert not set(nano.train_idx.tolist()) & set(nano.test_idx.tolist())
    share = np.bincount(nano.labels[nano.test_idx], minlength=10) / np.bincount(nano.labels)
    assert np.all(np.abs(share - 0.1) < 0.001)


def test_split_matches_the_documented_digest(nano):
    assert nd.index_digest(nano.test_idx) == TEST_INDEX_SHA256


def test_every_palette_pair_has_high_contrast_and_both_polarities_occur(nano):
    fg, bg = nano.palette[:, 0], nano.palette[:, 1]
    assert nd.contrast_ratio(fg, bg).min() >= nd.MIN_CONTRAST
    fg_lighter = nd._srgb_luminance(fg) > nd._srgb_luminance(bg)
    assert 0 < fg_lighter.sum() < len(fg_lighter)


def test_pixels_blend_between_the_pair_colours(nano):
    i = int(nano.train_idx[0])
    fg, bg = nano.palette[nano.pair_idx[i]].astype(int)
    img = nano.images[i].astype(int)
    # The 2-pixel border is padding: pure background colour.
    assert np.array_equal(img[:, 0, 0], bg) and np.array_equal(img[:, -1, -1], bg)
    # The darkest-to-brightest ink pixel reaches the foreground colour.
    dist_fg = np.abs(img - fg[:, None, None]).sum(0)
    assert dist_fg.min() <= 3


def test_model_input_round_trips_through_the_backend_mapping():
    u8 = np.arange(256, dtype=np.uint8).reshape(1, 1, 16, 16)
    assert np.array_equal(nd.to_uint8(nd.to_model_input(u8)), u8)
