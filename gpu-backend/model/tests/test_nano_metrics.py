"""PSNR, SSIM and Fréchet distance of the nano evaluation against values known in closed form."""

import numpy as np

from gigatok_model.nano import metrics


def test_psnr_of_a_constant_offset_is_known():
    ref = np.full((2, 3, 8, 8), 100, np.uint8)
    # MSE 25 -> 10 log10(255^2 / 25) = 34.15 dB
    assert abs(metrics.psnr(ref, ref + 5) - 34.1514) < 1e-3


def test_ssim_is_one_for_identical_images_and_drops_with_noise():
    rng = np.random.default_rng(0)
    ref = rng.integers(0, 256, (4, 3, 32, 32)).astype(np.uint8)
    assert abs(metrics.ssim(ref, ref) - 1.0) < 1e-9
    noisy = np.clip(ref + rng.normal(0, 40, ref.shape), 0, 255).astype(np.uint8)
    assert metrics.ssim(ref, noisy) < 0.9


def test_frechet_distance_of_gaussians_matches_closed_form():
    rng = np.random.default_rng(1)
    a = rng.normal(0, 1, (20000, 4))
    b = rng.normal(0, 2, (20000, 4)) + 1.0
    # |mu|^2 = 4; per dim 1 + 4 - 2*sqrt(1*4) = 1 -> 4; total 8.
    assert abs(metrics.frechet_distance(a, b) - 8.0) < 0.3
    assert abs(metrics.frechet_distance(a, a)) < 1e-6
