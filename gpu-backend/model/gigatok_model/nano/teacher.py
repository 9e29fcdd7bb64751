"""A small CNN digit classifier that plays DINOv2's role for the nano model.

Its 8x8 spatial feature map (the last conv stage) is the frozen target of semantic regularization
(GigaTok Sec. 3.2 aligns decoder Q-Former features with DINOv2 patch features); its pooled
penultimate features are the feature space of the FID in evaluate.py, and its class prediction
measures the class consistency of generated images.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import data as nano_data
from .util import Clock, batches, log, set_lr, setup_torch, warmup_cosine, write_json

SEED = 1
BATCH_SIZE = 128
LR = 3e-3


@dataclass
class TeacherFeatures:
    spatial: torch.Tensor  # [B, 64, C]: one feature per 4x4 patch, row-major like ViT patch tokens (pre-ReLU)
    pooled: torch.Tensor  # [B, C]: penultimate features (FID space)
    logits: torch.Tensor  # [B, 10]


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class Teacher(nn.Module):
    """32x32 RGB in [-1, 1] -> 8x8 x width features -> width-d penultimate features -> 10 logits."""

    def __init__(self, width: int = 128, num_classes: int = 10) -> None:
        super().__init__()
        self.width = width
        self.body = nn.Sequential(
            _conv(3, 32),
            _conv(32, 64, 2),  # 16x16
            _conv(64, 64),
            _conv(64, width, 2),  # 8x8: the same grid as the tokenizer's 4x-downsampled patches
            _conv(width, width),
        )
        # A stride-2 conv to 4x4 and a linear layer over the flattened map, rather than a global
        # average pool: digit identity depends on where strokes are, which an average discards.
        self.head = nn.Sequential(
            _conv(width, width, 2), nn.Flatten(), nn.Linear(width * 16, width), nn.ReLU(inplace=True)
        )
        self.classifier = nn.Linear(width, num_classes)

    def features(self, x: torch.Tensor) -> TeacherFeatures:
        conv, bn, _ = self.body[-1]
        # The regularization target is the last conv stage BEFORE its ReLU: signed and centred by
        # BatchNorm, like DINOv2's layer-normed patch tokens. After the ReLU every feature shares
        # a large positive mean (cosine 0.61 to the data-set mean), a shortcut the tokenizer would
        # match first instead of the image's own structure.
        pre = bn(conv(self.body[:-1](x)))
        pooled = self.head(torch.relu(pre))
        return TeacherFeatures(pre.flatten(2).transpose(1, 2), pooled, self.classifier(pooled))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).logits


def random_shift(x: torch.Tensor, gen: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    """Translates each image by up to max_shift pixels (edge-replicated), so the teacher does not
    rely on the exact centring of the source digits and stays fair to generated images."""
    b, c, h, w = x.shape
    m = max_shift
    padded = F.pad(x, (m, m, m, m), mode="replicate")
    dy = torch.randint(0, 2 * m + 1, (b,), generator=gen)
    dx = torch.randint(0, 2 * m + 1, (b,), generator=gen)
    rows = (dy[:, None] + torch.arange(h)).view(b, 1, h, 1).expand(b, c, h, w + 2 * m)
    cols = (dx[:, None] + torch.arange(w)).view(b, 1, 1, w).expand(b, c, h, w)
    return padded.gather(2, rows).gather(3, cols)


@torch.no_grad()
def predict(model: Teacher, images: torch.Tensor, batch_size: int = 500) -> TeacherFeatures:
    model.eval()
    parts = [model.features(images[i : i + batch_size]) for i in range(0, len(images), batch_size)]
    return TeacherFeatures(
        torch.cat([p.spatial for p in parts]),
        torch.cat([p.pooled for p in parts]),
        torch.cat([p.logits for p in parts]),
    )


def accuracy(model: Teacher, images: torch.Tensor, labels: torch.Tensor) -> float:
    return (predict(model, images).logits.argmax(1) == labels).float().mean().item()


def train(
    data: nano_data.NanoData,
    out: Path,
    epochs: int = 3,
    batch_size: int = BATCH_SIZE,
    lr: float = LR,
    max_steps: int | None = None,
) -> dict[str, float]:
    gen = setup_torch(SEED)
    clock = Clock()
    x_tr, y_tr = data.split("train")
    x_te, y_te = data.split("test")
    xt = torch.from_numpy(nano_data.to_model_input(x_tr))
    yt = torch.from_numpy(y_tr)
    model = Teacher()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=5e-4)
    batch_size = min(batch_size, len(xt))
    total = epochs * (len(xt) // batch_size)
    if max_steps is not None:
        total = min(total, max_steps)
    model.train()
    for step, idx in enumerate(batches(len(xt), batch_size, gen, epochs)):
        if step >= total:
            break
        set_lr(opt, warmup_cosine(step, total, lr, warmup=min(50, total // 10 + 1)))
        loss = F.cross_entropy(model(random_shift(xt[idx], gen)), yt[idx], label_smoothing=0.05)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 50 == 0 or step == total - 1:
            log("teacher", f"step {step + 1}/{total} loss {loss.item():.4f}")
    acc = accuracy(model, torch.from_numpy(nano_data.to_model_input(x_te)), torch.from_numpy(y_te))
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out)
    recipe = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "max_steps": max_steps, "seed": SEED}
    stats = {"recipe": recipe, "test_accuracy": acc, "steps": total, **clock.summary()}
    write_json(out.with_suffix(".json"), stats)
    log("teacher", f"test accuracy {acc:.4f} ({stats})")
    return stats


def load(path: Path) -> Teacher:
    """The trained teacher, frozen and in eval mode."""
    model = Teacher()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    model.eval().requires_grad_(False)
    return model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--work-dir", type=Path, default=nano_data.DEFAULT_WORK_DIR)
    p.add_argument("--epochs", type=int, default=3)
    args = p.parse_args()
    train(nano_data.load(args.work_dir), args.work_dir / "teacher.pt", epochs=args.epochs)


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
