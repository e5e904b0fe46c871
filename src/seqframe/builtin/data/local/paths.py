"""The one path and split policy of every local-file source: which files hold the training
data, which (if any) hold validation and test, and how the splits without files of their
own are drawn from the training files. Imports layer 0 only."""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from seqframe.builtin.data.splits import check_fractions, split_examples
from seqframe.errors import DataError

__all__ = ["LocalSplits", "expand_paths", "resolve_file"]

_T = TypeVar("_T")


def expand_paths(patterns: Sequence[str] | str, key: str, base_dir: str) -> list[str]:
    """Files named by ``patterns`` (paths or globs, relative to ``base_dir``), globs sorted.

    Raises:
        DataError: no pattern given, or one matches no file.
    """
    if isinstance(patterns, str):
        patterns = [patterns]
    if not patterns:
        raise DataError(f"data.{key}: no files given; list at least one file or glob pattern")
    found: list[str] = []
    for pattern in patterns:
        full = os.path.normpath(os.path.join(base_dir, os.path.expanduser(pattern)))
        matches = sorted(glob.glob(full)) if glob.has_magic(full) else [full]
        if not matches or not all(os.path.isfile(m) for m in matches):
            raise DataError(f"data.{key}: no file matches {pattern!r} (looked for {full})")
        found += matches
    return found


def resolve_file(path: str, key: str, base_dir: str) -> str:
    """``path`` resolved against ``base_dir`` (``~`` expanded), with no glob expansion.

    Raises:
        ValueError: ``path`` is not a non-empty string.
        DataError: no file is there.
    """
    if not isinstance(path, str) or not path:
        raise ValueError(f"data.{key}: expected a file path, got {path!r}")
    full = os.path.normpath(os.path.join(base_dir, os.path.expanduser(path)))
    if not os.path.isfile(full):
        raise DataError(f"data.{key}: no file {path!r} (looked for {full})")
    return full


@dataclass(frozen=True)
class LocalSplits:
    """Resolved files and split settings of a local source (recipe keys ``paths``,
    ``valid_paths``, ``test_paths``, ``valid_fraction``, ``test_fraction``, ``seed``).

    The files of a split are a set of files (``paths``: a list of them), or the files that
    make one example set together (``parallel_files``: a source and a target file).
    A split with files of its own reads them and its fraction is 0; the others are drawn
    from the training files by :func:`~seqframe.builtin.data.splits.split_examples` (or the
    source's own ``cut``, e.g. contiguous slices of one stream).

    Attributes:
        paths: the training files (globs expanded, sorted).
        valid_paths: the validation files, or None.
        test_paths: the test files, or None.
        valid_fraction: share of the training examples drawn for validation.
        test_fraction: share drawn for test.
        seed: the shuffle seed of the split.
    """

    paths: list[str]
    valid_paths: list[str] | None
    test_paths: list[str] | None
    valid_fraction: float
    test_fraction: float
    seed: int

    @classmethod
    def resolve(
        cls,
        paths: Sequence[str] | str,
        valid_paths: Sequence[str] | str | None,
        test_paths: Sequence[str] | str | None,
        valid_fraction: float,
        test_fraction: float,
        seed: int,
        base_dir: str | None,
    ) -> LocalSplits:
        """Expand the patterns against ``base_dir`` (the recipe's folder; the current one when
        None) and check the fractions.

        Raises:
            DataError: a pattern that matches no file.
            ValueError: a fraction outside ``[0, 0.5)``.
        """
        base = base_dir or os.getcwd()
        return cls.of(
            expand_paths(paths, "paths", base),
            expand_paths(valid_paths, "valid_paths", base) if valid_paths else None,
            expand_paths(test_paths, "test_paths", base) if test_paths else None,
            valid_fraction,
            test_fraction,
            seed,
        )

    @classmethod
    def of(
        cls,
        paths: list[str],
        valid_paths: list[str] | None,
        test_paths: list[str] | None,
        valid_fraction: float,
        test_fraction: float,
        seed: int,
    ) -> LocalSplits:
        """The split settings of files already resolved: a split with files of its own takes
        none of the training examples (its fraction becomes 0).

        Raises:
            ValueError: a fraction outside ``[0, 0.5)``.
        """
        splits = cls(
            paths,
            valid_paths,
            test_paths,
            0.0 if valid_paths else valid_fraction,
            0.0 if test_paths else test_fraction,
            seed,
        )
        check_fractions(splits.valid_fraction, splits.test_fraction)
        return splits

    def all_paths(self) -> list[str]:
        """Every file named, training first."""
        return [*self.paths, *(self.valid_paths or ()), *(self.test_paths or ())]

    def load(
        self, read: Callable[[list[str], str], list[_T]], cut: Callable[[list[_T]], dict[str, list[_T]]] | None = None
    ) -> dict[str, list[_T]]:
        """The three splits: ``read(files, key)`` reads the examples of some files (``key``
        names the recipe key, for errors); ``cut`` divides the training examples (a seeded
        shuffle by default)."""
        train = read(self.paths, "paths")
        splits = cut(train) if cut else split_examples(train, self.valid_fraction, self.test_fraction, self.seed)
        if self.valid_paths:
            splits["valid"] = read(self.valid_paths, "valid_paths")
        if self.test_paths:
            splits["test"] = read(self.test_paths, "test_paths")
        return splits
