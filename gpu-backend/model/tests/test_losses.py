"""Loss values on small known inputs, and where their gradients go."""

import math

import pytest
import torch
from torch import nn

from gigatok_model.configs import tokenizer_config
from gigatok_model.export import smooth_images
from gigatok_model.losses import (
    SemanticRegularizer,
    codebook_losses,
    entropy_loss,
    match_tokens,
    reconstruction_loss,
)
from gigatok_model.tokenizer import GigaTok


def test_codebook_and_commitment_losses_move_codes_and_encoder_separately():
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    z_q = torch.tensor([[0.0, 1.0], [0.0, 1.0]], requires_grad=True)
    codebook, commitment = codebook_losses(z, z_q, beta=0.25)
    assert codebook.item() == pytest.approx(0.5)  # (1 + 1 + 0 + 0) / 4
    assert commitment.item() == pytest.approx(0.125)
    codebook.backward(retain_graph=True)
    assert z.grad is None and z_q.grad.abs().sum() > 0
    z_q.grad = None
    commitment.backward()
    assert z_q.grad is None and z.grad.abs().sum() > 0


def test_entropy_loss_is_lowest_for_confident_and_diverse_assignments():
    k = 4
    uniform = entropy_loss(torch.zeros(k, k))
    collapsed = entropy_loss(torch.tensor([[1.0, 0, 0, 0]] * k))
    diverse = entropy_loss(torch.eye(k))
    # Uniform: per-sample entropy log 4, average entropy log(0.25 + 1e-5) -> about 0.
    assert uniform.item() == pytest.approx(math.log(4) + math.log(0.25 + 1e-5), abs=1e-6)
    assert collapsed.item() == pytest.approx(0.0, abs=1e-4)
    assert diverse.item() == pytest.approx(-math.log(4), abs=1e-3)


def test_entropy_temperature_sharpens_the_assignment():
    affinity = torch.tensor([[0.02, 0.0], [0.0, 0.02]])
    assert entropy_loss(affinity, 0.01).item() < entropy_loss(affinity, 1.0).item()


def test_reconstruction_loss_is_the_mean_squared_error():
    a = torch.zeros(1, 3, 2, 2)
    b = torch.full((1, 3, 2, 2), 0.5)
    assert reconstruction_loss(a, b).item() == pytest.approx(0.25)


def test_teacher_tokens_are_area_averaged_to_the_decoder_grid():
    feats = torch.arange(16.0).reshape(1, 16, 1)  # 4x4 grid, row-major
    pooled = match_tokens(feats, 4)
    assert pooled.flatten().tolist() == [2.5, 4.5, 10.5, 12.5]
    assert match_tokens(feats, 64).shape == (1, 64, 1)
    with pytest.raises(ValueError, match="square"):
        match_tokens(feats, 8)


class PatchTeacher(nn.Module):
    """A stand-in teacher with DINO's interface: image -> [B, N, C] patch features."""

    def __init__(self, dim: int, patch: int):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, patch, stride=patch)

    def forward(self, image):
        return self.proj(image).flatten(2).transpose(1, 2)


def test_semantic_loss_is_minus_the_mean_cosine():
    feats = torch.randn(2, 4, 8)
    reg = SemanticRegularizer(lambda image: feats)
    assert reg(torch.zeros(2, 3, 4, 4), feats).item() == pytest.approx(-1.0)
    assert reg(torch.zeros(2, 3, 4, 4), -feats).item() == pytest.approx(1.0)


def test_semantic_regularization_trains_the_tokenizer_and_never_the_teacher():
    torch.manual_seed(0)
    tok = GigaTok(tokenizer_config("tiny")).train()
    teacher = PatchTeacher(dim=16, patch=1)  # 16x16 patches, pooled down to the 8x8 queries
    before = [p.clone() for p in teacher.parameters()]
    reg = SemanticRegularizer(teacher).train()
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    images = smooth_images(2, 16, torch.Generator().manual_seed(0))
    out = tok(images, return_inner=True)
    loss = reg(images, out.inner_features)
    opt = torch.optim.SGD(list(tok.parameters()) + list(reg.parameters()), lr=1.0)
    loss.backward()
    opt.step()
    dec = tok.s1to2decoder
    # distill_depth 1: the first decoder layer and the projector learn, later layers and the CNN
    # decoder get no gradient from this loss; the teacher is untouched.
    assert dec.transformer[0].linear1.weight.grad.abs().sum() > 0
    assert dec.distill_mlp[0].weight.grad.abs().sum() > 0
    assert dec.transformer[1].linear1.weight.grad is None
    assert tok.decoder.conv_out.weight.grad is None
    assert all(torch.equal(a, b) for a, b in zip(before, teacher.parameters(), strict=True))
    assert all(p.grad is None for p in teacher.parameters())


def test_full_tokenizer_losses_reach_codebook_and_encoder():
    torch.manual_seed(0)
    tok = GigaTok(tokenizer_config("tiny")).train()
    images = smooth_images(2, 16, torch.Generator().manual_seed(0))
    out = tok(images)
    q = out.quantized
    codebook, commitment = codebook_losses(q.z, q.z_q)
    total = reconstruction_loss(images, out.reconstruction) + codebook + commitment
    total = total + 0.005 * entropy_loss(-q.distances)
    total.backward()
    assert tok.quantize.embedding.weight.grad.abs().sum() > 0
    assert tok.encoder.conv_in.weight.grad.abs().sum() > 0
    assert tok.decoder.conv_out.weight.grad.abs().sum() > 0
