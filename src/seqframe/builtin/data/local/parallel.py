"""``parallel_files``: translation pairs from line-aligned source and target files (plain or
gzip-compressed, e.g. Multi30k's ``train.en.gz`` / ``train.de.gz``), read by
:func:`~seqframe.builtin.data.local.files.read_parallel`. Imports layer 0 only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from seqframe.builtin.data.local.files import read_parallel
from seqframe.builtin.data.local.options import LocalOptions
from seqframe.builtin.data.local.paths import LocalSplits, resolve_file
from seqframe.builtin.data.sources import Example, TargetExampleSource

__all__ = ["ParallelFilesSource"]


@dataclass(kw_only=True, eq=False, repr=False, init=False)  # fields only; no __init__ in the MRO
class FilePairs:
    """The (source, target) file pairs of ``parallel_files``, first in its signature."""

    source_path: str = field(kw_only=False)
    target_path: str = field(kw_only=False)
    valid_source_path: str | None = None
    valid_target_path: str | None = None
    test_source_path: str | None = None
    test_target_path: str | None = None


@dataclass(kw_only=True, eq=False, repr=False)
class ParallelFilesSource(LocalOptions, FilePairs, TargetExampleSource):
    """Translation pairs from two line-aligned text files (plain or gzip).

    Line ``i`` of ``target_path`` translates line ``i`` of ``source_path``. Examples
    ``{"source": str, "target": str}``. Files ending in ``.gz`` are decompressed. Files of
    different line counts are an error naming both; pairs with an empty side are dropped and
    counted (``stats["dropped_empty_pairs"]``). The splits follow the policy of every local
    source (:class:`~seqframe.builtin.data.local.paths.LocalSplits`), a split's files being
    its pair of files.

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
        encoding: text encoding of all files.
        max_chars: longest line per side in characters, or null.
        on_overlength: ``truncate``, ``drop`` (the pair) or ``error`` past ``max_chars``.
    """

    name = "parallel_files"
    input_field = "source"

    on_empty: str = field(default="drop", init=False)  # a pair with an empty side is always dropped

    def resolve_files(self) -> LocalSplits:
        base_dir = self.base_dir or os.getcwd()
        train = [
            resolve_file(self.source_path, "source_path", base_dir),
            resolve_file(self.target_path, "target_path", base_dir),
        ]
        held_out: dict[str, list[str] | None] = {}
        for split, source, target in (
            ("valid", self.valid_source_path, self.valid_target_path),
            ("test", self.test_source_path, self.test_target_path),
        ):
            if (source is None) != (target is None):
                given, missing = ("source", "target") if target is None else ("target", "source")
                raise ValueError(
                    f"{self.name}: {split}_{given}_path is set but {split}_{missing}_path is not; give "
                    "both files of the pair or neither"
                )
            held_out[split] = (
                None
                if source is None or target is None
                else [
                    resolve_file(source, f"{split}_source_path", base_dir),
                    resolve_file(target, f"{split}_target_path", base_dir),
                ]
            )
        return LocalSplits.of(
            train, held_out["valid"], held_out["test"], self.valid_fraction, self.test_fraction, self.seed
        )

    def _pairs(self, files: list[str], key: str) -> list[Example]:
        """The pairs of one (source, target) file pair; ``key`` (the split's files in
        :meth:`LocalSplits.load`) goes unused, since :func:`read_parallel` names both files."""
        pairs = read_parallel(
            files[0],
            files[1],
            encoding=self.encoding,
            encoding_errors=self.encoding_errors,
            max_chars=self.max_chars,
            on_overlength=self.on_overlength,
            stats=self.stats,
        )
        return [{"source": source, "target": target} for source, target in pairs]

    def _load(self) -> dict[str, list[Example]]:
        return self.files.load(self._pairs)
