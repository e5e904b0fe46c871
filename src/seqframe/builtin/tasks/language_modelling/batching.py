"""Language-model batching: contiguous streams (truncated BPTT) and length-bucketed
sentences. Both are resumable from a small ``state_dict``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from seqframe.builtin.tasks.batching import BucketedBatches
from seqframe.errors import DataError

__all__ = ["TokenStream", "collate", "sentence_batches", "split_sentences"]


@dataclass
class TokenStream:
    """Windows of ``B`` parallel streams over one token sequence, resumable.

    Each epoch starts at an offset in ``[0, seq_len)`` drawn from ``seed`` and the epoch
    number, so window boundaries differ between epochs while any position can be resumed
    from ``(epoch, index)`` alone.
    """

    ids: Tensor
    batch_size: int
    seq_len: int
    seed: int = 0
    epoch: int = 0
    index: int = 0

    def __post_init__(self) -> None:
        columns = self.ids.numel() // self.batch_size
        if columns < self.seq_len + 2:
            raise DataError(
                f"the training text has {self.ids.numel()} tokens: too few for batch_size "
                f"{self.batch_size} x seq_len {self.seq_len}; lower them or add text"
            )
        self._columns = columns
        self._load_epoch()

    def _load_epoch(self) -> None:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        offset = int(torch.randint(0, self.seq_len, (1,), generator=generator)) if self.epoch else 0
        usable = (self.ids.numel() - offset) // self.batch_size
        self._data = self.ids[offset : offset + usable * self.batch_size].view(self.batch_size, usable)
        self._windows = (usable - 1) // self.seq_len

    def __iter__(self) -> TokenStream:
        return self

    def __next__(self) -> dict[str, Any]:
        if self.index >= self._windows:
            self.epoch, self.index = self.epoch + 1, 0
            self._load_epoch()
        start = self.index * self.seq_len
        window = self._data[:, start : start + self.seq_len + 1]
        self.index += 1
        return {"inputs": window[:, :-1], "targets": window[:, 1:], "reset": self.index == 1}

    def state_dict(self) -> dict[str, int]:
        """Position to resume from."""
        return {"epoch": self.epoch, "index": self.index}

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        """Resume at a saved position."""
        self.epoch, self.index = int(state["epoch"]), int(state["index"])
        self._load_epoch()


def split_sentences(ids: Tensor, eos_id: int, max_len: int) -> list[Tensor]:
    """Cut an eos-joined id stream into sentences, each ending with its eos; empty ones are
    dropped and any longer than ``max_len`` tokens is cut into chunks."""
    out, start = [], 0
    ends = (ids == eos_id).nonzero().flatten().tolist()
    if not ends or ends[-1] != ids.numel() - 1:
        ends.append(ids.numel() - 1)  # a last sentence without eos
    for end in ends:
        sentence = ids[start : end + 1]
        start = end + 1
        if sentence.numel() > 1 or (sentence.numel() == 1 and int(sentence[0]) != eos_id):
            out += [sentence[i : i + max_len] for i in range(0, sentence.numel(), max_len)]
    return out


def sentence_batches(
    sentences: list[Tensor], batch_size: int, bos_id: int, pad_id: int, seed: int = 0, bucket: int = 50
) -> BucketedBatches:
    """Length-bucketed batches of whole sentences, ``bos`` prepended, padded with ``pad_id``
    (see :class:`~seqframe.builtin.tasks.batching.BucketedBatches`); resumable."""
    lengths = torch.tensor([sentence.numel() for sentence in sentences], dtype=torch.int64)
    return BucketedBatches(
        lengths,
        batch_size,
        lambda rows: collate([sentences[i] for i in rows.tolist()], bos_id, pad_id),
        seed,
        bucket,
        where="language_modelling",
        what="sentences",
    )


def collate(rows: list[Tensor], bos_id: int, pad_id: int) -> dict[str, Any]:
    """``[bos] + sentence`` rows -> padded ``inputs``/``targets`` ``(B, T)`` and ``lengths``."""
    lengths = torch.tensor([r.numel() for r in rows])
    steps = int(lengths.max())
    inputs = torch.full((len(rows), steps), pad_id, dtype=torch.int64)
    targets = torch.full((len(rows), steps), pad_id, dtype=torch.int64)
    for row, sentence in enumerate(rows):
        inputs[row, 0] = bos_id
        inputs[row, 1 : sentence.numel()] = sentence[:-1]
        targets[row, : sentence.numel()] = sentence
    return {"inputs": inputs, "targets": targets, "lengths": lengths, "reset": True}
