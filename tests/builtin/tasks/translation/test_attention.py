"""Global attention: masking of source padding, the three score functions, key projection."""

from __future__ import annotations

import pytest
import torch

from seqframe.builtin.tasks.translation.attention import ATTENTION_KINDS, Attention

LENGTHS = torch.tensor([5, 3, 1])


def _inputs(query_size: int = 6, key_size: int = 6) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    query = torch.randn(3, 4, query_size)  # (B, Tq, Hq)
    keys = torch.randn(3, 5, key_size)  # (B, Ts, Hk)
    mask = torch.arange(5) < LENGTHS.unsqueeze(1)  # (B, Ts)
    return query, keys, mask


@pytest.mark.parametrize("kind", ATTENTION_KINDS)
def test_weights_sum_to_one_over_real_positions_and_are_exactly_zero_on_padding(kind: str) -> None:
    query, keys, mask = _inputs()
    context, weights = Attention(6, 6, kind)(query, keys, mask)
    assert context.shape == (3, 4, 6) and weights.shape == (3, 4, 5)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 4))
    assert bool((weights[~mask.unsqueeze(1).expand_as(weights)] == 0).all())
    assert bool((weights[mask.unsqueeze(1).expand_as(weights)] > 0).all())


def test_dot_context_is_the_softmax_weighted_sum_of_real_keys() -> None:
    query, keys, mask = _inputs()
    context, weights = Attention(6, 6, "dot")(query, keys, mask)
    for b, length in enumerate(LENGTHS.tolist()):
        expected_weights = torch.softmax(query[b] @ keys[b, :length].T, dim=-1)  # (Tq, length)
        torch.testing.assert_close(weights[b, :, :length], expected_weights)
        torch.testing.assert_close(context[b], expected_weights @ keys[b, :length])


def test_general_and_additive_scores_follow_their_formulas() -> None:
    query, keys, mask = _inputs(4, 6)
    general = Attention(4, 6, "general")
    _, weights = general(query, keys, torch.ones_like(mask))
    expected = torch.softmax(query @ general.key_proj(keys).transpose(1, 2), -1)  # q . (W_a k)
    torch.testing.assert_close(weights, expected)
    additive = Attention(4, 6, "additive", attention_size=3)
    _, weights = additive(query, keys, torch.ones_like(mask))
    q = additive.query_proj(query).unsqueeze(2)  # (B, Tq, 1, A)
    k = additive.key_proj(keys).unsqueeze(1)  # (B, 1, Ts, A)
    expected = torch.softmax(additive.v(torch.tanh(q + k)).squeeze(-1), -1)  # v . tanh(W_q q + W_k k + b)
    torch.testing.assert_close(weights, expected)


@pytest.mark.parametrize("kind", ATTENTION_KINDS)
def test_padding_content_does_not_change_the_result(kind: str) -> None:
    query, keys, mask = _inputs()
    attention = Attention(6, 6, kind)
    context, weights = attention(query, keys, mask)
    noisy = keys.masked_fill(~mask.unsqueeze(-1), 1e4)
    noisy_context, noisy_weights = attention(query, noisy, mask)
    torch.testing.assert_close(noisy_context, context)
    torch.testing.assert_close(noisy_weights, weights)


@pytest.mark.parametrize("kind", ATTENTION_KINDS)
def test_all_padding_row_gives_zeros_and_finite_gradients(kind: str) -> None:
    query, keys, mask = _inputs()
    mask[2] = False
    query.requires_grad_(True)
    attention = Attention(6, 6, kind)
    context, weights = attention(query, keys, mask)
    assert bool((weights[2] == 0).all()) and bool((context[2] == 0).all())
    context.sum().backward()
    assert torch.isfinite(query.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in attention.parameters())


@pytest.mark.parametrize("kind", ATTENTION_KINDS)
def test_precomputed_key_projection_matches_forward(kind: str) -> None:
    query, keys, mask = _inputs()
    attention = Attention(6, 6, kind)
    projected = attention.project_keys(keys)
    for got, expected in zip(attention.attend(query, keys, projected, mask), attention(query, keys, mask)):
        torch.testing.assert_close(got, expected)


def test_dot_with_different_sizes_is_rejected() -> None:
    with pytest.raises(ValueError, match="'dot' attention needs query_size == key_size, got 4 and 6"):
        Attention(4, 6, "dot")


def test_unknown_kind_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown kind 'concat'"):
        Attention(4, 4, "concat")


@pytest.mark.parametrize("kind", ["general", "additive"])
def test_query_and_key_sizes_may_differ(kind: str) -> None:
    query, keys, mask = _inputs(4, 7)
    context, weights = Attention(4, 7, kind)(query, keys, mask)
    assert context.shape == (3, 4, 7) and weights.shape == (3, 4, 5)
