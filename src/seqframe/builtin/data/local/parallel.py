"""``parallel_files``: translation pairs from line-aligned source and target files (plain or
gzip-compressed, e.g. Multi30k's ``train.en.gz`` / ``train.de.gz``), read by
:func:`~seqframe.builtin.data.local.files.read_parallel`. Imports layer 0 only.
"""

from __future__ import annotations

import os

from seqframe.builtin.data.local.files import make_policy, read_parallel
from seqframe.builtin.data.sources import Example, TargetExampleSource
from seqframe.builtin.data.splits import split_examples, split_text
from seqframe.errors import DataError

__all__ = ["ParallelFilesSource", "resolve_file"]


def resolve_file(path: str, key: str, base_dir: str) -> str:
    """``path`` resolved against ``base_dir`` (``~`` expanded); a DataError if no file is there."""
    if not isinstance(path, str) or not path:
        raise ValueError(f"data.{key}: expected a file path, got {path!r}")
    full = os.path.normpath(os.path.join(base_dir, os.path.expanduser(path)))
    if not os.path.isfile(full):
        raise DataError(f"data.{key}: no file {path!r} (looked for {full})")
    return full


class ParallelFilesSource(TargetExampleSource):
    """Translation pairs from two line-aligned text files (plain or gzip).

    Line ``i`` of ``target_path`` translates line ``i`` of ``source_path``. Examples
    ``{"source": str, "target": str}``. Files ending in ``.gz`` are decompressed. Files of
    different line counts are an error naming both; pairs with an empty side are dropped and
    counted (``stats["dropped_empty_pairs"]``).

    Args:
        source_path: source-side file (relative to the recipe's folder).
        target_path: target-side file.
        valid_source_path: validation source file; with ``valid_target_path`` it replaces
            ``valid_fraction``.
        valid_target_path: validation target file.
        test_source_path: test source file; with ``test_target_path`` it replaces
            ``test_fraction``.
        test_target_path: test target file.
        valid_fraction: share of the training pairs drawn for validation when no
            validation files are given.
        test_fraction: share drawn for test when no test files are given.
        seed: the shuffle seed of the split.
        encoding: text encoding of all files.
        encoding_errors: ``strict`` or ``replace`` (affected lines counted in ``stats``).
        max_chars: longest line per side in characters, or null.
        on_overlength: ``truncate``, ``drop`` (the pair) or ``error`` past ``max_chars``.
        base_dir: folder relative paths resolve against (set by the recipe builder).
    """

    name = "parallel_files"
    input_field = "source"

    def __init__(
        self,
        source_path: str,
        target_path: str,
        valid_source_path: str | None = None,
        valid_target_path: str | None = None,
        test_source_path: str | None = None,
        test_target_path: str | None = None,
        valid_fraction: float = 0.05,
        test_fraction: float = 0.05,
        seed: int = 0,
        encoding: str = "utf-8",
        encoding_errors: str = "strict",
        max_chars: int | None = None,
        on_overlength: str = "truncate",
        base_dir: str | None = None,
    ) -> None:
        super().__init__()
        make_policy(
            self.name,
            encoding=encoding,
            encoding_errors=encoding_errors,
            max_chars=max_chars,
            on_overlength=on_overlength,
        )  # validates the options before any file is read
        self.options = {
            "encoding": encoding,
            "encoding_errors": encoding_errors,
            "max_chars": max_chars,
            "on_overlength": on_overlength,
        }
        base_dir = base_dir or os.getcwd()
        self.train_files = (
            resolve_file(source_path, "source_path", base_dir),
            resolve_file(target_path, "target_path", base_dir),
        )
        self.files: dict[str, tuple[str, str] | None] = {}
        for split, source, target in (
            ("valid", valid_source_path, valid_target_path),
            ("test", test_source_path, test_target_path),
        ):
            if (source is None) != (target is None):
                given, missing = ("source", "target") if target is None else ("target", "source")
                raise ValueError(
                    f"{self.name}: {split}_{given}_path is set but {split}_{missing}_path is not; give "
                    "both files of the pair or neither"
                )
            self.files[split] = (
                None
                if source is None or target is None
                else (
                    resolve_file(source, f"{split}_source_path", base_dir),
                    resolve_file(target, f"{split}_target_path", base_dir),
                )
            )
        self.valid_fraction = 0.0 if self.files["valid"] else valid_fraction
        self.test_fraction = 0.0 if self.files["test"] else test_fraction
        split_text("", self.valid_fraction, self.test_fraction)  # validates the fractions
        self.seed = seed

    def _pairs(self, files: tuple[str, str]) -> list[Example]:
        pairs = read_parallel(*files, stats=self.stats, **self.options)  # type: ignore[arg-type]
        return [{"source": source, "target": target} for source, target in pairs]

    def _load(self) -> dict[str, list[Example]]:
        splits = split_examples(self._pairs(self.train_files), self.valid_fraction, self.test_fraction, self.seed)
        for split in ("valid", "test"):
            files = self.files[split]
            if files is not None:
                splits[split] = self._pairs(files)
        return splits
