"""Configurations for every GigaTok tokenizer and AR generator size this project knows.

Released sizes follow the public GigaTok configs (configs/vq/VQ_*256.yaml) and the LlamaGen /
GigaTok `gpt_1d.py` size table; `tiny` exists for tests and `nano` is the default served model.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class QFormerSize:
    """Width / depth / heads of one Q-Former (the 1D encoder or the 2D decoder)."""

    width: int
    layers: int
    heads: int


# Q-Former sizes by name, as in the public ViTEncoder / ViTDecoder size tables.
QFORMER_SIZES: dict[str, QFormerSize] = {
    "tiny": QFormerSize(256, 4, 4),
    "small": QFormerSize(512, 6, 8),
    "base": QFormerSize(768, 12, 12),
    "large": QFormerSize(1024, 24, 16),
    "xl": QFormerSize(1280, 36, 20),
    "xxl": QFormerSize(1536, 48, 24),
}


@dataclass(frozen=True)
class TokenizerConfig:
    """The hybrid CNN + Q-Former 1D tokenizer (GigaTok `VQVitModelPlus`)."""

    name: str
    image_size: int = 256
    codebook_size: int = 16384
    codebook_dim: int = 8
    num_latent_tokens: int = 256
    z_channels: int = 256
    cnn_channels: int = 128
    encoder_ch_mult: tuple[int, ...] = (1, 1, 2, 2, 4)
    decoder_ch_mult: tuple[int, ...] = (1, 1, 2, 2, 4)
    num_res_blocks: int = 2
    encoder: QFormerSize = QFORMER_SIZES["small"]
    decoder: QFormerSize = QFORMER_SIZES["small"]
    mlp_ratio: float = 4.0
    dropout: float = 0.0
    # Semantic regularization (GigaTok Sec. 3.2): the decoder Q-Former's output after layer
    # `distill_depth` goes through `distill_mlp` to `distill_dim` (768 = DINOv2 ViT-B).
    distill_depth: int | None = 3
    distill_dim: int = 768
    # Quantizer: the public model keeps a 65536-entry ring buffer of recent indices
    # (`codebook_used`) to report codebook usage; it is part of the checkpoint.
    usage_window: int = 65536
    commit_beta: float = 0.25
    entropy_loss_ratio: float = 0.0
    entropy_temperature: float = 0.01
    rotation_trick: bool = True
    # How the decoder Q-Former's g x g queries start: "first_token" (every query is the first
    # latent token, as in the public ViTDecoder) or "covering_token" (each query is the finest-level
    # token whose multi-level block covers its grid cell: the mirror of the encoder's multi-level
    # query init, which gives a 2D position a local path from the start; see nano/train_tokenizer).
    decoder_query_init: str = "first_token"

    @property
    def encoder_downsample(self) -> int:
        return 2 ** (len(self.encoder_ch_mult) - 1)

    @property
    def decoder_upsample(self) -> int:
        return 2 ** (len(self.decoder_ch_mult) - 1)

    @property
    def grid_size(self) -> int:
        """Side of the 2D patch grid seen by both Q-Formers."""
        return self.image_size // self.encoder_downsample

    @property
    def num_levels(self) -> int:
        """Multi-level query init splits T = 2^n tokens into groups of 1, 1, 2, ..., 2^(n-1)."""
        return self.num_latent_tokens.bit_length() - 1

    def validate(self) -> None:
        t = self.num_latent_tokens
        if t < 2 or t & (t - 1):
            raise ValueError(f"'num_latent_tokens' must be a power of two >= 2, got {t}")
        if self.encoder_downsample != self.decoder_upsample:
            raise ValueError("encoder and decoder must scale by the same factor")
        if self.image_size % self.encoder_downsample:
            raise ValueError("'image_size' must be divisible by the CNN downsampling factor")
        for h_blocks, w_blocks in multi_level_blocks(self.num_levels):
            if self.grid_size % h_blocks or self.grid_size % w_blocks:
                raise ValueError(
                    f"grid {self.grid_size}x{self.grid_size} cannot be split into "
                    f"{h_blocks}x{w_blocks} blocks for {t} tokens"
                )
        if self.decoder_query_init not in ("first_token", "covering_token"):
            raise ValueError(
                f"'decoder_query_init' must be 'first_token' or 'covering_token', "
                f"got {self.decoder_query_init!r}"
            )
        for q in (self.encoder, self.decoder):
            if q.width % q.heads:
                raise ValueError(f"Q-Former width {q.width} not divisible by {q.heads} heads")
        if self.distill_depth is not None and not 1 <= self.distill_depth <= self.decoder.layers:
            raise ValueError(f"'distill_depth' must be in [1, {self.decoder.layers}]")


def covering_tokens(num_latent_tokens: int, grid: int) -> list[int]:
    """For each cell of the row-major g x g grid, the index of the finest-level token whose
    multi-level block (see `multi_level_blocks`) covers it."""
    num_levels = num_latent_tokens.bit_length() - 1
    rows, cols = multi_level_blocks(num_levels)[-1]
    offset = num_latent_tokens - rows * cols
    return [
        offset + (r * rows // grid) * cols + (c * cols // grid) for r in range(grid) for c in range(grid)
    ]


def multi_level_blocks(num_levels: int) -> list[tuple[int, int]]:
    """(rows, cols) of the pooling grid for each token group, coarse to fine.

    Group 0 and 1 are both the global average; group g >= 1 uses level g-1, which splits the width
    first: level l has 2^((l+1)//2) columns and 2^(l//2) rows (public `sample_multi_level_1d_tokens`,
    first_grow="row"). The groups hold 1 + 1 + 2 + ... + 2^(n-1) = 2^n tokens.
    """
    blocks = []
    for group in range(num_levels + 1):
        level = max(group - 1, 0)
        blocks.append((2 ** (level // 2), 2 ** ((level + 1) // 2)))
    return blocks


@dataclass(frozen=True)
class ARConfig:
    """LlamaGen-style class-conditional GPT (GigaTok `gpt_1d.Transformer`, c2i, no rope)."""

    name: str
    dim: int
    n_layer: int
    n_head: int
    vocab_size: int = 16384
    block_size: int = 256
    num_classes: int = 1000
    multiple_of: int = 256
    ffn_dim_multiplier: float | None = None
    norm_eps: float = 1e-5
    class_dropout_prob: float = 0.1
    token_dropout_p: float = 0.1
    resid_dropout_p: float = 0.1
    ffn_dropout_p: float = 0.1
    attn_dropout_p: float = 0.0

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_head

    @property
    def null_class_id(self) -> int:
        return self.num_classes

    @property
    def ffn_hidden(self) -> int:
        """SwiGLU hidden size: 2/3 of 4*dim, rounded up to `multiple_of` (LlamaGen FeedForward)."""
        hidden = int(2 * (4 * self.dim) / 3)
        if self.ffn_dim_multiplier is not None:
            hidden = int(self.ffn_dim_multiplier * hidden)
        rem = hidden % self.multiple_of
        return hidden if rem == 0 else hidden + self.multiple_of - rem

    @property
    def embedding_layer(self) -> int:
        """Layer whose mean hidden state is the AR representation (GigaTok linear probe)."""
        return self.n_layer // 2

    def validate(self) -> None:
        if self.dim % self.n_head:
            raise ValueError(f"'dim' {self.dim} not divisible by 'n_head' {self.n_head}")


def _released_tokenizer(name: str, enc: str, dec: str, **kw) -> TokenizerConfig:
    return TokenizerConfig(
        name=name, encoder=QFORMER_SIZES[enc], decoder=QFORMER_SIZES[dec], **kw
    )


TOKENIZER_CONFIGS: dict[str, TokenizerConfig] = {
    # configs/vq/VQ_SS256.yaml, VQ_SB256.yaml, VQ_BL256.yaml, VQ_XLXXL256.yaml
    "S-S": _released_tokenizer("S-S", "small", "small"),
    "S-B": _released_tokenizer("S-B", "small", "base"),
    "B-L": _released_tokenizer("B-L", "base", "large"),
    "XL-XXL": _released_tokenizer("XL-XXL", "xl", "xxl", entropy_loss_ratio=0.005),
    # Default served model: 32x32 RGB, CNN x4 down -> 8x8 = 64 patch features, 32 tokens,
    # codebook 1024 x 8, small Q-Formers.
    "nano": TokenizerConfig(
        name="nano",
        image_size=32,
        codebook_size=1024,
        codebook_dim=8,
        num_latent_tokens=32,
        z_channels=128,
        # 64, not 32: with GroupNorm(32) a 32-channel level normalises every channel on its own,
        # and the decoder's final norm then cannot carry an image's flat background colour
        # (nano's coloured digits stall at the mean image); 64 gives groups of 2.
        cnn_channels=64,
        # Flat channel multipliers keep the exported fp32 graphs under the 20 MiB budget of the
        # shipped default model ((1, 1, 2) makes them 27.5 MB: the 128-channel 8x8 level holds
        # most of the CNN weights while costing little compute).
        encoder_ch_mult=(1, 1, 1),
        decoder_ch_mult=(1, 1, 1),
        num_res_blocks=1,
        encoder=QFormerSize(128, 2, 4),
        decoder=QFormerSize(128, 4, 4),
        distill_depth=2,
        # The nano teacher (gigatok_model/nano/teacher.py) has 128-wide 8x8 features.
        distill_dim=128,
        usage_window=8192,
        # The decoder's 2D queries start from the token covering each cell, not all from the first
        # token: with the first token, spatial detail waits for attention to learn position routing
        # and a CPU-hour run stalls at the mean digit shape (17.9 dB, teacher reads 27% of the
        # reconstructions); see gigatok_model/nano/train_tokenizer.py.
        decoder_query_init="covering_token",
    ),
    # Test-only: everything as small as the architecture allows (GroupNorm needs 32 channels).
    "tiny": TokenizerConfig(
        name="tiny",
        image_size=16,
        codebook_size=64,
        codebook_dim=4,
        num_latent_tokens=8,
        z_channels=16,
        cnn_channels=32,
        encoder_ch_mult=(1, 1),
        decoder_ch_mult=(1, 1),
        num_res_blocks=0,
        encoder=QFormerSize(32, 1, 2),
        decoder=QFormerSize(32, 2, 2),
        distill_depth=1,
        distill_dim=16,
        usage_window=256,
    ),
}


AR_CONFIGS: dict[str, ARConfig] = {
    # gpt_1d.py: GPT_B 12/12/768, GPT_L 24/16/1024, GPT_XL 36/20/1280, GPT_XXL 48/24/1536
    "GPT-B": ARConfig("GPT-B", dim=768, n_layer=12, n_head=12),
    "GPT-L": ARConfig("GPT-L", dim=1024, n_layer=24, n_head=16),
    "GPT-XL": ARConfig("GPT-XL", dim=1280, n_layer=36, n_head=20),
    "GPT-XXL": ARConfig("GPT-XXL", dim=1536, n_layer=48, n_head=24),
    "gpt-nano": ARConfig(
        "gpt-nano", dim=128, n_layer=4, n_head=4, vocab_size=1024, block_size=32, num_classes=10
    ),
    "gpt-tiny": ARConfig(
        "gpt-tiny",
        dim=32,
        n_layer=2,
        n_head=2,
        vocab_size=64,
        block_size=8,
        num_classes=4,
        multiple_of=32,
    ),
}


def tokenizer_config(name: str) -> TokenizerConfig:
    try:
        cfg = TOKENIZER_CONFIGS[name]
    except KeyError:
        raise ValueError(
            f"unknown tokenizer config {name!r}; valid: {', '.join(TOKENIZER_CONFIGS)}"
        ) from None
    cfg.validate()
    return cfg


def ar_config(name: str, tokenizer: TokenizerConfig | None = None, **overrides) -> ARConfig:
    """An AR config; with `tokenizer`, vocab and sequence length follow that tokenizer."""
    try:
        cfg = AR_CONFIGS[name]
    except KeyError:
        raise ValueError(f"unknown AR config {name!r}; valid: {', '.join(AR_CONFIGS)}") from None
    if tokenizer is not None:
        overrides.setdefault("vocab_size", tokenizer.codebook_size)
        overrides.setdefault("block_size", tokenizer.num_latent_tokens)
    cfg = dataclasses.replace(cfg, **overrides)
    cfg.validate()
    return cfg


def is_imagenet(ar: ARConfig) -> bool:
    return ar.name.startswith("GPT-")
