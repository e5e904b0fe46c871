"""Built-in tokenizers: ``char`` (one id per character) and ``word`` (whitespace-separated
words with ``min_freq``/``max_vocab``); ``sentencepiece`` lives in :mod:`seqframe.builtin.subword`.

Every tokenizer reserves ids 0-3 for the special tokens pad, bos, eos and unk, so they are
distinct, valid embedding indices. State round-trips through plain JSON-able dicts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from seqframe.errors import DataError
from seqframe.hookspecs import hookimpl

__all__ = ["CharTokenizer", "SPECIALS", "WordTokenizer"]

SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")


class _VocabTokenizer:
    """Shared vocabulary bookkeeping: ``symbols`` after the four specials."""

    kind = ""
    pad_id, bos_id, eos_id, unk_id = 0, 1, 2, 3

    def __init__(self) -> None:
        self.symbols: list[str] = []
        self._index: dict[str, int] = {}

    @property
    def vocab_size(self) -> int:
        """Number of ids, specials included."""
        return len(SPECIALS) + len(self.symbols)

    @property
    def is_fitted(self) -> bool:
        """Whether the vocabulary has been built."""
        return bool(self.symbols)

    def _set_symbols(self, symbols: Sequence[str]) -> None:
        self.symbols = list(symbols)
        self._index = {s: i + len(SPECIALS) for i, s in enumerate(self.symbols)}

    def _lookup(self, pieces: Iterable[str]) -> list[int]:
        unk, index = self.unk_id, self._index
        return [index.get(p, unk) for p in pieces]

    def _pieces(self, ids: Sequence[int]) -> list[str]:
        offset = len(SPECIALS)
        out = []
        for i in ids:
            if i >= offset and i - offset < len(self.symbols):
                out.append(self.symbols[i - offset])
            elif i == self.unk_id:
                out.append("\N{REPLACEMENT CHARACTER}")
        return out

    def encode(self, text: str) -> list[int]:
        """Ids of ``text``; defined by each tokenizer."""
        raise NotImplementedError

    def encode_batch(self, texts: Iterable[str]) -> list[list[int]]:
        """:meth:`encode` of each text, in order."""
        return [self.encode(text) for text in texts]

    def _require_fitted(self) -> None:
        if not self.symbols:
            raise RuntimeError(f"{type(self).__name__}: call fit(texts) or load_state_dict() first")

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state: the kind and the symbols."""
        return {"kind": self.kind, "symbols": list(self.symbols)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore from :meth:`state_dict`."""
        if state.get("kind") != self.kind:
            raise DataError(f"{type(self).__name__}: saved tokenizer is {state.get('kind')!r}, not {self.kind!r}")
        self._set_symbols(state["symbols"])


class CharTokenizer(_VocabTokenizer):
    """One id per character seen in the training text; unseen characters map to unk.

    Args:
        min_freq: characters seen fewer times become unk.
    """

    kind = "char"

    def __init__(self, min_freq: int = 1) -> None:
        super().__init__()
        if isinstance(min_freq, bool) or not isinstance(min_freq, int) or min_freq < 1:
            raise ValueError(f"CharTokenizer: min_freq must be an int >= 1, got {min_freq!r}")
        self.min_freq = min_freq

    def fit(self, texts: Iterable[str]) -> None:
        """Build the vocabulary from ``texts``."""
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(text)
        symbols = sorted(c for c, n in counts.items() if n >= self.min_freq)
        if not symbols:
            raise DataError("char tokenizer: the training text is empty; nothing to build a vocabulary from")
        self._set_symbols(symbols)

    def encode(self, text: str) -> list[int]:
        """Ids of the characters of ``text`` (no bos/eos)."""
        self._require_fitted()
        return self._lookup(text)

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ``ids``, specials dropped (unk shown as U+FFFD)."""
        return "".join(self._pieces(ids))


class WordTokenizer(_VocabTokenizer):
    """Whitespace-separated words; the vocabulary keeps frequent words.

    Args:
        min_freq: words seen fewer times become unk.
        max_vocab: keep at most this many words (most frequent first), or None for all.
        lowercase: lower-case text before splitting.
    """

    kind = "word"

    def __init__(self, min_freq: int = 1, max_vocab: int | None = None, lowercase: bool = False) -> None:
        super().__init__()
        if isinstance(min_freq, bool) or not isinstance(min_freq, int) or min_freq < 1:
            raise ValueError(f"WordTokenizer: min_freq must be an int >= 1, got {min_freq!r}")
        if max_vocab is not None and (isinstance(max_vocab, bool) or not isinstance(max_vocab, int) or max_vocab < 1):
            raise ValueError(f"WordTokenizer: max_vocab must be an int >= 1 or null, got {max_vocab!r}")
        self.min_freq, self.max_vocab, self.lowercase = min_freq, max_vocab, lowercase

    def _split(self, text: str) -> list[str]:
        return (text.lower() if self.lowercase else text).split()

    def fit(self, texts: Iterable[str]) -> None:
        """Build the vocabulary from ``texts``."""
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(self._split(text))
        ranked = sorted((w for w, n in counts.items() if n >= self.min_freq), key=lambda w: (-counts[w], w))
        if not ranked:
            raise DataError("word tokenizer: the training text has no words with the required min_freq")
        self._set_symbols(ranked[: self.max_vocab] if self.max_vocab else ranked)

    def encode(self, text: str) -> list[int]:
        """Ids of the words of ``text``."""
        self._require_fitted()
        return self._lookup(self._split(text))

    def decode(self, ids: Sequence[int]) -> str:
        """Words of ``ids`` joined by spaces."""
        return " ".join(self._pieces(ids))

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "lowercase": self.lowercase}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.lowercase = bool(state.get("lowercase", False))


@hookimpl
def seqframe_tokenizers() -> Mapping[str, Any]:
    """Built-in tokenizers."""
    return {"char": CharTokenizer, "word": WordTokenizer}
