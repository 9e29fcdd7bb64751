"""Trains the gigatok-nano tokenizer on the nano training split, with or without semantic regularization.

Losses (GigaTok Sec. 3; no perceptual or adversarial term at this size): L2 reconstruction,
codebook + commitment (beta 0.25), optionally the codebook entropy loss, and, for the shipped
model, semantic regularization: the decoder Q-Former's layer-`distill_depth` features, through
`distill_mlp`, pulled by cosine similarity towards the frozen nano teacher's 8x8 features.

At initialisation the encoder's unit latents barely differ between images (mean cosine to their
mean direction ~0.98), so plain VQ training collapses onto one code within 50 steps and never
recovers. Two standard remedies fix it: the first `ae_warmup` steps train a continuous
autoencoder (the decoder gets the unit latents themselves), after which the codebook is seeded
with latents of the batch; and codes that go unused are restarted on current latents (the "random
restart" of Jukebox, Dhariwal et al. 2020, Sec. 3.1).

What limited a CPU-budget run was how fast spatial detail starts to flow through the Q-Former
bottleneck. With the public decoder, whose 2D queries all start as the first latent token, a
query's position reaches it only through attention logits, so each cell must learn to route to
the right tokens (the slow start DETR-style decoders are known for): after 1,400 steps the
reconstructions were still near the mean digit shape (17.9 dB; the teacher recognised 27% of
them). Measured side by side in 300-500 step runs on this machine (`--steps`, one thread each):

- the same CNN with a local 8x8x4 or 4x4x8 unit bottleneck and no Q-Former: 23.3 / 21.3 dB after
  250-300 steps, so neither the conv layers nor a 256-number bottleneck is the limit;
- first-token decoder queries: 17.2 dB, teacher accuracy 13% after 300 steps; positional
  embeddings at unit scale and added to the queries' content, or a 5x LR for the Q-Formers, did
  not change that (17.2 dB / 20%, and worse);
- covering-token decoder queries (`decoder_query_init="covering_token"`: each cell starts as
  the finest token whose multi-level block covers it, the mirror of the encoder's multi-level
  query init): continuous-phase loss 0.046 instead of 0.084 at step 200, and 21.1 dB with the
  teacher reading 88% of the reconstructions after 500 steps. 64 tokens with the same init
  reach 22.0 dB and 93% after 500 steps, at twice the AR cost; 32 tokens are kept.

`nano_init` also helps the first phase: PyTorch's default fan-in init for convs and linears
instead of the public truncated normal(0.02), which is meant for wide layers trained for days
(continuous phase, step 150: MSE 0.072 with it, 0.095 without).
"""

from __future__ import annotations

import argparse
import copy
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..configs import tokenizer_config
from ..losses import SemanticRegularizer, codebook_losses, entropy_loss, reconstruction_loss
from ..tokenizer import GigaTok, count_parameters
from . import data as nano_data
from . import metrics
from . import teacher as nano_teacher
from .util import Clock, batches, log, set_lr, setup_torch, warmup_cosine, write_json


@dataclass(frozen=True)
class TokenizerRecipe:
    semantic_weight: float = 0.5  # GigaTok's weight for the cosine term; 0 = the ablation
    entropy_weight: float = 0.0
    entropy_temperature: float = 0.01
    steps: int = 1400
    batch_size: int = 32
    # Above ~2e-4 the first-token decoder could fall into a "mean image" basin early on (its 2D
    # queries all start alike, so its feature map is spatially near-constant and the GroupNorms
    # amplify noise); a moderate peak LR with warm-up and clipping avoids it. Not re-tuned since
    # the covering-token decoder.
    lr: float = 2e-4
    warmup: int = 100
    grad_clip: float = 1.0
    weight_decay: float = 0.0
    ema_decay: float = 0.995
    ae_warmup: int = 200
    # Dead-code restarts: every `restart_every` steps until `restart_until` x steps, codes whose
    # decayed usage count is below `restart_threshold` move onto random latents of the batch.
    restart_every: int = 10
    restart_until: float = 0.8
    restart_threshold: float = 0.03
    usage_decay: float = 0.95
    seed: int = 2


@torch.no_grad()
def reconstruct(tok: GigaTok, images_u8: np.ndarray, batch_size: int = 250) -> np.ndarray:
    """Encode -> tokens -> decode, returned as uint8 the way the backend serves images."""
    tok.eval()
    x = torch.from_numpy(nano_data.to_model_input(images_u8))
    out = [tok.decode(tok.encode(x[i : i + batch_size])) for i in range(0, len(x), batch_size)]
    return nano_data.to_uint8(torch.cat(out).numpy())


@torch.no_grad()
def encode_all(tok: GigaTok, images_u8: np.ndarray, batch_size: int = 250) -> torch.Tensor:
    tok.eval()
    x = torch.from_numpy(nano_data.to_model_input(images_u8))
    return torch.cat([tok.encode(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])


class CodeRestarter:
    """Tracks a decayed per-code usage count and restarts dead codes on batch latents."""

    def __init__(self, tok: GigaTok, opt: torch.optim.Optimizer, recipe: TokenizerRecipe, gen: torch.Generator):
        self.weight = tok.quantize.embedding.weight
        self.opt = opt
        self.recipe = recipe
        self.gen = gen
        self.usage = torch.zeros(self.weight.shape[0])
        self.restarted = 0

    @torch.no_grad()
    def seed_all(self, latents: torch.Tensor) -> None:
        """Every code onto a distinct random latent of the batch (k-means-style seeding)."""
        k = self.weight.shape[0]
        pick = torch.randperm(latents.shape[0], generator=self.gen)[:k]
        if pick.numel() < k:
            pick = torch.cat([pick, torch.randint(0, latents.shape[0], (k - pick.numel(),), generator=self.gen)])
        noise = 0.01 * torch.randn(k, latents.shape[1], generator=self.gen)
        self.weight.copy_(torch.nn.functional.normalize(latents[pick] + noise, dim=-1))
        self.opt.state.pop(self.weight, None)
        self.usage.fill_(1.0)

    @torch.no_grad()
    def update(self, step: int, indices: torch.Tensor, latents: torch.Tensor) -> None:
        r = self.recipe
        counts = torch.bincount(indices.flatten(), minlength=self.usage.numel()).float()
        self.usage.mul_(r.usage_decay).add_(counts)
        if (step + 1) % r.restart_every or step >= r.restart_until * r.steps:
            return
        dead = torch.nonzero(self.usage < r.restart_threshold).flatten()
        if dead.numel() == 0:
            return
        pick = torch.randint(0, latents.shape[0], (dead.numel(),), generator=self.gen)
        noise = 0.01 * torch.randn(dead.numel(), latents.shape[1], generator=self.gen)
        self.weight[dead] = torch.nn.functional.normalize(latents[pick] + noise, dim=-1)
        # Restarted rows start with fresh Adam moments, and count as used until proven dead.
        state = self.opt.state.get(self.weight, {})
        for key in ("exp_avg", "exp_avg_sq"):
            if key in state:
                state[key][dead] = 0.0
        self.usage[dead] = 1.0
        self.restarted += dead.numel()


@torch.no_grad()
def nano_init(tok: GigaTok) -> GigaTok:
    """Fan-in (PyTorch default) init of every conv and linear layer; see the module docstring."""
    for m in tok.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            m.reset_parameters()
    return tok


def continuous_forward(tok: GigaTok, x: torch.Tensor, semantic: bool):
    """The autoencoder without quantization: unit latents [n, d] go straight to the decoder."""
    h = tok.encode_latent(x)
    z = torch.nn.functional.normalize(h, dim=1)
    rec, inner = tok.decode_quant(z, return_inner=semantic)
    if inner is not None:
        inner = tok.s1to2decoder.distill_mlp(inner)
    return rec, inner, z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])


@torch.no_grad()
def _ema_update(ema: GigaTok, model: GigaTok, decay: float) -> None:
    for e, p in zip(ema.parameters(), model.parameters(), strict=True):
        e.lerp_(p, 1.0 - decay)
    for e, b in zip(ema.buffers(), model.buffers(), strict=True):
        e.copy_(b)


def train(
    data: nano_data.NanoData,
    teacher: nano_teacher.Teacher | None,
    out: Path,
    recipe: TokenizerRecipe,
    eval_every: int = 0,
) -> dict:
    """Trains, saves `out` (EMA weights under 'ema', as GigaTok checkpoints) and `out`.json."""
    gen = setup_torch(recipe.seed)
    clock = Clock()
    cfg = tokenizer_config("nano")
    tok = nano_init(GigaTok(cfg)).train()
    ema = copy.deepcopy(tok).eval().requires_grad_(False)
    semantic = recipe.semantic_weight > 0
    if semantic and teacher is None:
        raise ValueError("semantic regularization needs a teacher")
    reg = SemanticRegularizer(lambda x: teacher.features(x).spatial) if semantic else None
    opt = torch.optim.AdamW(
        tok.parameters(), lr=recipe.lr, betas=(0.9, 0.95), weight_decay=recipe.weight_decay
    )
    restarter = CodeRestarter(tok, opt, recipe, gen)
    x_tr = torch.from_numpy(nano_data.to_model_input(data.split("train")[0]))
    x_val_u8 = data.split("test")[0][:250]
    name = "tokenizer" + ("" if semantic else " (no semantic reg.)")
    log(name, f"{count_parameters(tok):,} parameters, recipe {recipe}")
    history = []
    epochs = -(-recipe.steps * recipe.batch_size // len(x_tr)) + 1
    for step, idx in enumerate(batches(len(x_tr), recipe.batch_size, gen, epochs)):
        if step >= recipe.steps:
            break
        set_lr(opt, warmup_cosine(step, recipe.steps, recipe.lr, recipe.warmup))
        x = x_tr[idx]
        if step < recipe.ae_warmup:
            reconstruction, inner, z = continuous_forward(tok, x, semantic)
            rec = reconstruction_loss(x, reconstruction)
            loss = rec
            terms = {"rec": rec.item()}
        else:
            if step == recipe.ae_warmup:
                with torch.no_grad():
                    restarter.seed_all(continuous_forward(tok, x, False)[2])
            res = tok(x, return_inner=semantic)
            q, inner = res.quantized, res.inner_features
            rec = reconstruction_loss(x, res.reconstruction)
            cb, commit = codebook_losses(q.z, q.z_q, cfg.commit_beta)
            loss = rec + cb + commit
            terms = {"rec": rec.item(), "vq": (cb + commit).item()}
            if recipe.entropy_weight > 0:
                ent = entropy_loss(-q.distances, recipe.entropy_temperature)
                loss = loss + recipe.entropy_weight * ent
                terms["entropy"] = ent.item()
        if reg is not None:
            sem = reg(x, inner)
            loss = loss + recipe.semantic_weight * sem
            terms["cos"] = -sem.item()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(tok.parameters(), recipe.grad_clip)
        opt.step()
        if step >= recipe.ae_warmup:
            restarter.update(step, q.indices, q.z.detach())
        # The EMA starts once the quantized phase has settled (a copy until then).
        _ema_update(ema, tok, recipe.ema_decay if step >= recipe.ae_warmup + recipe.warmup else 0.0)
        if step % 50 == 0 or step == recipe.steps - 1:
            usage = tok.quantize.codebook_used.unique().numel() / cfg.codebook_size
            parts = " ".join(f"{k} {v:.4f}" for k, v in terms.items())
            log(
                name,
                f"step {step + 1}/{recipe.steps} {parts} usage {usage:.2f} "
                f"restarted {restarter.restarted} {clock.summary()}",
            )
        if eval_every and (step + 1) % eval_every == 0 and step >= recipe.ae_warmup:
            rec_u8 = reconstruct(ema, x_val_u8)
            p = metrics.psnr(x_val_u8, rec_u8)
            history.append({"step": step + 1, "val_psnr": p, **clock.summary()})
            log(name, f"step {step + 1}: EMA PSNR {p:.2f} dB on 250 test images")
            tok.train()
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"ema": ema.state_dict(), "model": tok.state_dict()}, out)
    stats = {
        "recipe": asdict(recipe),
        "history": history,
        "parameters": count_parameters(tok),
        "codes_restarted": restarter.restarted,
    }
    stats.update(clock.summary())
    write_json(out.with_suffix(".json"), stats)
    log(name, f"done: {clock.summary()}")
    return stats


def load(path: Path) -> GigaTok:
    """The EMA weights of a trained nano tokenizer, in eval mode."""
    tok = GigaTok(tokenizer_config("nano"))
    tok.load_state_dict(torch.load(path, map_location="cpu", weights_only=True)["ema"])
    return tok.eval().requires_grad_(False)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--work-dir", type=Path, default=nano_data.DEFAULT_WORK_DIR)
    p.add_argument("--no-semantic", action="store_true", help="train the ablation")
    p.add_argument("--steps", type=int, default=TokenizerRecipe.steps)
    p.add_argument("--entropy-weight", type=float, default=TokenizerRecipe.entropy_weight)
    p.add_argument("--eval-every", type=int, default=0)
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    semantic = not args.no_semantic
    recipe = TokenizerRecipe(
        semantic_weight=TokenizerRecipe.semantic_weight if semantic else 0.0,
        steps=args.steps,
        entropy_weight=args.entropy_weight,
    )
    teacher = nano_teacher.load(args.work_dir / "teacher.pt") if semantic else None
    out = args.out or args.work_dir / ("tokenizer-reg.pt" if semantic else "tokenizer-noreg.pt")
    train(nano_data.load(args.work_dir), teacher, out, recipe, args.eval_every)


if __name__ == "__main__":
    main()
