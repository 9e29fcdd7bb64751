"""The GigaTok hybrid 1D tokenizer: CNN encoder -> Q-Former -> l2-normalised VQ -> Q-Former -> CNN decoder.

Module and parameter names follow the public `VQVitModelPlus` (SilentView/GigaTok,
tokenizer/tokenizer_image/vq/) so an official checkpoint loads with `strict=True`. Written so both
ONNX exporters can trace it: no data-dependent Python branches, pooling sizes from the config.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .configs import QFormerSize, TokenizerConfig, covering_tokens, multi_level_blocks


def group_norm(channels: int) -> nn.GroupNorm:
    # 32 groups, eps 1e-6, as the taming-transformers CNNs GigaTok builds on.
    return nn.GroupNorm(num_groups=32, num_channels=channels, eps=1e-6, affine=True)


class ResnetBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, dropout: float = 0.0):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.norm1 = group_norm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = group_norm(out_channels)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        if in_channels != out_channels:
            self.nin_shortcut = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        if self.in_channels != self.out_channels:
            x = self.nin_shortcut(x)
        return x + h


class Downsample(nn.Module):
    """Stride-2 3x3 conv with the asymmetric (right/bottom) zero pad of taming-transformers."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


def depth_to_space(x: torch.Tensor, block: int) -> torch.Tensor:
    """DCR depth-to-space ([B, b*b*C, H, W] -> [B, C, bH, bW]), the same as ONNX DepthToSpace DCR."""
    _, c, h, w = x.shape
    out_c = c // (block * block)
    x = x.reshape(-1, block, block, out_c, h, w).permute(0, 3, 4, 1, 5, 2)
    return x.reshape(-1, out_c, h * block, w * block)


class D2SUpsampler(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels * 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return depth_to_space(self.conv1(x), 2)


class AdaptiveGroupNorm(nn.Module):
    """GroupNorm whose scale/shift come from the std/mean of the decoder's input (MAGVIT-v2 style)."""

    def __init__(self, z_channels: int, channels: int, eps: float = 1e-6):
        super().__init__()
        self.gn = nn.GroupNorm(32, channels, eps=eps, affine=False)
        self.gamma = nn.Linear(z_channels, channels)
        self.beta = nn.Linear(z_channels, channels)
        self.eps = eps

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        flat = style.flatten(2)
        mean = flat.mean(dim=-1)
        # The public code uses Tensor.var's default, the unbiased (n-1) estimate; written out so
        # every exporter sees plain arithmetic.
        n = flat.shape[-1]
        var = (flat - mean.unsqueeze(-1)).pow(2).sum(dim=-1) / (n - 1)
        scale = self.gamma(torch.sqrt(var + self.eps)).unsqueeze(-1).unsqueeze(-1)
        bias = self.beta(mean).unsqueeze(-1).unsqueeze(-1)
        return scale * self.gn(x) + bias


class CNNEncoder(nn.Module):
    """Image [B,3,H,W] -> [B, z_channels, H/f, W/f] (public `Encoder`, use_attn=False)."""

    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        ch = cfg.cnn_channels
        self.num_res_blocks = cfg.num_res_blocks
        self.conv_in = nn.Conv2d(3, ch, 3, padding=1)
        self.conv_blocks = nn.ModuleList()
        block_in = ch
        levels = len(cfg.encoder_ch_mult)
        for i, mult in enumerate(cfg.encoder_ch_mult):
            block = nn.Module()
            block.res = nn.ModuleList()
            block_out = ch * mult
            for _ in range(cfg.num_res_blocks):
                block.res.append(ResnetBlock(block_in, block_out, cfg.dropout))
                block_in = block_out
            if i != levels - 1:
                block.downsample = Downsample(block_in)
            self.conv_blocks.append(block)
        self.mid = nn.ModuleList(
            [ResnetBlock(block_in, block_in, cfg.dropout), ResnetBlock(block_in, block_in, cfg.dropout)]
        )
        self.norm_out = group_norm(block_in)
        self.conv_out = nn.Conv2d(block_in, cfg.z_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)
        for block in self.conv_blocks:
            for res in block.res:
                h = res(h)
            if hasattr(block, "downsample"):
                h = block.downsample(h)
        for res in self.mid:
            h = res(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class CNNDecoder(nn.Module):
    """[B, z, g, g] -> image [B,3,H,W] (public `Decoder`, adaptive_gn=True, d2s_up=True, use_attn=False)."""

    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        ch = cfg.cnn_channels
        mults = cfg.decoder_ch_mult
        block_in = ch * mults[-1]
        self.conv_in = nn.Conv2d(cfg.z_channels, block_in, 3, padding=1)
        self.mid = nn.ModuleList(
            [ResnetBlock(block_in, block_in, cfg.dropout), ResnetBlock(block_in, block_in, cfg.dropout)]
        )
        self.conv_blocks = nn.ModuleList()
        self.adaptive = nn.ModuleList()
        for i_level in reversed(range(len(mults))):
            block = nn.Module()
            block.res = nn.ModuleList()
            block_out = ch * mults[i_level]
            self.adaptive.append(AdaptiveGroupNorm(cfg.z_channels, block_in))
            for _ in range(cfg.num_res_blocks + 1):
                block.res.append(ResnetBlock(block_in, block_out, cfg.dropout))
                block_in = block_out
            if i_level != 0:
                block.upsample = D2SUpsampler(block_in)
            self.conv_blocks.append(block)
        self.norm_out = group_norm(block_in)
        self.conv_out = nn.Conv2d(block_in, 3, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        style = z
        h = self.conv_in(z)
        for res in self.mid:
            h = res(h)
        for ada, block in zip(self.adaptive, self.conv_blocks, strict=True):
            h = ada(h, style)
            for res in block.res:
                h = res(h)
            if hasattr(block, "upsample"):
                h = block.upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class MultiheadAttention(nn.Module):
    """Batch-first multi-head attention with the parameter layout of `torch.nn.MultiheadAttention`
    (packed `in_proj_weight` [3D, D] in q, k, v order, `out_proj`), so public weights load as is."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0):
        super().__init__()
        self.dim = dim
        self.heads = heads
        self.dropout = dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        return x.reshape(b, n, self.heads, self.dim // self.heads).transpose(1, 2)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        wq, wk, wv = self.in_proj_weight.chunk(3)
        bq, bk, bv = self.in_proj_bias.chunk(3)
        q = self._heads(F.linear(query, wq, bq))
        k = self._heads(F.linear(key, wk, bk))
        v = self._heads(F.linear(value, wv, bv))
        out = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0.0
        )
        b, _, n, _ = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, n, self.dim))


class QFormerLayer(nn.Module):
    """Pre-norm DETR decoder layer: self-attention over queries, cross-attention to memory, MLP.

    Positions are added to queries/keys only, never to values (public `TransformerDecoderLayer`,
    `forward_pre`, without its data-dependent NaN check, which blocks the exporters).
    """

    def __init__(self, dim: int, heads: int, mlp_ratio: float, dropout: float):
        super().__init__()
        self.self_attn = MultiheadAttention(dim, heads, dropout)
        self.multihead_attn = MultiheadAttention(dim, heads, dropout)
        hidden = int(dim * mlp_ratio)
        self.linear1 = nn.Linear(dim, hidden)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(hidden, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.norm3 = nn.LayerNorm(dim)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)

    def forward(
        self,
        tgt: torch.Tensor,
        memory: torch.Tensor,
        memory_pos: torch.Tensor,
        query_pos: torch.Tensor,
    ) -> torch.Tensor:
        t = self.norm1(tgt)
        qk = t + query_pos
        tgt = tgt + self.dropout1(self.self_attn(qk, qk, t))
        t = self.norm2(tgt)
        tgt = tgt + self.dropout2(self.multihead_attn(t + query_pos, memory + memory_pos, memory))
        t = self.norm3(tgt)
        return tgt + self.dropout3(self.linear2(self.dropout(F.gelu(self.linear1(t)))))


def _pos_param(n: int, width: int) -> nn.Parameter:
    # [n, 1, width]: the sequence-first shape of the public checkpoints.
    return nn.Parameter(width**-0.5 * torch.randn(n, 1, width))


class QFormerEncoder(nn.Module):
    """2D patch features -> T 1D latent tokens (public `ViTEncoder`, multi_level_query_init=True)."""

    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        size: QFormerSize = cfg.encoder
        self.width = size.width
        self.grid = cfg.grid_size
        self.blocks = multi_level_blocks(cfg.num_levels)
        self.encoder_embed = nn.Linear(cfg.z_channels, size.width)
        self.ln_pre = nn.LayerNorm(cfg.z_channels)
        self.positional_embedding = _pos_param(self.grid**2, size.width)
        self.latent_token_positional_embedding = _pos_param(cfg.num_latent_tokens, size.width)
        self.global_proj = nn.Linear(size.width, size.width)
        self.transformer = nn.ModuleList(
            QFormerLayer(size.width, size.heads, cfg.mlp_ratio, cfg.dropout)
            for _ in range(size.layers)
        )
        self.ln_post = nn.LayerNorm(size.width)
        self.conv_out = nn.Conv2d(size.width, cfg.z_channels, 1)

    def multi_level_queries(self, x: torch.Tensor) -> torch.Tensor:
        """[B, g*g, C] row-major patch features -> [B, T, C] coarse-to-fine block averages.

        Block sizes come from the config, not from tensor shapes (shape-derived pooling kernels
        are what stopped the exporters on the public code); each block mean is a reshape + mean.
        """
        c = x.shape[-1]
        grid = x.transpose(1, 2).reshape(-1, c, self.grid, self.grid)
        groups = []
        for rows, cols in self.blocks:
            pooled = grid.reshape(-1, c, rows, self.grid // rows, cols, self.grid // cols).mean(
                dim=(3, 5)
            )
            groups.append(pooled.flatten(2).transpose(1, 2))
        return torch.cat(groups, dim=1)

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        """[B, z, g, g] -> [B, z, 1, T] (the public "fake 2D" latent layout)."""
        x = self.encoder_embed(self.ln_pre(s.flatten(2).transpose(1, 2)))
        q = self.global_proj(self.multi_level_queries(x))
        pos = self.positional_embedding.transpose(0, 1)
        qpos = self.latent_token_positional_embedding.transpose(0, 1)
        for layer in self.transformer:
            q = layer(q, x, pos, qpos)
        q = self.ln_post(q)
        return self.conv_out(q.transpose(1, 2).unsqueeze(2))


class QFormerDecoder(nn.Module):
    """T 1D tokens -> g*g 2D features: learned 2D query positions cross-attend to the tokens
    (public `ViTDecoder`). Queries start as the first token (`decoder_query_init="first_token"`,
    the public model with every 2D-init flag off) or as the finest token covering each cell
    (`"covering_token"`, the nano default model)."""

    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        size: QFormerSize = cfg.decoder
        self.width = size.width
        self.grid = cfg.grid_size
        self.distill_depth = cfg.distill_depth
        # A constant gather index (a buffer would change the public checkpoint's keys).
        self.query_source = (
            covering_tokens(cfg.num_latent_tokens, cfg.grid_size)
            if cfg.decoder_query_init == "covering_token"
            else None
        )
        self.decoder_embed = nn.Linear(cfg.z_channels, size.width)
        self.ln_pre = nn.LayerNorm(cfg.z_channels)
        self.positional_embedding = _pos_param(self.grid**2, size.width)
        self.latent_token_positional_embedding = _pos_param(cfg.num_latent_tokens, size.width)
        self.transformer = nn.ModuleList(
            QFormerLayer(size.width, size.heads, cfg.mlp_ratio, cfg.dropout)
            for _ in range(size.layers)
        )
        self.ln_post = nn.LayerNorm(size.width)
        self.conv_out = nn.Conv2d(size.width, cfg.z_channels, 3, padding=1)
        if cfg.distill_depth is not None:
            # REPA-style projector to the teacher's feature width (GigaTok Sec. 3.2).
            self.distill_mlp = nn.Sequential(
                nn.Linear(size.width, size.width * 4),
                nn.SiLU(),
                nn.Linear(size.width * 4, size.width * 4),
                nn.SiLU(),
                nn.Linear(size.width * 4, cfg.distill_dim),
            )

    def forward(
        self, z: torch.Tensor, return_inner: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """[B, z, 1, T] -> ([B, z, g, g], inner features [B, g*g, width] after `distill_depth`)."""
        x = self.decoder_embed(self.ln_pre(z.flatten(2).transpose(1, 2)))
        if self.query_source is None:
            q = x[:, :1].expand(-1, self.grid * self.grid, -1)
        else:
            q = x[:, self.query_source]
        qpos = self.positional_embedding.transpose(0, 1)
        pos = self.latent_token_positional_embedding[: x.shape[1]].transpose(0, 1)
        inner = None
        for i, layer in enumerate(self.transformer):
            q = layer(q, x, pos, qpos)
            if return_inner and i + 1 == self.distill_depth:
                inner = q
        q = self.ln_post(q)
        feat = q.transpose(1, 2).reshape(-1, self.width, self.grid, self.grid)
        return self.conv_out(feat), inner


class VectorQuantizer(nn.Module):
    """l2-normalised codebook; nearest code by squared distance of unit vectors (= cosine)."""

    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        self.codebook_size = cfg.codebook_size
        self.dim = cfg.codebook_dim
        self.embedding = nn.Embedding(cfg.codebook_size, cfg.codebook_dim)
        self.register_buffer("codebook_used", torch.zeros(cfg.usage_window))
        with torch.no_grad():
            w = torch.empty_like(self.embedding.weight).uniform_(
                -1.0 / cfg.codebook_size, 1.0 / cfg.codebook_size
            )
            self.embedding.weight.copy_(F.normalize(w, dim=-1))

    def codebook(self) -> torch.Tensor:
        return F.normalize(self.embedding.weight.float(), dim=-1)

    def distances(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Unit latents [n, d] and their squared distances [n, K] to the unit codes.

        Computed as |z|^2 + |e|^2 - 2 z.e in float32 like the public quantizer, so ties break the
        same way as the reference implementation."""
        z = F.normalize(z.float(), dim=-1)
        e = self.codebook()
        d = (
            z.pow(2).sum(dim=1, keepdim=True)
            + e.pow(2).sum(dim=1).unsqueeze(0)
            - 2.0 * (z @ e.t())
        )
        return z, d

    def indices(self, z: torch.Tensor) -> torch.Tensor:
        """[B, d, 1, T] -> int64 [B, T]."""
        b = z.shape[0]
        flat = z.permute(0, 2, 3, 1).reshape(-1, self.dim)
        _, d = self.distances(flat)
        return torch.argmin(d, dim=1).reshape(b, -1)

    def lookup(self, tokens: torch.Tensor) -> torch.Tensor:
        """int64 [B, T] -> [B, d, 1, T] unit code vectors."""
        return F.embedding(tokens, self.codebook()).transpose(1, 2).unsqueeze(2)

    @torch.no_grad()
    def record_usage(self, idx: torch.Tensor) -> float:
        """Push indices into the usage ring buffer; return the fraction of codes seen in it."""
        buf = self.codebook_used
        n = min(idx.numel(), buf.numel())
        if n < buf.numel():
            buf[:-n] = buf[n:].clone()
        buf[-n:] = idx.flatten()[-n:].to(buf.dtype)
        return torch.unique(buf).numel() / self.codebook_size


def rotation_trick(z: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Forward value q, gradient through a rotation of z onto q (Fifty et al. 2024, the estimator
    GigaTok uses with `rot: True`). z, q: [n, d]."""
    eps = 1e-6
    u = (z / (z.norm(dim=1, keepdim=True) + eps)).detach()
    qn = (q / (q.norm(dim=1, keepdim=True) + eps)).detach()
    w = F.normalize(u + qn, dim=1).detach()
    rotated = z - 2 * (z * w).sum(1, keepdim=True) * w + 2 * (z * u).sum(1, keepdim=True) * qn
    return rotated * (q.norm(dim=1, keepdim=True) / (z.norm(dim=1, keepdim=True) + eps)).detach()


@dataclass
class QuantizeOutput:
    """Everything the training losses need from one quantization."""

    z: torch.Tensor  # unit latents [n, d] (gradient flows to the encoder)
    z_q: torch.Tensor  # selected unit codes [n, d] (gradient flows to the codebook)
    quant: torch.Tensor  # decoder input [B, d, 1, T] with the straight-through/rotation gradient
    distances: torch.Tensor  # [n, K]
    indices: torch.Tensor  # int64 [B, T]


@dataclass
class TokenizerOutput:
    reconstruction: torch.Tensor
    quantized: QuantizeOutput
    inner_features: torch.Tensor | None  # distill_mlp(decoder Q-Former layer output) [B, g*g, C]


class GigaTok(nn.Module):
    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        cfg.validate()
        self.config = cfg
        self.encoder = CNNEncoder(cfg)
        self.s2to1encoder = QFormerEncoder(cfg)
        self.s1to2decoder = QFormerDecoder(cfg)
        self.decoder = CNNDecoder(cfg)
        self.apply(_init_weights)
        self.quantize = VectorQuantizer(cfg)
        self.quant_conv = nn.Conv2d(cfg.z_channels, cfg.codebook_dim, 1)
        self.post_quant_conv = nn.Conv2d(cfg.codebook_dim, cfg.z_channels, 1)

    def encode_latent(self, image: torch.Tensor) -> torch.Tensor:
        """[B,3,H,W] in [-1,1] -> pre-quantization latent [B, d, 1, T]."""
        return self.quant_conv(self.s2to1encoder(self.encoder(image)))

    def encode(self, image: torch.Tensor) -> torch.Tensor:
        """[B,3,H,W] in [-1,1] -> int64 tokens [B, T] in coarse-to-fine order."""
        return self.quantize.indices(self.encode_latent(image))

    def decode_quant(self, quant: torch.Tensor, return_inner: bool = False):
        spatial, inner = self.s1to2decoder(self.post_quant_conv(quant), return_inner)
        return self.decoder(spatial), inner

    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        """int64 [B, T] -> image [B,3,H,W], roughly in [-1,1]."""
        quant = self.quantize.lookup(tokens).to(self.post_quant_conv.weight.dtype)
        return self.decode_quant(quant)[0]

    def quantize_latent(self, h: torch.Tensor) -> QuantizeOutput:
        b, d, _, t = h.shape
        flat = h.permute(0, 2, 3, 1).reshape(-1, d)
        z, dist = self.quantize.distances(flat)
        idx = torch.argmin(dist, dim=1)
        z_q = self.quantize.codebook()[idx]
        if self.training and self.config.rotation_trick:
            st = rotation_trick(z, z_q)
        else:
            st = z + (z_q - z).detach()
        quant = st.reshape(b, 1, t, d).permute(0, 3, 1, 2)
        return QuantizeOutput(z=z, z_q=z_q, quant=quant, distances=dist, indices=idx.reshape(b, t))

    def forward(self, image: torch.Tensor, return_inner: bool = False) -> TokenizerOutput:
        """Training/evaluation pass: reconstruction plus what the losses need."""
        qo = self.quantize_latent(self.encode_latent(image))
        if self.training:
            self.quantize.record_usage(qo.indices)
        rec, inner = self.decode_quant(qo.quant.to(image.dtype), return_inner)
        if inner is not None:
            inner = self.s1to2decoder.distill_mlp(inner)
        return TokenizerOutput(reconstruction=rec, quantized=qo, inner_features=inner)


def _init_weights(module: nn.Module) -> None:
    """Public `_init_weights`: truncated normal(0.02) for linears/convs, zero biases."""
    if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d)):
        nn.init.trunc_normal_(module.weight, mean=0.0, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.trunc_normal_(module.weight, mean=0.0, std=0.02)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
    elif isinstance(module, MultiheadAttention):
        nn.init.xavier_uniform_(module.in_proj_weight)
        nn.init.zeros_(module.in_proj_bias)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
