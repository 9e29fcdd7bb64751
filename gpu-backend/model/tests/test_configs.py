"""Released sizes reproduce the published parameter counts; configs reject impossible shapes."""

import dataclasses

import pytest
import torch

from gigatok_model.ar import GPT
from gigatok_model.configs import ar_config, multi_level_blocks, tokenizer_config
from gigatok_model.tokenizer import GigaTok, count_parameters


# GigaTok paper Table (tokenizer params incl. the semantic-regularization MLP) and LlamaGen sizes.
@pytest.mark.parametrize(
    ("name", "millions"), [("S-S", 136), ("S-B", 232), ("B-L", 622), ("XL-XXL", 2894)]
)
def test_tokenizer_sizes_match_the_published_parameter_counts(name, millions):
    with torch.device("meta"):
        model = GigaTok(tokenizer_config(name))
    assert round(count_parameters(model) / 1e6) == millions


@pytest.mark.parametrize(
    ("name", "millions", "ffn"),
    [("GPT-B", 111, 2048), ("GPT-L", 343, 2816), ("GPT-XL", 775, 3584), ("GPT-XXL", 1411, 4096)],
)
def test_gpt_sizes_match_llamagen(name, millions, ffn):
    cfg = ar_config(name)
    with torch.device("meta"):
        model = GPT(cfg)
    assert round(count_parameters(model) / 1e6) == millions
    assert cfg.ffn_hidden == ffn
    assert (cfg.null_class_id, cfg.embedding_layer) == (1000, cfg.n_layer // 2)


def test_only_the_xl_xxl_tokenizer_uses_the_entropy_loss():
    ratios = {n: tokenizer_config(n).entropy_loss_ratio for n in ("S-S", "S-B", "B-L", "XL-XXL")}
    assert ratios == {"S-S": 0.0, "S-B": 0.0, "B-L": 0.0, "XL-XXL": 0.005}


def test_nano_is_the_32px_32_token_default():
    tc = tokenizer_config("nano")
    ac = ar_config("gpt-nano", tc)
    assert (tc.image_size, tc.grid_size, tc.num_latent_tokens) == (32, 8, 32)
    assert (tc.codebook_size, tc.codebook_dim) == (1024, 8)
    assert (ac.n_layer, ac.n_head, ac.dim, ac.num_classes, ac.vocab_size) == (4, 4, 128, 10, 1024)


def test_multi_level_groups_cover_256_tokens_coarse_to_fine():
    blocks = multi_level_blocks(8)
    assert [r * c for r, c in blocks] == [1, 1, 2, 4, 8, 16, 32, 64, 128]
    assert blocks[2] == (1, 2)  # the width splits first
    assert sum(r * c for r, c in blocks) == 256


def test_ar_config_follows_the_tokenizer():
    cfg = ar_config("GPT-B", tokenizer_config("nano"))
    assert (cfg.vocab_size, cfg.block_size) == (1024, 32)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"num_latent_tokens": 24}, "power of two"),
        ({"image_size": 30}, "divisible"),
        ({"num_latent_tokens": 1024}, "cannot be split"),
        ({"distill_depth": 9}, "distill_depth"),
    ],
)
def test_invalid_tokenizer_configs_are_rejected(change, message):
    cfg = dataclasses.replace(tokenizer_config("nano"), **change)
    with pytest.raises(ValueError, match=message):
        cfg.validate()


def test_unknown_config_names_list_the_valid_ones():
    with pytest.raises(ValueError, match="S-S, S-B, B-L, XL-XXL"):
        tokenizer_config("M-M")
    with pytest.raises(ValueError, match="GPT-B"):
        ar_config("GPT-Z")
