"""Parallel data for encoder-decoder training: sentence pairs packed as flat id tensors with
their lengths (a mapping of tensors, so the tokenized-data cache stores it), padded batches
cut from it, and :class:`PairBatches`, the length-bucketed, resumable training stream.

Packed layout (every value a 1-D tensor, ``E`` pairs):

- ``source`` int64: every source's ids, one after the other; ``source_lengths`` ``(E,)``.
- ``target`` int64: every target as ``bos + ids + eos``; ``target_lengths`` ``(E,)``.
- ``reference`` uint8: every target text's UTF-8 bytes; ``reference_lengths`` ``(E,)``
  (the detokenized references that BLEU, chrF and exact match compare against).

Imports only torch and the stdlib.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from seqframe.builtin.tasks.batching import BucketedBatches
from seqframe.errors import DataError

__all__ = ["PairBatches", "collate_pairs", "pack_ids", "pack_texts", "padded", "unpack_texts"]


def pack_ids(sequences: Sequence[Sequence[int]]) -> tuple[Tensor, Tensor]:
    """Flat int64 ids ``(N,)`` and lengths ``(E,)`` of ``E`` id sequences."""
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.int64)
    flat = torch.tensor([i for s in sequences for i in s], dtype=torch.int64)
    return flat, lengths


def pack_texts(texts: Sequence[str]) -> tuple[Tensor, Tensor]:
    """The UTF-8 bytes of ``texts`` as one uint8 tensor, and each text's byte length."""
    encoded = [t.encode("utf-8") for t in texts]
    flat = torch.frombuffer(bytearray(b"".join(encoded)), dtype=torch.uint8) if any(encoded) \
        else torch.zeros(0, dtype=torch.uint8)
    return flat.clone(), torch.tensor([len(e) for e in encoded], dtype=torch.int64)


def _starts(lengths: Tensor) -> Tensor:
    return torch.cumsum(lengths, 0) - lengths


def unpack_texts(flat: Tensor, lengths: Tensor, rows: Sequence[int]) -> list[str]:
    """The texts ``rows`` of a :func:`pack_texts` pair."""
    data, starts = bytes(flat.tolist()), _starts(lengths).tolist()
    ends = [s + n for s, n in zip(starts, lengths.tolist())]
    return [data[starts[r] : ends[r]].decode("utf-8") for r in rows]


def padded(flat: Tensor, starts: Tensor, lengths: Tensor, pad_id: int) -> Tensor:
    """Rows ``flat[starts[b] : starts[b] + lengths[b]]`` padded with ``pad_id`` to ``(B, max length)``."""
    steps = int(lengths.max()) if lengths.numel() else 0
    positions = starts.unsqueeze(1) + torch.arange(steps)  # (B, T)
    mask = torch.arange(steps) < lengths.unsqueeze(1)
    out = flat[positions.clamp(max=max(flat.numel() - 1, 0))] if flat.numel() else positions
    return out.masked_fill(~mask, pad_id)


def collate_pairs(data: Mapping[str, Tensor], rows: Tensor, source_pad: int, target_pad: int) -> dict[str, Tensor]:
    """The padded batch of pairs ``rows (B,)`` of a packed dataset.

    Returns:
        ``source (B, S)``, ``source_lengths (B,)``, ``target_in (B, T)`` (``bos`` + target),
        ``target_out (B, T)`` (target + ``eos``) and ``target_lengths (B,)`` (``T`` per row:
        the target's tokens plus one).
    """
    src_lengths, tgt_lengths = data["source_lengths"], data["target_lengths"]
    src_starts, tgt_starts = _starts(src_lengths)[rows], _starts(tgt_lengths)[rows]
    steps = tgt_lengths[rows] - 1  # bos+y+eos -> inputs bos+y and outputs y+eos
    return {
        "source": padded(data["source"], src_starts, src_lengths[rows], source_pad),
        "source_lengths": src_lengths[rows],
        "target_in": padded(data["target"], tgt_starts, steps, target_pad),
        "target_out": padded(data["target"], tgt_starts + 1, steps, target_pad),
        "target_lengths": steps,
    }


@dataclass
class PairBatches(BucketedBatches):
    """Endless length-bucketed batches of sentence pairs, resumable from ``(epoch, index)``.

    Each epoch shuffles the pairs (seeded by ``seed`` and the epoch), sorts every chunk of
    ``bucket`` batches by the longer side's length, then the source length, so a batch holds
    pairs of similar lengths (little padding: 8.3% of Multi30k's tokens, against 14.5% when
    sorting by source then target length), and shuffles the order of the batches.

    Args:
        data: packed pairs (see the module docstring).
        batch_size: pairs per batch.
        source_pad: padding id of the source rows.
        target_pad: padding id of the target rows.
        seed: shuffle seed.
        bucket: batches per sorted chunk.
    """

    data: Mapping[str, Tensor]
    batch_size: int
    source_pad: int = 0
    target_pad: int = 0
    seed: int = 0
    bucket: int = 50
    epoch: int = 0
    index: int = 0
    _batches: list[Tensor] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"PairBatches: batch_size must be an int >= 1, got {self.batch_size!r}")
        if self.data["source_lengths"].numel() == 0:
            raise DataError("the training split has no sentence pairs to batch")
        self._load_epoch()

    def _sort_key(self) -> Tensor:
        src, tgt = self.data["source_lengths"], self.data["target_lengths"]
        longer = torch.maximum(src, tgt)  # a batch is as wide as its longest side: sort by that first
        return longer * (int(src.max()) + 1) + src

    def _collate(self, rows: Tensor) -> dict[str, Any]:
        return collate_pairs(self.data, rows, self.source_pad, self.target_pad)
