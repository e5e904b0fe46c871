"""Seq2Seq: bridge, teacher forcing vs step-by-step decoding, padding invariance, validation,
and a tiny model that learns to reverse digit strings."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch.nn import functional as F

from seqframe.builtin.cells import GRUCell, LSTMCell
from seqframe.builtin.tasks.search import beam_search, greedy_decode
from seqframe.builtin.tasks.translation.model import Seq2Seq
from seqframe.builtin.topologies import StackedTopology

CELLS = {"lstm": LSTMCell, "gru": GRUCell}
PAD, BOS, EOS = 0, 1, 2
E = 6


def _model(
    enc_cell: str = "lstm",
    dec_cell: str = "lstm",
    bidirectional: bool = True,
    layers: int = 2,
    attention: str = "general",
    enc_hidden: int = 7,
    dec_hidden: int = 5,
    dec_layers: int = 2,
    input_feeding: bool = False,
) -> Seq2Seq:
    torch.manual_seed(0)
    encoder = StackedTopology(CELLS[enc_cell], E, enc_hidden, layers, bidirectional)
    decoder = StackedTopology(CELLS[dec_cell], E, dec_hidden, dec_layers)
    return Seq2Seq(11, 13, E, encoder, decoder, attention, pad_id=PAD, input_feeding=input_feeding).eval()


def _batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Three padded examples ``src (3, 6)``, ``tgt_in (3, 5)`` of different lengths."""
    gen = torch.Generator().manual_seed(1)
    src_lengths, tgt_lengths = torch.tensor([6, 2, 4]), torch.tensor([3, 5, 1])
    src = torch.randint(3, 11, (3, 6), generator=gen).masked_fill(torch.arange(6) >= src_lengths[:, None], PAD)
    tgt = torch.randint(3, 13, (3, 5), generator=gen).masked_fill(torch.arange(5) >= tgt_lengths[:, None], PAD)
    tgt[:, 0] = BOS
    return src, src_lengths, tgt, tgt_lengths


@pytest.mark.parametrize(
    "enc_cell,dec_cell,bidirectional,layers,feeding",
    [(*cells, False) for cells in itertools.product(["lstm", "gru"], ["lstm", "gru"], [False, True], [1, 2])]
    + [("lstm", "lstm", True, 2, True), ("gru", "gru", False, 1, True)],
)
def test_logits_of_a_padded_example_equal_its_logits_alone(enc_cell, dec_cell, bidirectional, layers, feeding) -> None:
    model = _model(enc_cell, dec_cell, bidirectional, layers, input_feeding=feeding)
    src, src_lengths, tgt, tgt_lengths = _batch()
    batched = model(src, src_lengths, tgt, tgt_lengths)
    assert batched.shape == (3, 5, 13)
    for b in range(3):
        s, t = int(src_lengths[b]), int(tgt_lengths[b])
        alone = model(src[b : b + 1, :s], [s], tgt[b : b + 1, :t], [t])
        torch.testing.assert_close(batched[b, :t], alone[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "attention,feeding",
    [("none", False), ("dot", False), ("general", False), ("additive", False), ("dot", True), ("general", True)]
    + [("additive", True)],
)
@pytest.mark.parametrize("dec_cell", ["lstm", "gru"])
def test_decode_step_token_by_token_reproduces_teacher_forcing(attention: str, feeding: bool, dec_cell: str) -> None:
    # dot needs equal sizes: a bidirectional encoder of 2 x 4 and a decoder of 8
    model = _model("gru", dec_cell, True, 2, attention, enc_hidden=4, dec_hidden=8, input_feeding=feeding)
    src, src_lengths, tgt, _ = _batch()
    expected = F.log_softmax(model(src, src_lengths, tgt, None), -1)  # (B, T, V)
    enc = model.encode(src, src_lengths)
    state = enc.state
    for t in range(tgt.shape[1]):
        log_probs, state = model.decode_step(tgt[:, t], state, enc)
        torch.testing.assert_close(log_probs, expected[:, t], atol=1e-5, rtol=1e-5)


def test_input_feeding_reads_the_previous_attentional_state() -> None:
    """Hand-checked against the same weights without feeding: the first position (fed zeros)
    is the same; with ``W_f = 0`` every position is; with ``W_f`` the later ones differ, and
    the attentional state travels as the last state tensor ``(1, B, H_dec)``."""
    fed, plain = _model(input_feeding=True), _model()
    plain.load_state_dict({k: v for k, v in fed.state_dict().items() if not k.startswith("feed.")})
    with torch.no_grad():
        fed.feed.weight.mul_(10.0)  # a feed strong enough to show at these tiny sizes
    src, src_lengths, tgt, _ = _batch()
    with torch.no_grad():
        got, want = fed(src, src_lengths, tgt, None), plain(src, src_lengths, tgt, None)
    torch.testing.assert_close(got[:, 0], want[:, 0])
    assert float((got[:, 1:] - want[:, 1:]).abs().max()) > 1e-3
    enc = fed.encode(src, src_lengths)
    assert [tuple(s.shape) for s in enc.state] == [(2, 3, 5), (2, 3, 5), (1, 3, 5)]
    assert not enc.state[-1].any()
    _, state = fed.decode_step(tgt[:, 0], enc.state, enc)
    expected = fed.attentional(plain.decoder(fed.tgt_embedding(tgt[:, :1]), None, enc.state[:-1])[0], enc)
    torch.testing.assert_close(state[-1], expected.transpose(0, 1))
    with torch.no_grad():
        fed.feed.weight.zero_()
    torch.testing.assert_close(fed(src, src_lengths, tgt, None), want)


def test_input_feeding_without_attention_is_rejected() -> None:
    with pytest.raises(ValueError, match="input_feeding .* needs attention"):
        _model(attention="none", input_feeding=True)
    with pytest.raises(ValueError, match="input_feeding must be true or false, got 'yes'"):
        _model(input_feeding="yes")  # type: ignore[arg-type]


def test_bidirectional_decoder_is_rejected() -> None:
    decoder = StackedTopology(LSTMCell, E, 5, 1, bidirectional=True)
    with pytest.raises(ValueError, match="a decoder that generates cannot be bidirectional"):
        Seq2Seq(11, 13, E, StackedTopology(LSTMCell, E, 5), decoder)


@pytest.mark.parametrize("enc_cell,dec_cell", [("gru", "lstm"), ("lstm", "gru"), ("lstm", "lstm")])
def test_bridge_maps_every_encoder_state_row_to_the_decoder_state_shape(enc_cell: str, dec_cell: str) -> None:
    model = _model(enc_cell, dec_cell, True, 2, enc_hidden=7, dec_hidden=5, dec_layers=3)
    n_enc, n_dec = (2 if enc_cell == "lstm" else 1), (2 if dec_cell == "lstm" else 1)
    encoder_state = tuple(torch.randn(4, 3, 7, requires_grad=True) for _ in range(n_enc))  # (L*D, B, H)
    state = model.bridge_state(encoder_state)
    assert [tuple(s.shape) for s in state] == [(3, 3, 5)] * n_dec
    assert all(linear.in_features == 2 * 2 * 7 * n_enc for linear in model.bridge)
    sum(s.sum() for s in state).backward()
    for s in encoder_state:  # every layer and direction reaches the decoder
        assert bool((s.grad.abs().sum(dim=(1, 2)) > 0).all())


def test_bridge_keeps_examples_apart() -> None:
    model = _model("gru", "lstm")
    encoder_state = (torch.randn(4, 3, 7),)
    first = model.bridge_state(encoder_state)
    changed = encoder_state[0].clone()
    changed[:, 1] += 1.0
    second = model.bridge_state((changed,))
    for a, b in zip(first, second):
        torch.testing.assert_close(a[:, [0, 2]], b[:, [0, 2]])
        assert not torch.allclose(a[:, 1], b[:, 1])


def test_encoder_with_another_input_size_is_rejected() -> None:
    with pytest.raises(ValueError, match="encoder reads embeddings of size embedding_dim=6, but its input_size is 4"):
        Seq2Seq(11, 13, E, StackedTopology(LSTMCell, 4, 5), StackedTopology(LSTMCell, E, 5))


def test_dot_attention_with_different_sizes_is_rejected() -> None:
    with pytest.raises(ValueError, match="'dot' attention needs the decoder output size to equal the encoder"):
        _model(bidirectional=True, attention="dot", enc_hidden=5, dec_hidden=5)


def test_unknown_attention_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown attention 'luong'"):
        _model(attention="luong")


def test_tied_target_embeddings_share_the_output_weight() -> None:
    encoder, decoder = StackedTopology(GRUCell, E, 4), StackedTopology(GRUCell, E, E)
    model = Seq2Seq(11, 13, E, encoder, decoder, "general", tie_target_embeddings=True)
    assert model.output.weight is model.tgt_embedding.weight
    with pytest.raises(ValueError, match="tie_target_embeddings needs embedding_dim == decoder output size"):
        Seq2Seq(11, 13, E, encoder, StackedTopology(GRUCell, E, 5), tie_target_embeddings=True)


@pytest.mark.parametrize("feeding", [False, True])
def test_reorder_selects_and_repeats_rows(feeding: bool) -> None:
    model = _model(input_feeding=feeding)
    src, src_lengths, tgt, _ = _batch()
    enc = model.encode(src, src_lengths)
    index = torch.tensor([2, 2, 0])
    picked = model.reorder(enc, index)
    log_probs, state = model.decode_step(tgt[index, 0], picked.state, picked)
    full, full_state = model.decode_step(tgt[:, 0], enc.state, enc)
    torch.testing.assert_close(log_probs, full[index])
    for s, f in zip(model.reorder_state(full_state, index), state):
        torch.testing.assert_close(s, f)


def _reversal_batch(n: int, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
    """Digit strings (ids 3-12) of length 3-6 and their reversals, padded."""
    lengths = torch.randint(3, 7, (n,), generator=gen)
    src = torch.randint(3, 13, (n, 6), generator=gen).masked_fill(torch.arange(6) >= lengths[:, None], PAD)
    tgt_in = torch.full((n, 7), PAD)
    tgt_out = torch.full((n, 7), PAD)
    for i, length in enumerate(lengths.tolist()):
        reversed_ = src[i, :length].flip(0)
        tgt_in[i, 0], tgt_in[i, 1 : length + 1] = BOS, reversed_
        tgt_out[i, :length], tgt_out[i, length] = reversed_, EOS
    return src, lengths, tgt_in, tgt_out, lengths + 1


@pytest.mark.slow
@pytest.mark.parametrize("feeding", [False, True])
def test_tiny_model_with_attention_learns_to_reverse_digit_strings(feeding: bool) -> None:
    torch.manual_seed(0)
    encoder = StackedTopology(GRUCell, 16, 32, 1, bidirectional=True)
    decoder = StackedTopology(GRUCell, 16, 64)
    model = Seq2Seq(13, 13, 16, encoder, decoder, "general", pad_id=PAD, input_feeding=feeding)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(0)
    for _ in range(400):  # 250 steps sat at the threshold on some CPUs (80% on one Xeon, 99% on EPYC)
        src, lengths, tgt_in, tgt_out, tgt_lengths = _reversal_batch(64, gen)
        logits = model(src, lengths, tgt_in, tgt_lengths)
        loss = F.cross_entropy(logits.flatten(0, 1), tgt_out.flatten(), ignore_index=PAD)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    src, lengths, _, tgt_out, _ = _reversal_batch(200, torch.Generator().manual_seed(123))
    expected = [src[i, :n].flip(0).tolist() for i, n in enumerate(lengths.tolist())]
    greedy = greedy_decode(model, src, lengths, BOS, EOS, max_len=10)
    beam = beam_search(model, src, lengths, BOS, EOS, beam_size=3, max_len=lambda n: n + 2)
    for name, predicted in (("greedy", greedy), ("beam", beam)):
        accuracy = sum(p == e for p, e in zip(predicted, expected)) / len(expected)
        assert accuracy >= 0.9, f"{name} exact match {accuracy:.2%}"
