"""The evaluation sampler follows the contract: Philox uniforms equal shared/src/random.ts, the cfg
schedule, top-k / top-p filtering and the inverse-CDF draw."""

import numpy as np
import pytest
import torch

from gigatok_model.ar import GPT
from gigatok_model.configs import ar_config
from gigatok_model.nano import sampling


def test_philox_uniforms_equal_the_shared_typescript_values():
    # Values printed by shared/src/random.ts `uniform(seed, imageIndex, step)`.
    assert sampling.philox_uniforms(0, [0], 1)[0, 0] == np.float32(0.3990464210510254)
    assert sampling.philox_uniforms(1, [2], 4)[0, 3] == np.float32(0.8267388343811035)
    assert sampling.philox_uniforms(4294967295, [7], 32)[0, 31] == np.float32(0.07669997215270996)
    assert sampling.philox_uniforms(12345, [999], 18)[0, 17] == np.float32(0.1606910228729248)


def test_step_schedule_uses_full_scale_first_then_one_until_18_percent():
    got = [sampling.cfg_at(4.0, "step", i, 32) for i in range(8)]
    assert got == [4.0, 1.0, 1.0, 1.0, 1.0, 4.0, 4.0, 4.0]
    assert all(sampling.cfg_at(4.0, "constant", i, 32) == 4.0 for i in range(32))
    with pytest.raises(ValueError, match="cfg_schedule"):
        sampling.cfg_at(4.0, "linear", 3, 32)


def test_top_k_keeps_ties_and_top_p_keeps_the_token_that_crosses_p():
    logits = torch.tensor([[3.0, 1.0, 3.0, 0.0, 2.0]])
    kept = torch.isfinite(sampling.filter_logits(logits, 2, 1.0))
    assert kept.tolist() == [[True, False, True, False, False]]
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    kept = torch.isfinite(sampling.filter_logits(probs.log(), 0, 0.6))
    assert kept.tolist() == [[True, True, False, False]]


def test_inverse_cdf_draw_counts_cdf_values_at_or_below_u():
    probs = torch.tensor([[0.25, 0.25, 0.5], [0.25, 0.25, 0.5], [0.0, 0.0, 1.0]])
    assert sampling.draw(probs, torch.tensor([0.0, 0.25, 0.999])).tolist() == [0, 1, 2]


def test_generate_is_seeded_and_top_k_1_is_greedy():
    torch.manual_seed(0)
    ar = GPT(ar_config("gpt-tiny"))
    ar.init_weights(zero_output=False)
    classes = torch.tensor([0, 1, 2, 3])
    s = sampling.SamplingSettings(cfg_scale=2.0)
    a = sampling.generate(ar, classes, s, seed=5)
    assert a.shape == (4, ar.config.block_size)
    assert torch.equal(a, sampling.generate(ar, classes, s, seed=5))
    assert not torch.equal(a, sampling.generate(ar, classes, s, seed=6))
    greedy = sampling.generate(ar, classes, sampling.SamplingSettings(cfg_scale=1.0, top_k=1), seed=5)
    tokens = torch.zeros(4, 0, dtype=torch.int64)
    for _ in range(ar.config.block_size):
        nxt = ar(classes, tokens)[:, -1].argmax(-1, keepdim=True)
        tokens = torch.cat([tokens, nxt], dim=1)
    assert torch.equal(greedy, tokens)
