"""Local text files (plain or gzip-compressed): the ``text_files`` source, and
:func:`read_parallel` for line-aligned file pairs; both decode through :mod:`.reading`.
Imports layer 0 only.
"""

from __future__ import annotations

from dataclasses import dataclass

from seqframe.builtin.data.local.options import FileSetOptions
from seqframe.builtin.data.local.reading import decode_file, make_policy, no_examples, text_lines
from seqframe.builtin.data.splits import SplitSource, split_text, warn_stats
from seqframe.errors import DataError

__all__ = ["TextFilesSource", "read_parallel"]

SAMPLE_BY = ("stream", "line", "paragraph", "document")


@dataclass(kw_only=True, eq=False, repr=False)
class TextFilesSource(FileSetOptions, SplitSource):
    """Plain text files: one stream split by position, or examples split at random by seed.

    Args:
        paths: files or glob patterns for training (and, with fractions, valid/test) text.
            Relative paths resolve against the recipe's folder.
        valid_fraction: share cut from ``paths`` for validation when ``valid_paths`` is unset.
        test_fraction: share cut from ``paths`` for test when ``test_paths`` is unset.
        sample_by: ``stream`` (the files joined into one text, cut into contiguous
            slices), or one example per ``line``, ``paragraph`` (blank-line separated) or
            ``document`` (file), split by a seeded shuffle.
        seed: the shuffle seed of the example split.
        encoding_errors: ``strict`` or ``replace`` (counted in ``stats``).
        max_chars: longest example in characters (a line for ``stream``), or null.
        on_empty: ``drop`` (counted) or ``error`` for blank examples.
    """

    name = "text_files"

    sample_by: str = "stream"

    def __post_init__(self) -> None:
        if self.sample_by not in SAMPLE_BY:
            raise ValueError(f"text_files: sample_by must be one of {', '.join(SAMPLE_BY)}; got {self.sample_by!r}")
        super().__post_init__()

    def _stream(self, path: str, key: str) -> str:
        text = decode_file(path, self.policy, self.stats)
        if self.policy.max_chars is not None:
            lines = text.split("\n")
            fitted = (self.policy.fit_length(line, f"{path}:{i}", self.stats) for i, line in enumerate(lines, 1))
            text = "\n".join(line for line in fitted if line is not None)
        if not text.strip():
            raise no_examples(key, path)
        return text if text.endswith("\n") else text + "\n"

    def read_file(self, path: str, key: str) -> list[str]:
        text = decode_file(path, self.policy, self.stats)
        if not text.strip():
            raise no_examples(key, path)
        if self.sample_by == "document":
            items = [(text, path)]
        elif self.sample_by == "line":
            items = [(line, f"{path}:{i}") for i, line in enumerate(text_lines(text), 1)]
        else:
            items, block, start = [], [], 0
            for i, line in enumerate([*text_lines(text), ""], 1):
                if line.strip():
                    start = start or i
                    block.append(line)
                elif block:
                    items.append(("\n".join(block), f"{path}:{start}"))
                    block, start = [], 0
        examples = self.policy.clean(items, self.stats)
        if not examples:
            raise no_examples(key, path)
        return examples

    def read(self, paths: list[str], key: str) -> list[str]:
        if self.sample_by == "stream":
            return ["".join(self._stream(path, key) for path in paths)]
        return super().read(paths, key)

    def _cut_stream(self, train: list[str]) -> dict[str, list[str]]:
        """One stream -> contiguous train / valid / test slices."""
        slices = split_text(train[0], self.files.valid_fraction, self.files.test_fraction)
        return {name: [text] if text else [] for name, text in slices.items()}

    def _load(self) -> dict[str, list[str]]:
        return self.files.load(self.read, self._cut_stream if self.sample_by == "stream" else None)


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
        sides.append(text_lines(text))
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
