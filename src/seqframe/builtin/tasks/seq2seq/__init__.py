"""The encoder-decoder core of translation (many-to-many delayed): attention, the
:class:`Seq2Seq` model and its greedy and beam-search decoders.

Plain torch modules over already-built topologies; nothing here is registered as a plugin
(a task module wraps them). Imports only layers 0-0b, torch and the stdlib.
"""

from __future__ import annotations

from seqframe.builtin.tasks.seq2seq.attention import ATTENTION_KINDS, Attention
from seqframe.builtin.tasks.seq2seq.model import EncoderOutput, Seq2Seq
from seqframe.builtin.tasks.seq2seq.search import beam_search, default_max_len, greedy_decode, length_penalty_factor

__all__ = [
    "ATTENTION_KINDS",
    "Attention",
    "EncoderOutput",
    "Seq2Seq",
    "beam_search",
    "default_max_len",
    "greedy_decode",
    "length_penalty_factor",
]
