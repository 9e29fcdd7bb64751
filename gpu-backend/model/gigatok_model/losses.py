"""Tokenizer training losses: codebook/commitment, entropy, semantic regularization, L2 reconstruction.

Definitions follow the GigaTok paper (Sec. 3) and its public `vq_vit_model.py` / `vq_loss.py`;
perceptual and adversarial losses are out of scope here.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


def codebook_losses(
    z: torch.Tensor, z_q: torch.Tensor, beta: float = 0.25
) -> tuple[torch.Tensor, torch.Tensor]:
    """VQ-VAE codebook and commitment losses on unit vectors [n, d].

    codebook = mean((z_q - sg[z])^2) moves the codes; commitment = beta * mean((sg[z_q] - z)^2)
    moves the encoder (beta 0.25 in every GigaTok config)."""
    codebook = torch.mean((z_q - z.detach()) ** 2)
    commitment = beta * torch.mean((z_q.detach() - z) ** 2)
    return codebook, commitment


def entropy_loss(affinity: torch.Tensor, temperature: float = 0.01) -> torch.Tensor:
    """Per-sample entropy minus codebook-average entropy of softmax(affinity / temperature).

    Low per-sample entropy = confident assignment; high average entropy = many codes used.
    GigaTok applies it (ratio 0.005, temperature 0.01) with affinity = -distance for XL-XXL."""
    logits = affinity.reshape(-1, affinity.shape[-1]) / temperature
    probs = F.softmax(logits, dim=-1)
    log_probs = F.log_softmax(logits, dim=-1)
    sample_entropy = -torch.mean(torch.sum(probs * log_probs, dim=-1))
    avg_probs = probs.mean(dim=0)
    # The 1e-5 inside the log is the public implementation's; it keeps log(0) finite.
    avg_entropy = -torch.sum(avg_probs * torch.log(avg_probs + 1e-5))
    return sample_entropy - avg_entropy


def reconstruction_loss(image: torch.Tensor, reconstruction: torch.Tensor) -> torch.Tensor:
    """L2 pixel loss (GigaTok `reconstruction_loss: "l2"`), mean over all elements."""
    return F.mse_loss(reconstruction, image)


Teacher = Callable[[torch.Tensor], torch.Tensor]
"""A frozen feature extractor: image [B,3,H,W] in [-1,1] -> patch features [B, N, C]."""


def match_tokens(features: torch.Tensor, n: int) -> torch.Tensor:
    """Resample square-grid token features [B, N, C] to [B, n, C] (area average when shrinking,
    bilinear when growing), so any teacher grid can supervise the decoder's g x g queries."""
    b, m, c = features.shape
    if m == n:
        return features
    src, dst = round(m**0.5), round(n**0.5)
    if src * src != m or dst * dst != n:
        raise ValueError(f"cannot match {m} teacher tokens to {n}: both must be square grids")
    grid = features.transpose(1, 2).reshape(b, c, src, src)
    if dst < src:
        grid = F.adaptive_avg_pool2d(grid, dst)
    else:
        grid = F.interpolate(grid, size=(dst, dst), mode="bilinear", align_corners=False)
    return grid.flatten(2).transpose(1, 2)


class SemanticRegularizer(nn.Module):
    """Pulls the tokenizer's projected decoder features towards a frozen teacher's (GigaTok
    Sec. 3.2, REPA-style): loss = -mean cosine similarity over batch and tokens.

    The teacher is any callable image -> [B, N, C] (DINOv2 ViT-B/14 in the paper); its
    parameters, if it is a module, are frozen here and it always runs in eval mode without grad.
    """

    def __init__(self, teacher: Teacher):
        super().__init__()
        self.teacher = teacher
        if isinstance(teacher, nn.Module):
            teacher.eval()
            teacher.requires_grad_(False)

    def train(self, mode: bool = True):
        super().train(mode)
        if isinstance(self.teacher, nn.Module):
            self.teacher.eval()
        return self

    @torch.no_grad()
    def target(self, image: torch.Tensor, n_tokens: int) -> torch.Tensor:
        return match_tokens(self.teacher(image).float(), n_tokens)

    def forward(self, image: torch.Tensor, projected: torch.Tensor) -> torch.Tensor:
        """projected: tokenizer `inner_features` [B, n, C] (after distill_mlp)."""
        target = self.target(image, projected.shape[1])
        if target.shape != projected.shape:
            raise ValueError(
                f"teacher features {tuple(target.shape)} do not match {tuple(projected.shape)}"
            )
        cos = F.cosine_similarity(projected.float(), target, dim=-1)
        return -cos.mean()
