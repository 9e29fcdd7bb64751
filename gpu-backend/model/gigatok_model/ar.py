"""LlamaGen-style class-conditional AR transformer over GigaTok's 1D tokens.

Names and shapes follow GigaTok's `autoregressive/models/gpt_1d.py` (c2i, no rope, no adaLN):
RMSNorm, SwiGLU, bias-free linears, one class token in front, learned absolute positions, and a
label table with num_classes + 1 rows whose last row is the null class for guidance.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .configs import ARConfig


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Normalise in float32 whatever the weights' dtype, as LlamaGen does.
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(dim=-1, keepdim=True) + self.eps)
        return xf.type_as(x) * self.weight


class FeedForward(nn.Module):
    def __init__(self, cfg: ARConfig):
        super().__init__()
        hidden = cfg.ffn_hidden
        self.w1 = nn.Linear(cfg.dim, hidden, bias=False)
        self.w3 = nn.Linear(cfg.dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, cfg.dim, bias=False)
        self.ffn_dropout = nn.Dropout(cfg.ffn_dropout_p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ffn_dropout(self.w2(F.silu(self.w1(x)) * self.w3(x)))


class Attention(nn.Module):
    def __init__(self, cfg: ARConfig):
        super().__init__()
        self.dim = cfg.dim
        self.n_head = cfg.n_head
        self.head_dim = cfg.head_dim
        self.attn_dropout_p = cfg.attn_dropout_p
        self.wqkv = nn.Linear(cfg.dim, 3 * cfg.dim, bias=False)
        self.wo = nn.Linear(cfg.dim, cfg.dim, bias=False)
        self.resid_dropout = nn.Dropout(cfg.resid_dropout_p)

    def forward(
        self,
        x: torch.Tensor,
        past_k: torch.Tensor | None = None,
        past_v: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x [B, L, D] -> (out [B, L, D], keys, values [B, H, P+L, hd]).

        Without a past the attention is causal over L; with a past, L must be 1 and the query
        sees every cached position plus itself."""
        b, n, _ = x.shape
        q, k, v = self.wqkv(x).split(self.dim, dim=-1)
        q, k, v = (t.reshape(b, n, self.n_head, self.head_dim).transpose(1, 2) for t in (q, k, v))
        causal = past_k is None
        if past_k is not None:
            k = torch.cat([past_k, k], dim=2)
            v = torch.cat([past_v, v], dim=2)
        out = F.scaled_dot_product_attention(
            q,
            k,
            v,
            is_causal=causal,
            dropout_p=self.attn_dropout_p if self.training else 0.0,
        )
        out = out.transpose(1, 2).reshape(b, n, self.dim)
        return self.resid_dropout(self.wo(out)), k, v


class TransformerBlock(nn.Module):
    def __init__(self, cfg: ARConfig):
        super().__init__()
        self.attention = Attention(cfg)
        self.feed_forward = FeedForward(cfg)
        self.attention_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.ffn_norm = RMSNorm(cfg.dim, cfg.norm_eps)

    def forward(self, x, past_k=None, past_v=None):
        a, k, v = self.attention(self.attention_norm(x), past_k, past_v)
        h = x + a
        return h + self.feed_forward(self.ffn_norm(h)), k, v


class LabelEmbedder(nn.Module):
    """Class embeddings; row `num_classes` is the null (unconditional) class."""

    def __init__(self, cfg: ARConfig):
        super().__init__()
        self.num_classes = cfg.num_classes
        self.dropout_prob = cfg.class_dropout_prob
        self.embedding_table = nn.Embedding(cfg.num_classes + 1, cfg.dim)

    def forward(
        self, labels: torch.Tensor, force_drop_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        """labels [B] -> [B, 1, D]. In training a fraction `dropout_prob` of labels becomes the
        null class, which is what lets classifier-free guidance work at sampling time."""
        if force_drop_ids is not None:
            drop = force_drop_ids.bool()
        elif self.training and self.dropout_prob > 0:
            drop = torch.rand(labels.shape[0], device=labels.device) < self.dropout_prob
        else:
            drop = None
        if drop is not None:
            labels = torch.where(drop, torch.full_like(labels, self.num_classes), labels)
        return self.embedding_table(labels).unsqueeze(1)


class GPT(nn.Module):
    def __init__(self, cfg: ARConfig):
        super().__init__()
        cfg.validate()
        self.config = cfg
        self.n_layer = cfg.n_layer
        self.num_classes = cfg.num_classes
        self.cls_embedding = LabelEmbedder(cfg)
        self.tok_embeddings = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.tok_dropout = nn.Dropout(cfg.token_dropout_p)
        self.layers = nn.ModuleList(TransformerBlock(cfg) for _ in range(cfg.n_layer))
        self.norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.output = nn.Linear(cfg.dim, cfg.vocab_size, bias=False)
        self.positional_embedding = nn.Parameter(
            cfg.dim**-0.5 * torch.randn(1 + cfg.block_size, cfg.dim)
        )
        self.init_weights()

    def init_weights(self, zero_output: bool = True) -> None:
        """LlamaGen init: normal(0, 0.02) linears and embeddings, output projection zeroed.

        `zero_output=False` keeps a random output projection, so a random-init model has
        non-trivial logits (exports and parity checks of random models use it)."""
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, mean=0.0, std=0.02)
        if zero_output:
            nn.init.zeros_(self.output.weight)

    def _embed(
        self,
        cond_idx: torch.Tensor,
        idx: torch.Tensor | None,
        force_drop_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        h = self.cls_embedding(cond_idx, force_drop_ids)
        if idx is not None and idx.shape[1] > 0:
            h = torch.cat([h, self.tok_embeddings(idx)], dim=1)
        h = h + self.positional_embedding[: h.shape[1]].to(h.dtype)
        return self.tok_dropout(h)

    def _run(self, h: torch.Tensor, stop_after: int | None = None) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            h, _, _ = layer(h)
            if stop_after is not None and i + 1 == stop_after:
                return h
        return h

    def forward(
        self,
        cond_idx: torch.Tensor,
        idx: torch.Tensor | None = None,
        force_drop_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """No-cache forward: class ids [B] and tokens [B, L] -> float32 logits [B, 1+L, V].

        Logits at position p predict token p, so teacher forcing feeds tokens[:, :-1]. In
        training mode the class is dropped to the null class with `class_dropout_prob`."""
        h = self._run(self._embed(cond_idx, idx, force_drop_ids))
        return self.output(self.norm(h)).float()

    def loss(
        self,
        cond_idx: torch.Tensor,
        tokens: torch.Tensor,
        force_drop_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Teacher-forced next-token cross-entropy over all T tokens."""
        logits = self(cond_idx, tokens[:, :-1], force_drop_ids)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens.reshape(-1))

    @torch.no_grad()
    def hidden_mean(
        self, cond_idx: torch.Tensor, tokens: torch.Tensor, layer: int | None = None
    ) -> torch.Tensor:
        """Mean hidden state after `layer` blocks (default n_layer // 2) over the class token and
        tokens[:, :-1]: the AR representation GigaTok's linear probe reads."""
        stop = self.config.embedding_layer if layer is None else layer
        if not 1 <= stop <= self.n_layer:
            raise ValueError(f"'layer' must be in [1, {self.n_layer}], got {stop}")
        h = self._run(self._embed(cond_idx, tokens[:, :-1]), stop_after=stop)
        return h.float().mean(dim=1)

    def step(
        self,
        token_ids: torch.Tensor,
        class_ids: torch.Tensor,
        position: torch.Tensor,
        past_keys: torch.Tensor,
        past_values: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One KV-cached step (the exported `ar_step` graph).

        token_ids [N,1] i64, class_ids [N] i64, position [1] i64, past_* [L,N,H,P,hd] with P =
        position. Position 0 embeds the class (token_ids ignored); position p >= 1 embeds
        token_ids, the token sampled at step p-1 (class_ids ignored). Returns logits [N,V]
        predicting token index p, and present_* [L,N,H,P+1,hd]."""
        tok = self.tok_embeddings(token_ids)
        cls = self.cls_embedding.embedding_table(class_ids).unsqueeze(1)
        is_class = (position == 0).reshape(1, 1, 1)
        h = torch.where(is_class, cls, tok)
        h = h + self.positional_embedding[position].unsqueeze(0).to(h.dtype)
        keys, values = [], []
        for i, layer in enumerate(self.layers):
            h, k, v = layer(h, past_keys[i], past_values[i])
            keys.append(k)
            values.append(v)
        logits = self.output(self.norm(h))[:, 0].float()
        return logits, torch.stack(keys), torch.stack(values)

    def empty_past(self, n: int, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.config
        shape = (cfg.n_layer, n, cfg.n_head, 0, cfg.head_dim)
        return torch.zeros(shape, dtype=dtype), torch.zeros(shape, dtype=dtype)
