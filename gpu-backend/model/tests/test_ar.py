"""The AR model: cached steps equal the no-cache forward, position semantics, class dropout."""

import dataclasses

import torch

from gigatok_model.ar import GPT
from gigatok_model.configs import ar_config


def model(**overrides) -> GPT:
    torch.manual_seed(0)
    cfg = dataclasses.replace(ar_config("gpt-tiny"), **overrides)
    gpt = GPT(cfg)
    gpt.init_weights(zero_output=False)
    return gpt.eval()


@torch.no_grad()
def test_kv_cached_steps_reproduce_the_no_cache_forward():
    gpt = model()
    classes = torch.tensor([0, 3, 4])  # 4 = null class
    tokens = torch.randint(0, 64, (3, 8))
    full = gpt(classes, tokens[:, :-1])  # [3, 8, V]: position p predicts token p
    pk, pv = gpt.empty_past(3)
    prev = torch.zeros(3, 1, dtype=torch.int64)
    for p in range(8):
        logits, pk, pv = gpt.step(prev, classes, torch.tensor([p]), pk, pv)
        torch.testing.assert_close(logits, full[:, p], atol=1e-5, rtol=1e-5)
        assert pk.shape == (2, 3, 2, p + 1, 16)
        prev = tokens[:, p : p + 1]


@torch.no_grad()
def test_position_zero_embeds_the_class_and_ignores_the_token():
    gpt = model()
    pk, pv = gpt.empty_past(2)
    a, _, _ = gpt.step(torch.tensor([[5], [9]]), torch.tensor([1, 2]), torch.tensor([0]), pk, pv)
    b, _, _ = gpt.step(torch.tensor([[0], [0]]), torch.tensor([1, 2]), torch.tensor([0]), pk, pv)
    c, _, _ = gpt.step(torch.tensor([[0], [0]]), torch.tensor([2, 2]), torch.tensor([0]), pk, pv)
    torch.testing.assert_close(a, b)
    assert not torch.allclose(b[0], c[0])


@torch.no_grad()
def test_later_positions_embed_the_token_and_ignore_the_class():
    gpt = model()
    _, pk, pv = gpt.step(torch.zeros(2, 1, dtype=torch.int64), torch.tensor([1, 1]), torch.tensor([0]), *gpt.empty_past(2))
    a, _, _ = gpt.step(torch.tensor([[7], [7]]), torch.tensor([1, 3]), torch.tensor([1]), pk, pv)
    b, _, _ = gpt.step(torch.tensor([[7], [8]]), torch.tensor([1, 1]), torch.tensor([1]), pk, pv)
    torch.testing.assert_close(a[0], a[1])
    assert not torch.allclose(b[0], b[1])


def test_training_drops_classes_to_the_null_class():
    gpt = model(class_dropout_prob=1.0, token_dropout_p=0.0, resid_dropout_p=0.0, ffn_dropout_p=0.0)
    classes, tokens = torch.tensor([0, 1]), torch.randint(0, 64, (2, 8))
    gpt.train()
    dropped = gpt(classes, tokens[:, :-1])
    gpt.eval()
    null = gpt(torch.tensor([4, 4]), tokens[:, :-1])
    cond = gpt(classes, tokens[:, :-1])
    torch.testing.assert_close(dropped, null)
    assert not torch.allclose(cond, null)
    forced = gpt(classes, tokens[:, :-1], force_drop_ids=torch.tensor([1, 0]))
    torch.testing.assert_close(forced[0], null[0])
    torch.testing.assert_close(forced[1], cond[1])


def test_teacher_forced_loss_trains_next_token_prediction():
    gpt = model(token_dropout_p=0.0, resid_dropout_p=0.0, ffn_dropout_p=0.0, class_dropout_prob=0.0)
    gpt.train()
    classes, tokens = torch.tensor([1, 2]), torch.randint(0, 64, (2, 8))
    opt = torch.optim.Adam(gpt.parameters(), lr=1e-2)
    first = gpt.loss(classes, tokens)
    for _ in range(20):
        opt.zero_grad()
        loss = gpt.loss(classes, tokens)
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first.item()


@torch.no_grad()
def test_hidden_mean_reads_the_middle_layer():
    gpt = model()
    classes, tokens = torch.tensor([1, 2]), torch.randint(0, 64, (2, 8))
    h = gpt._embed(classes, tokens[:, :-1])
    h, _, _ = gpt.layers[0](h)  # n_layer 2 -> layer 1
    torch.testing.assert_close(gpt.hidden_mean(classes, tokens), h.mean(dim=1))
    assert gpt.hidden_mean(classes, tokens, layer=2).shape == (2, 32)


def test_the_output_projection_starts_at_zero_like_llamagen():
    torch.manual_seed(0)
    gpt = GPT(ar_config("gpt-tiny"))
    assert torch.count_nonzero(gpt.output.weight) == 0
    assert gpt.cls_embedding.embedding_table.weight.shape == (5, 32)
