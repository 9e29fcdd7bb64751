"""Image metrics for the nano evaluation: PSNR, SSIM (Wang et al. 2004) and the Fréchet distance.

All take uint8 images [N, 3, H, W] (what the backend serves after clamping and rounding), so the
numbers describe the images a user actually receives.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def psnr(ref: np.ndarray, test: np.ndarray) -> float:
    """Mean over images of 10 log10(255^2 / MSE), MSE over all pixels and channels of one image."""
    diff = ref.astype(np.float64) - test.astype(np.float64)
    mse = np.maximum((diff**2).reshape(len(ref), -1).mean(axis=1), 1e-10)
    return float(np.mean(10.0 * np.log10(255.0**2 / mse)))


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def ssim(ref: np.ndarray, test: np.ndarray) -> float:
    """Mean SSIM: 11x11 Gaussian window (sigma 1.5), K1 0.01, K2 0.03, L 255, valid positions only,
    each channel separately, averaged over positions, channels and images."""
    a = torch.from_numpy(ref.astype(np.float64))
    b = torch.from_numpy(test.astype(np.float64))
    n, c, h, w = a.shape
    a, b = a.reshape(n * c, 1, h, w), b.reshape(n * c, 1, h, w)
    win = _gaussian_window()
    mu_a, mu_b = F.conv2d(a, win), F.conv2d(b, win)
    var_a = F.conv2d(a * a, win) - mu_a**2
    var_b = F.conv2d(b * b, win) - mu_b**2
    cov = F.conv2d(a * b, win) - mu_a * mu_b
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(s.mean())


def frechet_distance(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) between Gaussians fitted to features
    (Heusel et al. 2017). Tr((S_a S_b)^(1/2)) is computed as the sum of square roots of the
    eigenvalues of the symmetric PSD matrix S_a^(1/2) S_b S_a^(1/2), which has the same spectrum."""
    a, b = feats_a.astype(np.float64), feats_b.astype(np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    ev, vec = np.linalg.eigh(s_a)
    root_a = (vec * np.sqrt(np.clip(ev, 0, None))) @ vec.T
    middle = root_a @ s_b @ root_a
    tr_root = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * tr_root)
