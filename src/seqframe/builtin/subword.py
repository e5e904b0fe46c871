"""Built-in subword tokenizer ``sentencepiece``: unigram or BPE pieces trained in-process on
the training split, or loaded from an existing ``.model`` file.

Training sees the text line by line and keeps the newline as a piece of its own, with
whitespace left as written, so documents round-trip through encode/decode up to
sentencepiece's NFKC normalisation (``…`` comes back as ``...``). seqframe's
special ids are fixed when training (pad 0, bos 1, eos 2, unk 3); a loaded model keeps its
own, and any it lacks (sentencepiece disables padding by default) get ids after its pieces.
The state holds the serialized model, base64-encoded, so a saved run needs no model file.
Imports layer 0 only.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import random
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from seqframe.errors import DataError
from seqframe.hookspecs import hookimpl

__all__ = ["SentencePieceTokenizer"]

_SPECIAL_NAMES = ("pad", "bos", "eos", "unk")
_MIN_VOCAB = len(_SPECIAL_NAMES) + 2  # the specials, the newline and at least one piece


def _check_int(name: str, value: Any, minimum: int, optional: bool = False) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(
            f"sentencepiece: {name} must be an int >= {minimum}{' or null' if optional else ''}, got {value!r}"
        )


def check_special_ids(ids: Mapping[str, int], vocab_size: int) -> None:
    """Raise :class:`DataError` unless pad, bos, eos and unk are distinct ids in ``[0, vocab_size)``."""
    values = [ids[name] for name in _SPECIAL_NAMES]
    if len(set(values)) != len(values) or not all(0 <= v < vocab_size for v in values):
        shown = ", ".join(f"{name}={ids[name]}" for name in _SPECIAL_NAMES)
        raise DataError(f"tokenizer: special ids must be distinct and lie in [0, {vocab_size}); got {shown}")


class SentencePieceTokenizer:
    """Subword pieces from sentencepiece, trained on the training split or loaded from a file.

    Args:
        model_type: ``unigram`` or ``bpe``.
        vocab_size: number of pieces to train, specials and the newline included.
        character_coverage: share of the characters the pieces must cover; the rarest of the
            rest become unk (1.0 keeps every character).
        model_path: an existing sentencepiece ``.model`` file to use instead of training;
            relative paths resolve against ``base_dir``. The training options are then unused.
        hard_vocab_limit: if false, ``vocab_size`` is an upper bound and a small corpus gets
            fewer pieces instead of an error.
        max_sentence_length: training lines longer than this many bytes are skipped.
        input_sentence_size: train on at most this many lines, drawn with a fixed seed
            (null: all).
        byte_fallback: spell unknown characters as UTF-8 byte pieces instead of unk (needs
            ``vocab_size`` above 260).
        base_dir: folder relative ``model_path`` resolves against (default: the working directory).

    Example:
        >>> tokenizer = SentencePieceTokenizer(vocab_size=40, hard_vocab_limit=False)
        >>> tokenizer.fit(["the cat sat on the mat\\nthe dog sat too"])
        >>> tokenizer.decode(tokenizer.encode("the cat"))
        'the cat'
    """

    kind = "sentencepiece"

    def __init__(
        self,
        model_type: str = "unigram",
        vocab_size: int = 8000,
        character_coverage: float = 1.0,
        model_path: str | None = None,
        hard_vocab_limit: bool = True,
        max_sentence_length: int = 4192,
        input_sentence_size: int | None = None,
        byte_fallback: bool = False,
        base_dir: str | None = None,
    ) -> None:
        if model_type not in ("unigram", "bpe"):
            raise ValueError(f"sentencepiece: model_type must be 'unigram' or 'bpe', got {model_type!r}")
        _check_int("vocab_size", vocab_size, _MIN_VOCAB)
        _check_int("max_sentence_length", max_sentence_length, 1)
        _check_int("input_sentence_size", input_sentence_size, 1, optional=True)
        if (
            isinstance(character_coverage, bool)
            or not isinstance(character_coverage, (int, float))
            or not 0.0 < character_coverage <= 1.0
        ):
            raise ValueError(f"sentencepiece: character_coverage must lie in (0, 1], got {character_coverage!r}")
        if model_path is not None and (not isinstance(model_path, str) or not model_path):
            raise ValueError(f"sentencepiece: model_path must be a file path or null, got {model_path!r}")
        self.model_type, self.vocab_size_option = model_type, vocab_size
        self.character_coverage, self.hard_vocab_limit = float(character_coverage), bool(hard_vocab_limit)
        self.max_sentence_length, self.input_sentence_size = max_sentence_length, input_sentence_size
        self.byte_fallback = bool(byte_fallback)
        self.model_path = (
            None
            if model_path is None
            else os.path.normpath(os.path.join(base_dir or os.getcwd(), os.path.expanduser(model_path)))
        )
        self._processor: Any = None
        self._proto = b""
        self._ids = {name: i for i, name in enumerate(_SPECIAL_NAMES)}  # what training assigns
        self._size = 0

    # --- ids -----------------------------------------------------------------------------

    pad_id = property(lambda self: self._special("pad"), doc="Padding id.")
    bos_id = property(lambda self: self._special("bos"), doc="Beginning-of-sequence id.")
    eos_id = property(lambda self: self._special("eos"), doc="End-of-sequence id.")
    unk_id = property(lambda self: self._special("unk"), doc="Unknown-piece id.")

    def _special(self, name: str) -> int:
        self._load_pending_file()
        return self._ids[name]

    @property
    def vocab_size(self) -> int:
        """Number of ids: the model's pieces plus any special ids seqframe added after them
        (just the four specials before fitting, as for the other tokenizers)."""
        self._load_pending_file()
        return max(self._size, max(self._ids.values()) + 1)

    @property
    def is_fitted(self) -> bool:
        """Whether a model is loaded, or will be loaded from ``model_path`` on first use."""
        return self._processor is not None or self.model_path is not None

    # --- training and loading ---------------------------------------------------------------

    def fit(self, texts: Iterable[str]) -> None:
        """Train on ``texts`` (line by line), or load ``model_path`` if one is set.

        Raises:
            DataError: no usable training line, a vocabulary size the corpus cannot fill,
                or an unreadable model file; each message names the recipe option to change.
        """
        if self.model_path is not None:
            self._load_file()
            return
        import sentencepiece as spm

        buffer = io.BytesIO()
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(self._training_lines(texts)),
                model_writer=buffer,
                model_type=self.model_type,
                vocab_size=self.vocab_size_option,
                character_coverage=self.character_coverage,
                hard_vocab_limit=self.hard_vocab_limit,
                max_sentence_length=self.max_sentence_length,
                byte_fallback=self.byte_fallback,
                input_sentence_size=0,
                pad_id=0,
                bos_id=1,
                eos_id=2,
                unk_id=3,
                pad_piece="<pad>",
                bos_piece="<bos>",
                eos_piece="<eos>",
                unk_piece="<unk>",
                unk_surface="\N{REPLACEMENT CHARACTER}",
                user_defined_symbols=["\n"],
                remove_extra_whitespaces=False,
                minloglevel=2,
            )
        except RuntimeError as exc:
            raise self._training_error(str(exc)) from exc
        self._set_model(buffer.getvalue(), "the trained model")

    def _training_lines(self, texts: Iterable[str]) -> list[str]:
        lines, too_long = [], 0
        for text in texts:
            for line in text.split("\n"):
                if not line.strip():
                    continue
                if len(line.encode("utf-8")) > self.max_sentence_length:
                    too_long += 1
                else:
                    lines.append(line)
        if not lines and not too_long:
            raise DataError(
                "tokenizer 'sentencepiece': the training text is empty (no non-blank line); nothing to train on"
            )
        if not lines:
            raise DataError(
                f"tokenizer.max_sentence_length={self.max_sentence_length}: all {too_long} training "
                "lines are longer (in bytes); raise it"
            )
        if too_long:
            warnings.warn(
                f"tokenizer 'sentencepiece': skipped {too_long} training lines longer than "
                f"tokenizer.max_sentence_length={self.max_sentence_length} bytes",
                stacklevel=3,
            )
        if self.input_sentence_size is not None and len(lines) > self.input_sentence_size:
            keep = sorted(random.Random(0).sample(range(len(lines)), self.input_sentence_size))
            lines = [lines[i] for i in keep]
        return lines

    def _training_error(self, message: str) -> DataError:
        if match := re.search(r"Vocabulary size too high \(\d+\)\. Please set it to a value <= (\d+)", message):
            return DataError(
                f"tokenizer.vocab_size={self.vocab_size_option} is too large for this corpus (max "
                f"{match.group(1)}): lower it or set tokenizer.hard_vocab_limit: false"
            )
        if match := re.search(r"smaller than required_chars\. \d+ vs (\d+)", message):
            return DataError(
                f"tokenizer.vocab_size={self.vocab_size_option} is smaller than the {match.group(1)} required "
                "characters (special pieces included): raise vocab_size or lower character_coverage"
            )
        return DataError(f"tokenizer 'sentencepiece' could not be trained: {message.strip()}")

    def _load_file(self) -> None:
        path = self.model_path
        try:
            with open(path, "rb") as file:  # type: ignore[arg-type]
                data = file.read()
        except OSError as exc:
            raise DataError(
                f"tokenizer.model_path: cannot read {path!r} ({exc.strerror or exc}); point it at an "
                "existing sentencepiece .model file"
            ) from exc
        self._set_model(data, f"tokenizer.model_path {path!r}")

    def _load_pending_file(self) -> None:
        if self._processor is None and self.model_path is not None:
            self._load_file()

    def _require_model(self) -> None:
        self._load_pending_file()
        if self._processor is None:
            raise RuntimeError("SentencePieceTokenizer: call fit(texts) or load_state_dict() first")

    def _set_model(self, proto: bytes, origin: str) -> None:
        import sentencepiece as spm

        processor = spm.SentencePieceProcessor()
        try:
            processor.LoadFromSerializedProto(proto)
        except RuntimeError as exc:
            raise DataError(
                f"{origin} is not a sentencepiece model (it could not be parsed); use a .model "
                "file written by sentencepiece"
            ) from exc
        size = processor.get_piece_size()
        if size == 0:
            raise DataError(f"{origin} is not a sentencepiece model (it holds no pieces)")
        ids = {
            "pad": processor.pad_id(),
            "bos": processor.bos_id(),
            "eos": processor.eos_id(),
            "unk": processor.unk_id(),
        }
        extra = size
        for name in _SPECIAL_NAMES:  # ids the model disables (-1) go after its pieces
            if ids[name] < 0:
                ids[name], extra = extra, extra + 1
        check_special_ids(ids, extra)
        self._processor, self._proto, self._ids, self._size = processor, proto, ids, size

    # --- encoding -----------------------------------------------------------------------------

    def encode(self, text: str) -> list[int]:
        """Piece ids of ``text`` (no bos/eos); unknown characters become ``unk_id``."""
        self._require_model()
        return list(self._processor.encode(text))

    def encode_batch(self, texts: Iterable[str]) -> list[list[int]]:
        """:meth:`encode` of each text, in one sentencepiece call."""
        self._require_model()
        return [list(ids) for ids in self._processor.encode(list(texts))]

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ``ids``; pad, bos, eos and ids outside the model are dropped."""
        self._require_model()
        skip = {self._ids["pad"], self._ids["bos"], self._ids["eos"]}
        return str(self._processor.decode([int(i) for i in ids if 0 <= i < self._size and i not in skip]))

    # --- state --------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state: the serialized model (base64) and the special ids."""
        self._require_model()
        return {
            "kind": self.kind,
            "model_proto": base64.b64encode(self._proto).decode("ascii"),
            "special_ids": dict(self._ids),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore from :meth:`state_dict`; no model file and no training needed.

        Raises:
            DataError: the state is of another tokenizer kind or is damaged.
        """
        if state.get("kind") != self.kind:
            raise DataError(f"SentencePieceTokenizer: saved tokenizer is {state.get('kind')!r}, not {self.kind!r}")
        try:
            proto = base64.b64decode(state["model_proto"], validate=True)
        except (KeyError, TypeError, binascii.Error) as exc:
            raise DataError("saved sentencepiece tokenizer: 'model_proto' is missing or not base64") from exc
        self._set_model(proto, "the saved sentencepiece tokenizer")
        if dict(state.get("special_ids", self._ids)) != self._ids:
            raise DataError(
                f"saved sentencepiece tokenizer: special ids {state.get('special_ids')} do not match "
                f"its model ({self._ids})"
            )

    def __repr__(self) -> str:
        if self.model_path is not None:
            return f"SentencePieceTokenizer(model_path={self.model_path!r})"
        return f"SentencePieceTokenizer(model_type={self.model_type!r}, vocab_size={self.vocab_size_option})"


@hookimpl
def seqframe_tokenizers() -> Mapping[str, Any]:
    """Built-in subword tokenizer."""
    return {"sentencepiece": SentencePieceTokenizer}
