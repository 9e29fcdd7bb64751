"""Official checkpoints load strictly: our state dict matches the public layout name for name and
shape for shape (tests/fixtures/public_param_shapes.json, transcribed from the public code by
tests/fixtures/derive_param_listing.py), and the loader picks the state dict the official sampling
scripts pick (tokenizer: ema, model, state_dict; GPT: model, module, state_dict), or the one named."""

import json
from pathlib import Path

import pytest
import torch

from gigatok_model.ar import GPT
from gigatok_model.configs import ar_config, tokenizer_config
from gigatok_model.checkpoints import from_checkpoints, load_checkpoint_weights
from gigatok_model.export import main
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
    loaded = from_checkpoints(tc, ar_config("GPT-B", tc), tok_path, ar_path)
    tok, ar = loaded.tokenizer, loaded.ar
    assert tok.quantize.embedding.weight.flatten()[0].item() == 2.0  # ema, not model
    assert ar.output.weight.flatten()[0].item() == 3.0
    assert tok.s2to1encoder.positional_embedding.device.type == "cpu"


def test_compiled_model_prefixes_are_stripped(tmp_path):
    path = tmp_path / "gpt.pt"
    torch.save({"ema": {"_orig_mod.norm.weight": torch.ones(3)}}, path)
    assert list(load_checkpoint_weights(path).state) == ["norm.weight"]


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


# ---------------------------------------------------------------------------------------------
# Which state dict: the official sampling scripts' order per model, or the key named.


def save_ckpt(path, **entries):
    torch.save({**entries, "args": None, "steps": 7}, path)
    return path


@pytest.fixture(scope="module")
def ss_gpt_b():
    tc = tokenizer_config("S-S")
    return tc, ar_config("GPT-B", tc)


def ema_and_model(tmp_path):
    """A tokenizer and a GPT checkpoint that each hold `ema` and `model` weights (all 2.0 vs 1.0 and
    4.0 vs 3.0), as a training run saves them."""
    vq, gpt = LISTING["VQ_SS256"], LISTING["GPT-B"]
    return (
        save_ckpt(tmp_path / "vq.pt", ema=fake_state(vq, 2.0), model=fake_state(vq, 1.0)),
        save_ckpt(tmp_path / "gpt.pt", ema=fake_state(gpt, 4.0), model=fake_state(gpt, 3.0)),
    )


def first_values(loaded):
    tok, ar = loaded.tokenizer, loaded.ar
    return tok.quantize.embedding.weight.flatten()[0].item(), ar.output.weight.flatten()[0].item()


def test_a_gpt_checkpoint_holding_ema_and_model_loads_model_as_the_official_sampler_does(tmp_path, ss_gpt_b):
    tok, gpt = ema_and_model(tmp_path)
    loaded = from_checkpoints(*ss_gpt_b, tok, gpt)
    assert first_values(loaded) == (2.0, 3.0)  # tokenizer: ema; GPT: model, not ema
    assert loaded.source == {
        "tokenizer": {"checkpoint": "vq.pt", "state_key": "ema"},
        "ar": {"checkpoint": "gpt.pt", "state_key": "model"},
    }


def test_named_state_keys_override_the_official_order(tmp_path, ss_gpt_b):
    tok, gpt = ema_and_model(tmp_path)
    loaded = from_checkpoints(*ss_gpt_b, tok, gpt, tokenizer_state_key="model", ar_state_key="ema")
    assert first_values(loaded) == (1.0, 4.0)
    assert loaded.source["tokenizer"]["state_key"] == "model" and loaded.source["ar"]["state_key"] == "ema"


@pytest.mark.parametrize(
    ("entries", "want_key", "want_value"),
    [
        ({"module": 5.0, "state_dict": 6.0}, "module", 5.0),  # DeepSpeed GPT checkpoints
        ({"state_dict": 6.0, "ema": 4.0}, "state_dict", 6.0),  # the GPT never reads ema by default
    ],
)
def test_the_gpt_falls_back_to_module_then_state_dict(tmp_path, ss_gpt_b, entries, want_key, want_value):
    tok = save_ckpt(tmp_path / "vq.pt", state_dict=fake_state(LISTING["VQ_SS256"], 1.5))
    gpt = save_ckpt(tmp_path / "gpt.pt", **{k: fake_state(LISTING["GPT-B"], v) for k, v in entries.items()})
    loaded = from_checkpoints(*ss_gpt_b, tok, gpt)
    assert first_values(loaded) == (1.5, want_value)
    assert loaded.source["tokenizer"]["state_key"] == "state_dict" and loaded.source["ar"]["state_key"] == want_key


def test_a_bare_state_dict_loads_as_it_is_and_is_recorded_without_a_key(tmp_path, ss_gpt_b):
    tok = tmp_path / "vq.pt"
    torch.save(fake_state(LISTING["VQ_SS256"], 1.0), tok)
    gpt = save_ckpt(tmp_path / "gpt.pt", model=fake_state(LISTING["GPT-B"], 3.0))
    loaded = from_checkpoints(*ss_gpt_b, tok, gpt)
    assert first_values(loaded) == (1.0, 3.0)
    assert loaded.source["tokenizer"]["state_key"] is None
    assert from_checkpoints(*ss_gpt_b, tok, gpt, tokenizer_state_key="none").source["tokenizer"]["state_key"] is None
    with pytest.raises(SystemExit, match="AR model: state key 'none' needs a flat checkpoint"):
        from_checkpoints(*ss_gpt_b, tok, gpt, ar_state_key="none")


def test_a_state_key_the_checkpoint_lacks_is_refused_naming_the_keys_it_has(tmp_path, ss_gpt_b):
    tok = save_ckpt(tmp_path / "vq.pt", ema=fake_state(LISTING["VQ_SS256"], 2.0))
    gpt = save_ckpt(tmp_path / "gpt.pt", model=fake_state(LISTING["GPT-B"], 3.0))
    lacking = r"AR model: state key 'ema' is not in the checkpoint \(dict entries: \['model'\]\)"
    with pytest.raises(SystemExit, match=lacking):
        from_checkpoints(*ss_gpt_b, tok, gpt, ar_state_key="ema")
    odd = save_ckpt(tmp_path / "odd.pt", weights=fake_state(LISTING["GPT-B"], 3.0))
    with pytest.raises(SystemExit, match=r"holds none of \['model', 'module', 'state_dict'\]"):
        from_checkpoints(*ss_gpt_b, tok, odd)


def test_the_export_cli_prints_and_records_the_state_keys_it_loaded(tmp_path, capsys):
    from gigatok_model.export import random_ar, random_tokenizer

    tc = tokenizer_config("tiny")
    ac = ar_config("gpt-tiny", tc)
    tok, other_tok = random_tokenizer(tc, 0).state_dict(), random_tokenizer(tc, 1).state_dict()
    ar, other_ar = random_ar(ac, 0).state_dict(), random_ar(ac, 1).state_dict()
    tok_path = save_ckpt(tmp_path / "vq.pt", ema=tok, model=other_tok)
    ar_path = save_ckpt(tmp_path / "gpt.pt", ema=other_ar, model=ar)
    out = tmp_path / "model"
    argv = ["--tokenizer-config", "tiny", "--ar-config", "gpt-tiny", "--out", str(out)]
    argv += ["--tokenizer-ckpt", str(tok_path), "--ar-ckpt", str(ar_path), "--no-generate-graph", "--no-embed-graph"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "tokenizer weights: vq.pt, key 'ema'" in text and "ar weights: gpt.pt, key 'model'" in text
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["source"] == {
        "tokenizer": {"checkpoint": "vq.pt", "state_key": "ema"},
        "ar": {"checkpoint": "gpt.pt", "state_key": "model"},
    }
    assert main([*argv, "--ar-state-key", "ema"]) == 0
    assert json.loads((out / "manifest.json").read_text())["source"]["ar"]["state_key"] == "ema"
    with pytest.raises(SystemExit, match="excludes"):
        main([*argv[:6], "--random-init", "--ar-state-key", "ema"])
