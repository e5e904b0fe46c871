"""The encoder-decoder model core: :class:`Seq2Seq` and the :class:`EncoderOutput` it decodes from.

Plain torch over already-built topology modules (any object honouring the topology
contract of :mod:`seqframe.interfaces`); imports only layer 0 and this package.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from seqframe.builtin.tasks.search import reorder_layers
from seqframe.builtin.tasks.translation.attention import ATTENTION_KINDS, Attention
from seqframe.interfaces import State, Topology, directions_of

__all__ = ["EncoderOutput", "Seq2Seq"]

Lengths: TypeAlias = Tensor | Sequence[int] | None


@dataclass(frozen=True)
class EncoderOutput:
    """What decoding needs from the source, computed once by :meth:`Seq2Seq.encode`.

    Attributes:
        outputs: encoder outputs ``(B, S, H_enc_out)``, zero past each source length.
        mask: ``(B, S)`` bool, True on real source tokens.
        keys: ``outputs`` passed through :meth:`Attention.project_keys` ``(B, S, A)``, or
            None for a model without attention.
        state: the decoder's initial state: the bridge's tensors ``(L_dec, B, H_dec)``, then,
            for a model with input feeding, the zero attentional state ``(1, B, H_dec)``.
    """

    outputs: Tensor
    mask: Tensor
    keys: Tensor | None
    state: State

    def select(self, index: Tensor) -> EncoderOutput:
        """Rows ``index (B',)`` of the batch (repeats allowed), e.g. to expand for a beam."""
        return EncoderOutput(
            outputs=self.outputs.index_select(0, index),
            mask=self.mask.index_select(0, index),
            keys=None if self.keys is None else self.keys.index_select(0, index),
            state=tuple(s.index_select(1, index) for s in self.state),
        )


def _check_positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"Seq2Seq: {name} must be a positive int, got {value!r}")


def _check_arguments(
    src_vocab: int,
    tgt_vocab: int,
    embedding_dim: int,
    decoder: nn.Module,
    attention: str,
    dropout: float,
    input_feeding: bool,
) -> None:
    """Raise ValueError for a :class:`Seq2Seq` argument that cannot work."""
    for name, value in (("src_vocab", src_vocab), ("tgt_vocab", tgt_vocab), ("embedding_dim", embedding_dim)):
        _check_positive(name, value)
    if directions_of(decoder) > 1:
        raise ValueError(
            "Seq2Seq: a decoder that generates cannot be bidirectional (it cannot read the "
            "target ahead of what it has written); build it with bidirectional=False"
        )
    if attention != "none" and attention not in ATTENTION_KINDS:
        raise ValueError(
            f"Seq2Seq: unknown attention {attention!r}; expected one of none, {', '.join(ATTENTION_KINDS)}"
        )
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        raise ValueError(f"Seq2Seq: dropout must lie in [0, 1), got {dropout!r}")
    if not isinstance(input_feeding, bool):
        raise ValueError(f"Seq2Seq: input_feeding must be true or false, got {input_feeding!r}")
    if input_feeding and attention == "none":
        raise ValueError(
            "Seq2Seq: input_feeding feeds the previous attentional state back into the decoder, so it "
            "needs attention (dot, general or additive), got attention='none'"
        )


def _probe(topology: nn.Module, input_size: int, who: str) -> tuple[int, list[tuple[int, int]]]:
    """Run ``topology`` on one zero step: its output size and state layout ``[(L*D, H), ...]``."""
    declared = topology.input_size if isinstance(topology, Topology) else input_size
    if declared != input_size:
        raise ValueError(
            f"Seq2Seq: the {who} reads embeddings of size embedding_dim={input_size}, but its "
            f"input_size is {declared!r}; build it with input_size={input_size}"
        )
    param = next(topology.parameters(), None)
    x = torch.zeros(
        1, 1, input_size, device=None if param is None else param.device, dtype=None if param is None else param.dtype
    )
    with torch.no_grad():
        outputs, state = topology(x, None, None)
    if not isinstance(state, tuple) or not all(isinstance(s, Tensor) and s.dim() == 3 for s in state):
        got = (
            [tuple(s.shape) if isinstance(s, Tensor) else type(s).__name__ for s in state]
            if isinstance(state, tuple)
            else type(state).__name__
        )
        raise TypeError(f"Seq2Seq: the {who} must return a state tuple of (L*D, B, H) tensors, got {got}")
    return int(outputs.shape[-1]), [(int(s.shape[0]), int(s.shape[2])) for s in state]


def _build_attention(kind: str, dec_size: int, enc_size: int) -> tuple[Attention | None, nn.Linear | None]:
    """The attention module and Luong's ``W_c`` (no bias), or ``(None, None)`` for ``none``."""
    if kind == "none":
        return None, None
    if kind == "dot" and dec_size != enc_size:
        raise ValueError(
            f"Seq2Seq: 'dot' attention needs the decoder output size to equal the encoder output "
            f"size (D*H), got {dec_size} and {enc_size}; use 'general' or 'additive', or match the sizes"
        )
    return Attention(dec_size, enc_size, kind), nn.Linear(enc_size + dec_size, dec_size, bias=False)


class Seq2Seq(nn.Module):
    """Encoder-decoder with a learned bridge and optional global attention (many-to-many delayed).

    - Encoder: any topology (stacked or bidirectional, any cell) over source embeddings.
    - Bridge: for each decoder state element ``i`` (``h``, and ``c`` for an LSTM decoder),
      ``s_i = tanh(W_i [all encoder final states, every layer and direction] + b_i)``
      reshaped to ``(L_dec, B, H_dec)``; encoder and decoder may differ in cell, size and depth.
    - Decoder: a unidirectional topology over target embeddings, run once over the whole
      target in training (built-in cells use the fused kernels).
    - Read-out: with attention, Luong's attentional state ``a_t = tanh(W_c [context; h_t])``
      (``W_c`` without bias) then a linear map to the target vocabulary; without
      attention, the linear map reads ``h_t`` directly.
    - Input feeding (Luong et al. 2015, section 3.3), optional: the decoder reads
      ``e_t + W_f a_{t-1}`` (``a_0 = 0``, ``W_f`` without bias), so it knows what it attended
      to at the previous step. Luong feeds ``[e_t; a_{t-1}]``; the decoder's input
      projection ``W [e; a] = W_e e + W_a a`` becomes ``W_e (e + W_f a)``, which reaches the
      same maps when ``embedding_dim >= H_dec`` and leaves the decoder's input size at
      ``embedding_dim``. The decoder then runs one step at a time in training too, and
      ``a_{t-1}`` travels as the last tensor of the decoder state ``(1, B, H_dec)``.

    Args:
        src_vocab: source vocabulary size.
        tgt_vocab: target vocabulary size ``V``.
        embedding_dim: size ``E`` of both embeddings; the input size of both topologies.
        encoder: the source topology, ``(B, S, E) -> (B, S, H_enc_out)``.
        decoder: a unidirectional target topology, ``(B, T, E) -> (B, T, H_dec)``.
        attention: ``"none"``, ``"dot"``, ``"general"`` or ``"additive"``.
        pad_id: padding id of both vocabularies (its embedding stays zero).
        dropout: dropout on both embeddings and on the features read by the output layer.
        tie_target_embeddings: share the output layer's weight with the target embedding
            (needs ``embedding_dim == H_dec``).
        input_feeding: feed the previous attentional state back into the decoder (needs
            attention).

    Raises:
        ValueError: for a bidirectional decoder, a topology whose input size is not
            ``embedding_dim``, an unknown attention, ``dot`` attention between unequal
            sizes, untieable sizes, or input feeding without attention.
        TypeError: for a topology that does not return a state tuple of ``(L*D, B, H)``.

    Shape:
        - src: ``(B, S)``; src_lengths: ``(B,)``; tgt_in: ``(B, T)`` (``bos`` + target);
          tgt_lengths: ``(B,)``.
        - output: logits ``(B, T, V)``; positions past a target length hold no meaning.

    Example:
        >>> encoder = seqframe.build_rnn("lstm", input_size=32, hidden_size=64, bidirectional=True)
        >>> decoder = seqframe.build_rnn("lstm", input_size=32, hidden_size=128)
        >>> model = Seq2Seq(1000, 1200, 32, encoder, decoder, attention="general")
        >>> logits = model(src, src_lengths, tgt_in, tgt_lengths)  # (B, T, 1200)
        >>> hypotheses = beam_search(model, src, src_lengths, bos_id, eos_id, beam_size=5)
    """

    def __init__(
        self,
        src_vocab: int,
        tgt_vocab: int,
        embedding_dim: int,
        encoder: nn.Module,
        decoder: nn.Module,
        attention: str = "none",
        pad_id: int = 0,
        dropout: float = 0.0,
        tie_target_embeddings: bool = False,
        input_feeding: bool = False,
    ) -> None:
        super().__init__()
        _check_arguments(src_vocab, tgt_vocab, embedding_dim, decoder, attention, dropout, input_feeding)
        self.pad_id = pad_id
        self.attention_kind = attention
        self.src_embedding = nn.Embedding(src_vocab, embedding_dim, padding_idx=pad_id)
        self.tgt_embedding = nn.Embedding(tgt_vocab, embedding_dim, padding_idx=pad_id)
        self.encoder = encoder
        self.decoder = decoder
        enc_size, enc_layout = _probe(encoder, embedding_dim, "encoder")
        dec_size, dec_layout = _probe(decoder, embedding_dim, "decoder")
        bridge_in = sum(rows * hidden for rows, hidden in enc_layout)
        self.bridge = nn.ModuleList(nn.Linear(bridge_in, rows * hidden) for rows, hidden in dec_layout)
        self.attention, self.combine = _build_attention(attention, dec_size, enc_size)
        self.output = nn.Linear(dec_size, tgt_vocab)
        if tie_target_embeddings:
            if embedding_dim != dec_size:
                raise ValueError(
                    f"Seq2Seq: tie_target_embeddings needs embedding_dim == decoder output size, "
                    f"got {embedding_dim} and {dec_size}"
                )
            self.output.weight = self.tgt_embedding.weight
        self.drop = nn.Dropout(dropout)
        self.feed = nn.Linear(dec_size, embedding_dim, bias=False) if input_feeding else None
        self._decoder_layout = dec_layout
        self._decoder_size = dec_size

    def bridge_state(self, encoder_state: State) -> State:
        """Map the encoder's final state (tensors ``(L_enc*D, B, H_enc)``) to the decoder's
        initial state (tensors ``(L_dec, B, H_dec)``)."""
        batch = encoder_state[0].shape[1]
        # (B, sum of L*D*H over the state elements)
        flat = torch.cat([s.transpose(0, 1).reshape(batch, -1) for s in encoder_state], dim=1)
        state = []
        for linear, (rows, hidden) in zip(self.bridge, self._decoder_layout):
            s = torch.tanh(linear(flat)).view(batch, rows, hidden)  # (B, L_dec, H_dec)
            state.append(s.transpose(0, 1).contiguous())
        return tuple(state)

    def encode(self, src: Tensor, src_lengths: Lengths = None) -> EncoderOutput:
        """Read the source once: outputs, padding mask, projected keys, decoder initial state.

        Args:
            src: source ids ``(B, S)``.
            src_lengths: real lengths ``(B,)`` (each in ``[1, S]``), or None for all ``S``.
        """
        steps = src.shape[1]
        lengths = torch.full((src.shape[0],), steps) if src_lengths is None else torch.as_tensor(src_lengths)
        mask = torch.arange(steps, device=src.device) < lengths.to(src.device).unsqueeze(1)  # (B, S)
        outputs, final = self.encoder(self.drop(self.src_embedding(src)), src_lengths, None)
        keys = None if self.attention is None else self.attention.project_keys(outputs)
        state = self.bridge_state(final)
        if self.feed is not None:
            state = (*state, outputs.new_zeros(1, src.shape[0], self._decoder_size))
        return EncoderOutput(outputs, mask, keys, state)

    @property
    def input_feeding(self) -> bool:
        """Whether the decoder reads the previous attentional state (see the class docstring)."""
        return self.feed is not None

    def attentional(self, hidden: Tensor, enc: EncoderOutput) -> Tensor:
        """What the output layer reads ``(B, T, H_dec)`` from decoder outputs ``(B, T, H_dec)``:
        the attentional state ``tanh(W_c [context; h])``, or ``hidden`` without attention."""
        if self.attention is None or self.combine is None:
            return hidden
        if enc.keys is None:
            raise ValueError("Seq2Seq: this model attends, but the EncoderOutput has no projected keys")
        context, _ = self.attention.attend(hidden, enc.outputs, enc.keys, enc.mask)  # (B, T, H_enc_out)
        return torch.tanh(self.combine(torch.cat([context, hidden], dim=-1)))

    def readout(self, hidden: Tensor, enc: EncoderOutput) -> Tensor:
        """Logits ``(B, T, V)`` from decoder outputs ``(B, T, H_dec)``, attending if configured."""
        logits: Tensor = self.output(self.drop(self.attentional(hidden, enc)))
        return logits

    def _fed_step(self, feed: nn.Linear, embedded: Tensor, state: State, enc: EncoderOutput) -> tuple[Tensor, State]:
        """One input-fed decoder step: ``embedded (B, E)`` and the state (the decoder's, then
        ``a_{t-1} (1, B, H_dec)``) -> the dropped-out attentional state ``(B, 1, H_dec)``
        (what the output layer reads and the next step is fed) and the new state."""
        fed = embedded + feed(state[-1][0])  # (B, E)
        hidden, decoder_state = self.decoder(fed.unsqueeze(1), None, state[:-1])  # (B, 1, H_dec)
        attended = self.drop(self.attentional(hidden, enc))
        return attended, (*decoder_state, attended.transpose(0, 1))

    def forward(self, src: Tensor, src_lengths: Lengths, tgt_in: Tensor, tgt_lengths: Lengths = None) -> Tensor:
        """Teacher forcing: logits ``(B, T, V)`` for every target position at once.

        Args:
            src: source ids ``(B, S)``.
            src_lengths: real source lengths ``(B,)``, or None.
            tgt_in: decoder input ids ``(B, T)``: ``bos`` followed by the target without its end.
            tgt_lengths: real lengths of ``tgt_in`` ``(B,)``, or None for all ``T``.
        """
        enc = self.encode(src, src_lengths)
        embedded = self.drop(self.tgt_embedding(tgt_in))  # (B, T, E)
        feed = self.feed
        if feed is None:
            hidden, _ = self.decoder(embedded, tgt_lengths, enc.state)
            return self.readout(hidden, enc)
        # input feeding: step by step (a real position never reads the padding after it)
        state, attended = enc.state, []
        for t in range(embedded.shape[1]):
            step, state = self._fed_step(feed, embedded[:, t], state, enc)
            attended.append(step)
        logits: Tensor = self.output(torch.cat(attended, dim=1))
        return logits

    def decode_step(self, tokens: Tensor, state: State, enc: EncoderOutput) -> tuple[Tensor, State]:
        """One generation step from the previous tokens and the carried decoder state.

        Args:
            tokens: the last token of each row ``(B,)`` (``bos`` at the first step).
            state: the decoder state, ``enc.state`` at the first step.
            enc: the (possibly :meth:`reorder`-ed) source encoding, ``B`` rows.

        Returns:
            ``log_probs (B, V)`` of the next token and the new decoder state.
        """
        if self.feed is not None:
            attended, state = self._fed_step(self.feed, self.drop(self.tgt_embedding(tokens)), state, enc)
            logits = self.output(attended)[:, 0]  # (B, V)
        else:
            embedded = self.drop(self.tgt_embedding(tokens.unsqueeze(1)))  # (B, 1, E)
            hidden, state = self.decoder(embedded, None, state)  # (B, 1, H_dec)
            logits = self.readout(hidden, enc)[:, 0]  # (B, V)
        return F.log_softmax(logits.float(), dim=-1), state

    @staticmethod
    def reorder(enc: EncoderOutput, index: Tensor) -> EncoderOutput:
        """Select or repeat rows ``index (B',)`` of an encoding (e.g. ``B`` rows to ``B*K`` beams)."""
        return enc.select(index)

    reorder_state = staticmethod(reorder_layers)

    def extra_repr(self) -> str:
        parts = [f"attention={self.attention_kind!r}"] + (["input_feeding=True"] if self.feed is not None else [])
        if self.pad_id:
            parts.append(f"pad_id={self.pad_id}")
        return ", ".join(parts)
