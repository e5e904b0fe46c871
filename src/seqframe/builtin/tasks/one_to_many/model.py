"""The model of ``one_to_many``: a feature vector sets the initial state of a
unidirectional decoder (:class:`ConditionedDecoder`). Plain torch over an already-built
topology; imports only layer 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from seqframe.builtin.tasks.search import reorder_layers
from seqframe.interfaces import State, directions_of

__all__ = ["Condition", "ConditionedDecoder"]


@dataclass(frozen=True)
class Condition:
    """What decoding reads: the features ``(B, F)`` and the decoder's initial state, tensors
    ``(L, B, H)``."""

    features: Tensor
    state: State

    def select(self, index: Tensor) -> Condition:
        """Rows ``index (B',)`` of the batch (repeats allowed), e.g. to expand for a beam."""
        return Condition(self.features.index_select(0, index), tuple(s.index_select(1, index) for s in self.state))


class ConditionedDecoder(nn.Module):
    """A feature vector -> ``tanh`` projections -> the initial state of a unidirectional decoder.

    Each state element ``i`` (``h``, and ``c`` for an LSTM) of every layer starts at
    ``tanh(W_i x + b_i)``; the decoder reads target embeddings (with ``feed_features``, each
    followed by ``x``) and ``head`` maps its outputs to the vocabulary. It offers ``encode``,
    ``decode_step``, ``reorder`` and ``reorder_state``, so the greedy and beam search of
    :mod:`seqframe.builtin.tasks.search` decode it as they decode a ``Seq2Seq``.

    Args:
        feature_size: size ``F`` of the conditioning vector.
        vocab_size: target vocabulary size ``V``.
        embedding_dim: target embedding size (the decoder's input size).
        decoder: a unidirectional topology, ``(B, T, E) -> (B, T, H)``.
        head: maps ``(..., H)`` to ``(..., V)`` logits.
        pad_id: padding id of the targets.
        feed_features: also give ``x`` to the decoder at every step (its input size is then
            ``embedding_dim + feature_size``), so it need not carry ``x`` in its state.

    Shape:
        - features: ``(B, F)``; tgt_in: ``(B, T)`` (``bos`` + target); tgt_lengths: ``(B,)``.
        - output: logits ``(B, T, V)``; positions past a length hold no meaning.
    """

    def __init__(
        self,
        feature_size: int,
        vocab_size: int,
        embedding_dim: int,
        decoder: nn.Module,
        head: nn.Module,
        pad_id: int = 0,
        feed_features: bool = False,
    ) -> None:
        super().__init__()
        if directions_of(decoder) > 1:
            raise ValueError(
                "model.topology: the one_to_many decoder writes left to right, so it cannot be "
                "bidirectional; set model.topology.bidirectional: false"
            )
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_id)
        self.decoder = decoder
        self.head = head
        self.feed_features = feed_features
        param, width = next(decoder.parameters()), embedding_dim + (feature_size if feed_features else 0)
        with torch.no_grad():  # one zero step reveals the state layout [(L, H), ...]
            _, probe = decoder(torch.zeros(1, 1, width, device=param.device, dtype=param.dtype), None, None)
        self._layout = [(int(s.shape[0]), int(s.shape[2])) for s in probe]
        self.bridge = nn.ModuleList(nn.Linear(feature_size, rows * hidden) for rows, hidden in self._layout)

    def encode(self, features: Tensor, lengths: Any = None) -> Condition:
        """The decoder's initial state from ``features (B, F)`` (``lengths`` is unused)."""
        batch = features.shape[0]
        state = tuple(
            torch.tanh(linear(features)).view(batch, rows, hidden).transpose(0, 1).contiguous()
            for linear, (rows, hidden) in zip(self.bridge, self._layout)
        )  # each (L, B, H)
        return Condition(features, state)

    def forward(self, features: Tensor, tgt_in: Tensor, tgt_lengths: Tensor | None = None) -> Tensor:
        """Teacher forcing: logits ``(B, T, V)`` for every target position in one decoder call."""
        condition = self.encode(features)
        hidden, _ = self.decoder(self._inputs(tgt_in, condition), tgt_lengths, condition.state)  # (B, T, H)
        logits: Tensor = self.head(hidden)
        return logits

    def _inputs(self, tokens: Tensor, condition: Condition) -> Tensor:
        """Decoder inputs ``(B, T, E)``, or ``(B, T, E + F)`` with ``feed_features``."""
        embedded = self.embedding(tokens)
        if not self.feed_features:
            return embedded
        return torch.cat([embedded, condition.features.unsqueeze(1).expand(-1, tokens.shape[1], -1)], dim=-1)

    def decode_step(self, tokens: Tensor, state: State, condition: Condition) -> tuple[Tensor, State]:
        """``log_probs (B, V)`` of the next token after ``tokens (B,)``, and the new state."""
        hidden, state = self.decoder(self._inputs(tokens.unsqueeze(1), condition), None, state)  # (B, 1, H)
        return F.log_softmax(self.head(hidden[:, 0]).float(), dim=-1), state

    @staticmethod
    def reorder(condition: Condition, index: Tensor) -> Condition:
        """Select or repeat rows ``index (B',)`` of a condition."""
        return condition.select(index)

    reorder_state = staticmethod(reorder_layers)
