"""Built-in data sources: ``pydoc_topics`` (English prose embedded in every CPython: the
help topics of ``pydoc_data``, about 0.47 MB, read at run time) and ``text_files``.

A source returns each split as a list of text documents. Splits of a single stream are
contiguous slices (train first), so they are deterministic and never overlap.
"""

from __future__ import annotations

import codecs
import glob
import os
from collections.abc import Mapping, Sequence
from typing import Any

from seqframe.errors import DataError
from seqframe.hookspecs import hookimpl

__all__ = ["PydocTopicsDataset", "TextFilesDataset", "split_text"]

SPLITS = ("train", "valid", "test")


def split_text(text: str, valid_fraction: float, test_fraction: float) -> dict[str, str]:
    """Cut one text into contiguous train / valid / test slices at line boundaries."""
    for name, value in (("valid_fraction", valid_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 0.5:
            raise ValueError(f"{name} must lie in [0, 0.5), got {value!r}")
    n = len(text)

    def cut(position: float) -> int:
        at = text.find("\n", int(position))
        return n if at < 0 else at + 1

    a = cut(n * (1 - valid_fraction - test_fraction)) if valid_fraction + test_fraction else n
    b = cut(n * (1 - test_fraction)) if test_fraction else n
    return {"train": text[:a], "valid": text[a:b], "test": text[b:]}


class _SplitSource:
    """A source that holds one text per split."""

    def __init__(self) -> None:
        self._splits: dict[str, str] | None = None

    def _load(self) -> dict[str, str]:
        raise NotImplementedError

    def texts(self, split: str) -> list[str]:
        """The documents of ``split`` (``train``, ``valid`` or ``test``)."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
        if self._splits is None:
            self._splits = self._load()
        text = self._splits[split]
        return [text] if text else []


class PydocTopicsDataset(_SplitSource):
    """English prose shipped with CPython (``pydoc_data.topics``), split by position.

    Args:
        valid_fraction: share of the text (from the end, before test) used for validation.
        test_fraction: share of the text at the end used for test.
    """

    def __init__(self, valid_fraction: float = 0.05, test_fraction: float = 0.05) -> None:
        super().__init__()
        split_text("", valid_fraction, test_fraction)  # validates the fractions
        self.valid_fraction, self.test_fraction = valid_fraction, test_fraction

    def _load(self) -> dict[str, str]:
        try:
            from pydoc_data.topics import topics
        except ImportError as exc:  # some minimal Python builds strip pydoc_data
            raise DataError(
                "data 'pydoc_topics': this Python has no pydoc_data module; use data "
                "{name: text_files, paths: [...]} instead"
            ) from exc
        text = "\n\n".join(topics[key].strip("\n") for key in sorted(topics)) + "\n"
        return split_text(text, self.valid_fraction, self.test_fraction)


class TextFilesDataset(_SplitSource):
    """Plain UTF-8 text files, concatenated and split by position (or given per split).

    Args:
        paths: files or glob patterns for training (and, with fractions, valid/test) text.
            Relative paths resolve against the recipe's folder.
        valid_paths: files for validation; if set, ``valid_fraction`` is not used.
        test_paths: files for test; if set, ``test_fraction`` is not used.
        valid_fraction: share cut from ``paths`` for validation when ``valid_paths`` is unset.
        test_fraction: share cut from ``paths`` for test when ``test_paths`` is unset.
        encoding: text encoding.
        base_dir: folder relative paths resolve against (set by the recipe builder).
    """

    def __init__(
        self,
        paths: Sequence[str] | str,
        valid_paths: Sequence[str] | str | None = None,
        test_paths: Sequence[str] | str | None = None,
        valid_fraction: float = 0.05,
        test_fraction: float = 0.05,
        encoding: str = "utf-8",
        base_dir: str | None = None,
    ) -> None:
        super().__init__()
        self.base_dir = base_dir or os.getcwd()
        self.paths = self._expand(paths, "paths")
        self.valid_paths = self._expand(valid_paths, "valid_paths") if valid_paths else None
        self.test_paths = self._expand(test_paths, "test_paths") if test_paths else None
        self.valid_fraction = 0.0 if self.valid_paths else valid_fraction
        self.test_fraction = 0.0 if self.test_paths else test_fraction
        split_text("", self.valid_fraction, self.test_fraction)
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ValueError(f"text_files: unknown encoding {encoding!r}") from None
        self.encoding = encoding

    def _expand(self, patterns: Sequence[str] | str, key: str) -> list[str]:
        if isinstance(patterns, str):
            patterns = [patterns]
        if not patterns:
            raise DataError(f"data.{key}: no files given; list at least one file or glob pattern")
        found: list[str] = []
        for pattern in patterns:
            full = os.path.normpath(os.path.join(self.base_dir, os.path.expanduser(pattern)))
            matches = sorted(glob.glob(full)) if glob.has_magic(full) else [full]
            if not matches or not all(os.path.isfile(m) for m in matches):
                raise DataError(f"data.{key}: no file matches {pattern!r} (looked for {full})")
            found += matches
        return found

    def _read(self, paths: list[str], key: str = "paths") -> str:
        parts = []
        for path in paths:
            with open(path, "rb") as handle:
                raw = handle.read()
            try:
                parts.append(raw.decode(self.encoding))
            except UnicodeDecodeError as exc:
                line = raw[: exc.start].count(b"\n") + 1
                raise DataError(
                    f"{path}:{line}: not valid {self.encoding} (byte {exc.start}: {exc.reason}); "
                    "convert the file or set data.encoding"
                ) from exc
        text = "".join(p if p.endswith("\n") else p + "\n" for p in parts)
        if not text.strip():
            raise DataError(f"data.{key}: {', '.join(paths)} contain{'s' if len(paths) == 1 else ''} no text")
        return text

    def _load(self) -> dict[str, str]:
        splits = split_text(self._read(self.paths), self.valid_fraction, self.test_fraction)
        if self.valid_paths:
            splits["valid"] = self._read(self.valid_paths, "valid_paths")
        if self.test_paths:
            splits["test"] = self._read(self.test_paths, "test_paths")
        return splits


@hookimpl
def seqframe_datasets() -> Mapping[str, Any]:
    """Built-in data sources."""
    return {"pydoc_topics": PydocTopicsDataset, "text_files": TextFilesDataset}
