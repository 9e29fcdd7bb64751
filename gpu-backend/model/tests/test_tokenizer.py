"""The tokenizer's pieces behave as the public GigaTok code does."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from gigatok_model.configs import QFormerSize, covering_tokens, multi_level_blocks, tokenizer_config
from gigatok_model.export import smooth_images
from gigatok_model.tokenizer import (
    AdaptiveGroupNorm,
    GigaTok,
    QFormerDecoder,
    QFormerEncoder,
    depth_to_space,
    rotation_trick,
)


def reference_multi_level(x: torch.Tensor, n_level: int) -> torch.Tensor:
    """The public `sample_multi_level_1d_tokens`: avg_pool2d with kernel (H // rows, W // cols)
    per group, each group flattened row-major, groups concatenated coarse to fine."""
    groups = []
    for rows, cols in multi_level_blocks(n_level):
        pooled = F.avg_pool2d(x, kernel_size=(x.shape[2] // rows, x.shape[3] // cols))
        groups.append(pooled.flatten(2).transpose(1, 2))
    return torch.cat(groups, dim=1)


def test_multi_level_queries_equal_shape_derived_average_pooling():
    cfg = tokenizer_config("nano")
    enc = QFormerEncoder(cfg)
    x = torch.randn(3, cfg.grid_size**2, 5)
    grid = x.transpose(1, 2).reshape(3, 5, cfg.grid_size, cfg.grid_size)
    want = reference_multi_level(grid, cfg.num_levels)
    got = enc.multi_level_queries(x)
    assert got.shape == (3, cfg.num_latent_tokens, 5)
    torch.testing.assert_close(got, want)
    # Group 0 is the global mean; the last group's first block is the top-left corner.
    torch.testing.assert_close(got[:, 0], x.mean(dim=1))


def test_covering_tokens_point_each_grid_cell_at_the_finest_block_over_it():
    # nano: 32 tokens, the finest group is 16 tokens on a 4x4 block grid over the 8x8 cells.
    cover = covering_tokens(32, 8)
    assert len(cover) == 64
    assert cover[0] == cover[1] == cover[8] == cover[9] == 16  # top-left 2x2 cells: block 0
    assert cover[63] == 31 and cover[7] == 19 and cover[56] == 28
    # 64 tokens: the finest group is 32 blocks of 4 rows x 8 columns, each 2 cells tall.
    cover64 = covering_tokens(64, 8)
    assert cover64[:8] == list(range(32, 40)) and cover64[8:16] == list(range(32, 40))
    # The same blocks the encoder pools for its finest queries: a block's mean is its token's query.
    cfg = tokenizer_config("nano")
    x = torch.randn(1, 64, 3)
    finest = QFormerEncoder(cfg).multi_level_queries(x)[0, 16:]
    for token in range(16, 32):
        cells = [i for i, t in enumerate(cover) if t == token]
        torch.testing.assert_close(finest[token - 16], x[0, cells].mean(dim=0))


@pytest.mark.parametrize("init", ["first_token", "covering_token"])
def test_decoder_queries_start_from_the_configured_tokens(init):
    cfg = dataclasses.replace(
        tokenizer_config("nano"), decoder=QFormerSize(32, 0, 2), distill_depth=None, decoder_query_init=init
    )
    dec = QFormerDecoder(cfg).eval()
    z = torch.randn(2, cfg.z_channels, 1, cfg.num_latent_tokens)
    # With no layers the output is conv_out(ln_post(initial queries)).
    x = dec.decoder_embed(dec.ln_pre(z.flatten(2).transpose(1, 2)))
    src = covering_tokens(32, 8) if init == "covering_token" else [0] * 64
    q = dec.ln_post(x[:, src]).transpose(1, 2).reshape(2, 32, 8, 8)
    torch.testing.assert_close(dec(z)[0], dec.conv_out(q))


def test_an_unknown_decoder_query_init_is_refused():
    cfg = dataclasses.replace(tokenizer_config("nano"), decoder_query_init="learned")
    with pytest.raises(ValueError, match="decoder_query_init"):
        cfg.validate()


def test_depth_to_space_is_dcr_ordered():
    x = torch.randn(2, 12, 3, 4)  # 3 output channels, block 2
    y = depth_to_space(x, 2)
    assert y.shape == (2, 3, 6, 8)
    for i in range(2):
        for j in range(2):
            torch.testing.assert_close(y[:, :, i::2, j::2], x[:, (i * 2 + j) * 3 : (i * 2 + j + 1) * 3])


def test_adaptive_group_norm_scales_by_the_unbiased_std_of_the_style():
    torch.manual_seed(0)
    ada = AdaptiveGroupNorm(z_channels=4, channels=32)
    x, style = torch.randn(2, 32, 4, 4), torch.randn(2, 4, 3, 3)
    flat = style.flatten(2)
    scale = ada.gamma(torch.sqrt(flat.var(dim=-1, unbiased=True) + 1e-6))[..., None, None]
    bias = ada.beta(flat.mean(dim=-1))[..., None, None]
    want = scale * F.group_norm(x, 32, eps=1e-6) + bias
    torch.testing.assert_close(ada(x, style), want)


def test_tokens_are_the_nearest_codes_by_cosine():
    torch.manual_seed(0)
    tok = GigaTok(tokenizer_config("tiny")).eval()
    images = smooth_images(3, 16, torch.Generator().manual_seed(1))
    with torch.no_grad():
        h = tok.encode_latent(images)
        tokens = tok.encode(images)
    z = F.normalize(h.permute(0, 2, 3, 1).reshape(-1, h.shape[1]), dim=-1)
    cos = z @ F.normalize(tok.quantize.embedding.weight, dim=-1).t()
    assert tokens.dtype == torch.int64 and tokens.shape == (3, 8)
    assert torch.equal(tokens.reshape(-1), cos.argmax(dim=1))


def test_decode_maps_tokens_to_images_of_the_configured_size(tiny_models):
    tok, _ = tiny_models
    tokens = torch.randint(0, 64, (2, 8))
    with torch.no_grad():
        image = tok.decode(tokens)
        quant = tok.quantize.lookup(tokens)
    assert image.shape == (2, 3, 16, 16)
    # Looked-up codes are unit vectors laid out [B, d, 1, T] like the public latent.
    assert quant.shape == (2, 4, 1, 8)
    torch.testing.assert_close(quant.norm(dim=1), torch.ones(2, 1, 8))


def test_training_forward_returns_reconstruction_and_projected_decoder_features():
    torch.manual_seed(0)
    tok = GigaTok(tokenizer_config("tiny")).train()
    images = smooth_images(2, 16, torch.Generator().manual_seed(0))
    out = tok(images, return_inner=True)
    assert out.reconstruction.shape == images.shape
    assert out.inner_features.shape == (2, 64, 16)  # g*g = 8*8 queries, distill_dim 16
    assert out.quantized.indices.shape == (2, 8)
    assert int((tok.quantize.codebook_used != 0).sum()) > 0  # usage buffer recorded


def test_rotation_trick_keeps_the_code_value_and_passes_gradient_to_the_latent():
    torch.manual_seed(0)
    z = F.normalize(torch.randn(5, 4), dim=1).requires_grad_()
    q = F.normalize(torch.randn(5, 4), dim=1)
    out = rotation_trick(z, q)
    torch.testing.assert_close(out, q, atol=1e-5, rtol=1e-5)
    out.sum().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0
