"""Loading official GigaTok / LlamaGen checkpoints: which state dict a checkpoint file holds is chosen
as the official sampling scripts choose it, and the tensors load strictly.

The official scripts (GigaTok autoregressive/sample/*.py, LlamaGen's sample_c2i*.py) read the
tokenizer from `ema`, else `model`, else `state_dict`, and the GPT from `model`, else `module`
(DeepSpeed), else `state_dict`, never `ema`. A training checkpoint can hold several of these with
different weights, so the order matters; `state_key` overrides it, and the key used is reported so
that the manifest can say which weights it serves.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import torch
from torch import nn

from .ar import GPT
from .configs import ARConfig, TokenizerConfig
from .tokenizer import GigaTok

TOKENIZER_STATE_KEYS = ("ema", "model", "state_dict")
GPT_STATE_KEYS = ("model", "module", "state_dict")
# --*-state-key value that names the checkpoint file itself as the state dict (no wrapping dict).
ROOT_STATE_KEY = "none"


@dataclasses.dataclass
class CheckpointWeights:
    state: dict[str, torch.Tensor]
    # The top-level key the state dict was read from; None when the file is the state dict itself.
    state_key: str | None


def _is_state_dict(value: object) -> bool:
    return isinstance(value, dict) and len(value) > 0 and all(isinstance(v, torch.Tensor) for v in value.values())


def pick_state_dict(ckpt: object, order: tuple[str, ...], state_key: str | None, what: str) -> CheckpointWeights:
    """The state dict under `state_key` when given, else under the first key of `order` the checkpoint
    holds; a checkpoint that is itself a flat name -> tensor dict (and holds none of the keys) is taken
    as it is. Raises SystemExit naming the keys the checkpoint has when nothing fits."""
    if not isinstance(ckpt, dict):
        raise SystemExit(f"{what}: checkpoint is a {type(ckpt).__name__}, expected a dict")
    held = [k for k in ckpt if isinstance(k, str) and isinstance(ckpt[k], dict)]
    if state_key == ROOT_STATE_KEY:
        if not _is_state_dict(ckpt):
            raise SystemExit(f"{what}: state key '{ROOT_STATE_KEY}' needs a flat checkpoint; it holds dicts {held}")
        return CheckpointWeights(ckpt, None)
    if state_key is not None:
        if state_key not in held:
            raise SystemExit(f"{what}: state key '{state_key}' is not in the checkpoint (dict entries: {held})")
        return CheckpointWeights(ckpt[state_key], state_key)
    for key in order:
        if key in held:
            return CheckpointWeights(ckpt[key], key)
    if _is_state_dict(ckpt):
        return CheckpointWeights(ckpt, None)
    raise SystemExit(
        f"{what}: checkpoint holds none of {list(order)} (dict entries: {held}); name one with a state key"
    )


def load_checkpoint_weights(
    path: str | Path,
    order: tuple[str, ...] = TOKENIZER_STATE_KEYS,
    state_key: str | None = None,
    what: str = "checkpoint",
) -> CheckpointWeights:
    """Reads a .pt checkpoint (tensors only, weights_only) and picks its state dict; a
    `torch.compile` prefix (`_orig_mod.`) is removed from the names."""
    # Official checkpoints pickle the training script's argparse.Namespace next to the weights.
    torch.serialization.add_safe_globals([argparse.Namespace])
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    picked = pick_state_dict(ckpt, order, state_key, what)
    state = {k.removeprefix("_orig_mod."): v for k, v in picked.state.items()}
    return CheckpointWeights(state, picked.state_key)


def load_strict(model: nn.Module, state: dict[str, torch.Tensor], what: str) -> nn.Module:
    """Loads every tensor by name and shape, nothing missing and nothing left over.

    `assign=True` lets the model be built on the meta device (no memory, no random init, which
    for the 2.9B XL-XXL would take minutes) and take the checkpoint's tensors as they are."""
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as err:
        raise SystemExit(f"{what}: checkpoint does not match the config:\n{err}") from None
    return model.float()


@dataclasses.dataclass
class LoadedModels:
    tokenizer: GigaTok
    ar: GPT
    # The manifest's `source` entry: per model, the checkpoint file name and the state key read.
    source: dict[str, dict[str, str | None]]


def from_checkpoints(
    tc: TokenizerConfig,
    ac: ARConfig,
    tokenizer_ckpt: str | Path,
    ar_ckpt: str | Path,
    *,
    tokenizer_state_key: str | None = None,
    ar_state_key: str | None = None,
) -> LoadedModels:
    tok_weights = load_checkpoint_weights(tokenizer_ckpt, TOKENIZER_STATE_KEYS, tokenizer_state_key, "tokenizer")
    ar_weights = load_checkpoint_weights(ar_ckpt, GPT_STATE_KEYS, ar_state_key, "AR model")
    with torch.device("meta"):
        tok, ar = GigaTok(tc), GPT(ac)
    tok = load_strict(tok, tok_weights.state, "tokenizer")
    ar = load_strict(ar, ar_weights.state, "AR model")
    source = {
        "tokenizer": {"checkpoint": Path(tokenizer_ckpt).name, "state_key": tok_weights.state_key},
        "ar": {"checkpoint": Path(ar_ckpt).name, "state_key": ar_weights.state_key},
    }
    return LoadedModels(tok.eval(), ar.eval(), source)
