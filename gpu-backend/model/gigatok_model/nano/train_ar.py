"""Trains gpt-nano, the class-conditional AR model, on a nano tokenizer's tokens of the training split.

10 digit classes plus the null class 10; the label is dropped to the null class with probability
0.1 (`class_dropout_prob`), which is what classifier-free guidance needs at sampling time.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..ar import GPT
from ..configs import ar_config, tokenizer_config
from ..tokenizer import GigaTok, count_parameters
from . import data as nano_data
from . import train_tokenizer
from .util import Clock, batches, log, set_lr, setup_torch, warmup_cosine, write_json


@dataclass(frozen=True)
class ARRecipe:
    steps: int = 1400
    batch_size: int = 128
    lr: float = 2e-3
    warmup: int = 50
    weight_decay: float = 0.05
    seed: int = 3


def token_splits(tok: GigaTok, data: nano_data.NanoData) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """{'train', 'test'} -> (class ids [N], tokens [N, T]) encoded by `tok`."""
    out = {}
    for split in ("train", "test"):
        images, labels = data.split(split)
        out[split] = (torch.from_numpy(labels), train_tokenizer.encode_all(tok, images))
    return out


@torch.no_grad()
def eval_loss(ar: GPT, classes: torch.Tensor, tokens: torch.Tensor) -> float:
    ar.eval()
    losses = [
        ar.loss(classes[i : i + 500], tokens[i : i + 500]).item() * len(classes[i : i + 500])
        for i in range(0, len(classes), 500)
    ]
    return sum(losses) / len(classes)


def train(
    tokens: dict[str, tuple[torch.Tensor, torch.Tensor]],
    out: Path,
    recipe: ARRecipe,
    name: str = "ar",
) -> dict:
    """Trains and saves `out` (weights under 'model') and `out`.json."""
    gen = setup_torch(recipe.seed)
    clock = Clock()
    cfg = ar_config("gpt-nano", tokenizer_config("nano"))
    ar = GPT(cfg).train()
    # Weight decay on matrices only, as LlamaGen's configure_optimizers (no decay on norms).
    decay = [p for p in ar.parameters() if p.dim() >= 2]
    no_decay = [p for p in ar.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": recipe.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=recipe.lr,
        betas=(0.9, 0.95),
    )
    cls_tr, tok_tr = tokens["train"]
    cls_te, tok_te = tokens["test"]
    log(name, f"{count_parameters(ar):,} parameters, recipe {recipe}")
    history = []
    epochs = -(-recipe.steps * recipe.batch_size // len(cls_tr)) + 1
    for step, idx in enumerate(batches(len(cls_tr), recipe.batch_size, gen, epochs)):
        if step >= recipe.steps:
            break
        set_lr(opt, warmup_cosine(step, recipe.steps, recipe.lr, recipe.warmup))
        loss = ar.loss(cls_tr[idx], tok_tr[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(ar.parameters(), 1.0)
        opt.step()
        if (step + 1) % 200 == 0 or step == recipe.steps - 1:
            val = eval_loss(ar, cls_te, tok_te)
            ar.train()
            history.append({"step": step + 1, "train_loss": loss.item(), "test_loss": val})
            log(name, f"step {step + 1}/{recipe.steps} loss {loss.item():.4f} test {val:.4f} {clock.summary()}")
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": ar.state_dict()}, out)
    stats = {"recipe": asdict(recipe), "history": history, "parameters": count_parameters(ar)}
    stats.update(clock.summary())
    write_json(out.with_suffix(".json"), stats)
    log(name, f"done: {clock.summary()}")
    return stats


def load(path: Path) -> GPT:
    ar = GPT(ar_config("gpt-nano", tokenizer_config("nano")))
    ar.load_state_dict(torch.load(path, map_location="cpu", weights_only=True)["model"])
    return ar.eval().requires_grad_(False)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--work-dir", type=Path, default=nano_data.DEFAULT_WORK_DIR)
    p.add_argument("--variant", choices=["reg", "noreg"], default="reg")
    p.add_argument("--steps", type=int, default=ARRecipe.steps)
    args = p.parse_args()
    tok = train_tokenizer.load(args.work_dir / f"tokenizer-{args.variant}.pt")
    tokens = token_splits(tok, nano_data.load(args.work_dir))
    train(tokens, args.work_dir / f"ar-{args.variant}.pt", ARRecipe(steps=args.steps), f"ar-{args.variant}")


if __name__ == "__main__":
    main()
