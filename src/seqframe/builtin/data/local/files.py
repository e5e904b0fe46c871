"""Local text files (plain or gzip-compressed): path and glob expansion, decoding with errors
that name file, line and byte, the ``text_files`` source, and :func:`read_parallel` for
line-aligned file pairs.

Text files are read with Python's own decoder rather than ``datasets``' ``text`` builder:
the stream is kept byte-exact, an invalid byte is reported by line, and nothing is copied
into an Arrow cache. Imports layer 0 only.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Sequence

from seqframe.builtin.data.local.paths import LocalSplits
from seqframe.builtin.data.splits import ExamplePolicy, SplitSource, split_text, warn_stats
from seqframe.errors import DataError

__all__ = ["TextFilesSource", "decode_file", "make_policy", "read_parallel"]

SAMPLE_BY = ("stream", "line", "paragraph", "document")


def make_policy(source: str, **options: object) -> ExamplePolicy:
    """An :class:`ExamplePolicy` whose ValueErrors name ``source``; the encoding must keep
    ``\\n`` as one byte, since files are split into lines before decoding."""
    try:
        policy = ExamplePolicy(**options)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from None
    if "\n".encode(policy.encoding) != b"\n":
        raise ValueError(
            f"{source}: encoding {policy.encoding!r} is not supported (lines are split on the byte "
            "\\n); convert the files to UTF-8"
        )
    return policy


def decode_file(path: str, policy: ExamplePolicy, stats: dict[str, int]) -> str:
    """The text of ``path`` (decompressed first when the name ends in ``.gz``). Invalid bytes
    raise an error naming the line and byte offset, or with ``encoding_errors: replace``
    become U+FFFD and the lines are counted."""
    if path.endswith(".gz"):
        try:
            with gzip.open(path, "rb") as handle:
                raw = handle.read()
        except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
            if isinstance(exc, FileNotFoundError):
                raise
            raise DataError(
                f"{path}: not a readable gzip file ({type(exc).__name__}: {exc}); decompress it or fix the file"
            ) from exc
    else:
        with open(path, "rb") as handle:
            raw = handle.read()
    try:
        return raw.decode(policy.encoding)
    except UnicodeDecodeError as exc:
        if policy.encoding_errors == "strict":
            number = raw[: exc.start].count(b"\n") + 1
            raise DataError(
                f"{path}:{number}: not valid {policy.encoding} (byte {exc.start}: {exc.reason}); convert the file, "
                "set data.encoding, or set data.encoding_errors: replace"
            ) from exc
    lines = []
    for line in raw.split(b"\n"):
        try:
            lines.append(line.decode(policy.encoding))
        except UnicodeDecodeError:
            lines.append(line.decode(policy.encoding, "replace"))
            stats["replaced_lines"] = stats.get("replaced_lines", 0) + 1
    return "\n".join(lines)


def _lines(text: str) -> list[str]:
    """Lines without their ``\\n`` (or ``\\r\\n``); a final newline ends the last line."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _no_examples(key: str, path: str) -> DataError:
    return DataError(f"data.{key}: {path!r} contains no examples; remove it from data.{key} or fill it")


class TextFilesSource(SplitSource):
    """Plain text files: one stream split by position, or examples split at random by seed.

    Args:
        paths: files or glob patterns for training (and, with fractions, valid/test) text.
            Relative paths resolve against the recipe's folder.
        valid_paths: files for validation; if set, ``valid_fraction`` is not used.
        test_paths: files for test; if set, ``test_fraction`` is not used.
        valid_fraction: share cut from ``paths`` for validation when ``valid_paths`` is unset.
        test_fraction: share cut from ``paths`` for test when ``test_paths`` is unset.
        sample_by: ``stream`` (the files joined into one text, cut into contiguous
            slices), or one example per ``line``, ``paragraph`` (blank-line separated) or
            ``document`` (file), split by a seeded shuffle.
        seed: the shuffle seed of the example split.
        encoding: text encoding (any that writes ``\\n`` as one byte).
        encoding_errors: ``strict`` or ``replace`` (counted in ``stats``).
        max_chars: longest example in characters (a line for ``stream``), or null.
        on_overlength: ``truncate``, ``drop`` or ``error`` past ``max_chars``.
        on_empty: ``drop`` (counted) or ``error`` for blank examples.
        base_dir: folder relative paths resolve against (set by the recipe builder).
    """

    name = "text_files"

    def __init__(
        self,
        paths: Sequence[str] | str,
        valid_paths: Sequence[str] | str | None = None,
        test_paths: Sequence[str] | str | None = None,
        valid_fraction: float = 0.05,
        test_fraction: float = 0.05,
        sample_by: str = "stream",
        seed: int = 0,
        encoding: str = "utf-8",
        encoding_errors: str = "strict",
        max_chars: int | None = None,
        on_overlength: str = "truncate",
        on_empty: str = "drop",
        base_dir: str | None = None,
    ) -> None:
        super().__init__()
        if sample_by not in SAMPLE_BY:
            raise ValueError(f"text_files: sample_by must be one of {', '.join(SAMPLE_BY)}; got {sample_by!r}")
        self.policy = make_policy(
            "text_files",
            encoding=encoding,
            encoding_errors=encoding_errors,
            max_chars=max_chars,
            on_overlength=on_overlength,
            on_empty=on_empty,
        )
        self.files = LocalSplits.resolve(paths, valid_paths, test_paths, valid_fraction, test_fraction, seed, base_dir)
        self.sample_by = sample_by

    def _stream(self, path: str, key: str) -> str:
        text = decode_file(path, self.policy, self.stats)
        if self.policy.max_chars is not None:
            lines = text.split("\n")
            fitted = (self.policy.fit_length(line, f"{path}:{i}", self.stats) for i, line in enumerate(lines, 1))
            text = "\n".join(line for line in fitted if line is not None)
        if not text.strip():
            raise _no_examples(key, path)
        return text if text.endswith("\n") else text + "\n"

    def _examples(self, path: str, key: str) -> list[str]:
        text = decode_file(path, self.policy, self.stats)
        if not text.strip():
            raise _no_examples(key, path)
        if self.sample_by == "document":
            items = [(text, path)]
        elif self.sample_by == "line":
            items = [(line, f"{path}:{i}") for i, line in enumerate(_lines(text), 1)]
        else:
            items, block, start = [], [], 0
            for i, line in enumerate([*_lines(text), ""], 1):
                if line.strip():
                    start = start or i
                    block.append(line)
                elif block:
                    items.append(("\n".join(block), f"{path}:{start}"))
                    block, start = [], 0
        examples = self.policy.clean(items, self.stats)
        if not examples:
            raise _no_examples(key, path)
        return examples

    def _read(self, paths: list[str], key: str) -> list[str]:
        if self.sample_by == "stream":
            return ["".join(self._stream(path, key) for path in paths)]
        return [example for path in paths for example in self._examples(path, key)]

    def _cut_stream(self, train: list[str]) -> dict[str, list[str]]:
        """One stream -> contiguous train / valid / test slices."""
        slices = split_text(train[0], self.files.valid_fraction, self.files.test_fraction)
        return {name: [text] if text else [] for name, text in slices.items()}

    def _load(self) -> dict[str, list[str]]:
        return self.files.load(self._read, self._cut_stream if self.sample_by == "stream" else None)


def read_parallel(
    src_path: str,
    tgt_path: str,
    *,
    encoding: str = "utf-8",
    encoding_errors: str = "strict",
    max_chars: int | None = None,
    on_overlength: str = "truncate",
    stats: dict[str, int] | None = None,
) -> list[tuple[str, str]]:
    """Line-aligned pairs from two files (source and target of a translation corpus).

    Pairs with a blank side are dropped and counted (``stats["dropped_empty_pairs"]``), as
    are pairs with a side over ``max_chars`` when ``on_overlength`` is ``drop``
    (``stats["dropped_overlength"]``, one per side); each counter gives one warning.

    Args:
        src_path: the source-side file, one example per line.
        tgt_path: the target-side file, line ``i`` translating line ``i`` of ``src_path``.
        encoding: text encoding of both files.
        encoding_errors: ``strict`` or ``replace``.
        max_chars: longest line per side in characters, or None.
        on_overlength: ``truncate``, ``drop`` or ``error`` past ``max_chars``.
        stats: a dict to add the counters to (a fresh one if None).

    Returns:
        ``(source, target)`` pairs in file order.

    Raises:
        DataError: the files have different line counts (both named, with their counts), a
            file is empty or undecodable, or no pair is left.
    """
    policy = make_policy(
        "read_parallel",
        encoding=encoding,
        encoding_errors=encoding_errors,
        max_chars=max_chars,
        on_overlength=on_overlength,
    )
    counts: dict[str, int] = {}
    sides = []
    for path in (src_path, tgt_path):
        text = decode_file(path, policy, counts)
        if not text.strip():
            raise DataError(f"{path!r} contains no examples")
        sides.append(_lines(text))
    if len(sides[0]) != len(sides[1]):
        raise DataError(
            f"parallel files differ in length: {src_path!r} has {len(sides[0])} lines, {tgt_path!r} has "
            f"{len(sides[1])}; line i of one must translate line i of the other"
        )
    pairs = []
    for i, (source, target) in enumerate(zip(*sides), 1):
        fitted = (
            policy.fit_length(source, f"{src_path}:{i}", counts),
            policy.fit_length(target, f"{tgt_path}:{i}", counts),
        )
        if fitted[0] is None or fitted[1] is None:
            continue
        if fitted[0].strip() and fitted[1].strip():
            pairs.append((fitted[0], fitted[1]))
        else:
            counts["dropped_empty_pairs"] = counts.get("dropped_empty_pairs", 0) + 1
    warn_stats(f"read_parallel {src_path!r} / {tgt_path!r}", counts, policy)
    if stats is not None:
        for key, value in counts.items():
            stats[key] = stats.get(key, 0) + value
    if not pairs:
        raise DataError(f"{src_path!r} / {tgt_path!r} contain no examples (every pair has an empty side)")
    return pairs
