"""Official checkpoints load strictly: our state dict matches the public layout name for name and
shape for shape (tests/fixtures/public_param_shapes.json, transcribed from the public code by
tests/fixtures/derive_param_listing.py), and the loader takes `ema` before `model`."""

import json
from pathlib import Path

import pytest
import torch

from gigatok_model.ar import GPT
from gigatok_model.configs import ar_config, tokenizer_config
from gigatok_model.export import from_checkpoints, load_checkpoint_weights
from gigatok_model.tokenizer import GigaTok

LISTING = json.loads((Path(__file__).parent / "fixtures" / "public_param_shapes.json").read_text())


def shapes(module: torch.nn.Module) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in module.state_dict().items()}


def fake_state(listing: dict[str, list[int]], value: float) -> dict[str, torch.Tensor]:
    # Zero-stride views of one number: full-size tensors in shape, a few bytes on disk.
    return {k: torch.full((1,), value).expand(s) for k, s in listing.items()}


def test_ss_tokenizer_state_dict_matches_the_public_layout():
    with torch.device("meta"):
        model = GigaTok(tokenizer_config("S-S"))
    assert shapes(model) == LISTING["VQ_SS256"]


def test_gpt_b_state_dict_matches_the_public_layout():
    with torch.device("meta"):
        model = GPT(ar_config("GPT-B"))
    assert shapes(model) == LISTING["GPT-B"]


def test_checkpoints_built_from_the_listing_load_strictly_preferring_ema(tmp_path):
    tok_path, ar_path = tmp_path / "vq.pt", tmp_path / "gpt.pt"
    torch.save(
        {"model": fake_state(LISTING["VQ_SS256"], 1.0), "ema": fake_state(LISTING["VQ_SS256"], 2.0)},
        tok_path,
    )
    torch.save({"model": fake_state(LISTING["GPT-B"], 3.0), "steps": 10}, ar_path)
    tc = tokenizer_config("S-S")
    tok, ar = from_checkpoints(tc, ar_config("GPT-B", tc), tok_path, ar_path)
    assert tok.quantize.embedding.weight.flatten()[0].item() == 2.0  # ema, not model
    assert ar.output.weight.flatten()[0].item() == 3.0
    assert tok.s2to1encoder.positional_embedding.device.type == "cpu"


def test_compiled_model_prefixes_are_stripped(tmp_path):
    path = tmp_path / "gpt.pt"
    torch.save({"ema": {"_orig_mod.norm.weight": torch.ones(3)}}, path)
    assert list(load_checkpoint_weights(path)) == ["norm.weight"]


@pytest.mark.parametrize("defect", ["missing", "unexpected", "shape"])
def test_a_checkpoint_that_does_not_match_the_config_is_refused(tmp_path, defect):
    state = fake_state(LISTING["GPT-B"], 0.5)
    if defect == "missing":
        del state["layers.3.attention.wo.weight"]
    elif defect == "unexpected":
        state["layers.12.attention.wo.weight"] = torch.zeros(768, 768)
    else:
        state["positional_embedding"] = torch.zeros(513, 768)
    path = tmp_path / "gpt.pt"
    torch.save({"model": state}, path)
    ok = tmp_path / "vq.pt"
    torch.save({"ema": fake_state(LISTING["VQ_SS256"], 1.0)}, ok)
    tc = tokenizer_config("S-S")
    with pytest.raises(SystemExit, match="AR model: checkpoint does not match"):
        from_checkpoints(tc, ar_config("GPT-B", tc), ok, path)
