"""The options every local-file source shares, declared once: :class:`LocalOptions` (encoding,
the recipe's folder, and the split and example options of
:class:`~seqframe.builtin.data.options.SourceOptions`) and :class:`FileSetOptions` (the
``paths`` / ``valid_paths`` / ``test_paths`` file sets). Both resolve their files into the
one split policy, :class:`~seqframe.builtin.data.local.paths.LocalSplits`.

No postponed annotations here, for the reason given in :mod:`seqframe.builtin.data.options`.
Imports layer 0 only.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from seqframe.builtin.data.local.paths import LocalSplits
from seqframe.builtin.data.local.reading import make_policy
from seqframe.builtin.data.options import SourceOptions
from seqframe.builtin.data.splits import ExamplePolicy

__all__ = ["FileSetOptions", "FileSets", "LocalOptions"]


@dataclass(kw_only=True, eq=False, repr=False)
class LocalOptions(SourceOptions):
    """Options of every local-file source. After ``__post_init__``, ``files`` holds the
    resolved :class:`LocalSplits` (from :meth:`resolve_files`, which a subclass implements).

    Args:
        encoding: text encoding (any that writes ``\\n`` as one byte).
        encoding_errors: ``strict`` or ``replace`` (affected lines counted in ``stats``).
        base_dir: folder relative paths resolve against (set by the recipe builder).
    """

    encoding: str = "utf-8"
    encoding_errors: str = "strict"
    base_dir: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self.files = self.resolve_files()

    def policy_options(self) -> dict[str, Any]:
        return {**super().policy_options(), "encoding": self.encoding, "encoding_errors": self.encoding_errors}

    def make_policy(self) -> ExamplePolicy:
        return make_policy(self.name, **self.policy_options())

    def resolve_files(self) -> LocalSplits:
        """The files of each split and the split settings."""
        raise NotImplementedError


@dataclass(kw_only=True, eq=False, repr=False, init=False)  # fields only; no __init__ in the MRO
class FileSets:
    """The file sets of the sources that read lists of files (first in their signatures).

    Args:
        paths: files or glob patterns (relative to the recipe's folder).
        valid_paths: files for validation; if set, ``valid_fraction`` is not used.
        test_paths: files for test; if set, ``test_fraction`` is not used.
    """

    paths: Sequence[str] | str = field(kw_only=False)
    valid_paths: Sequence[str] | str | None = None
    test_paths: Sequence[str] | str | None = None


@dataclass(kw_only=True, eq=False, repr=False)
class FileSetOptions(LocalOptions, FileSets):
    """Options of the sources that read sets of files, each file a list of examples.

    Args:
        valid_fraction: share of the examples of ``paths`` drawn for validation.
    """

    def resolve_files(self) -> LocalSplits:
        return LocalSplits.resolve(
            self.paths,
            self.valid_paths,
            self.test_paths,
            self.valid_fraction,
            self.test_fraction,
            self.seed,
            self.base_dir,
        )

    def read(self, paths: list[str], key: str) -> list[Any]:
        """The examples of ``paths`` (the files of recipe key ``data.<key>``), file by file."""
        return [example for path in paths for example in self.read_file(path, key)]

    def read_file(self, path: str, key: str) -> list[Any]:
        """The examples of one file."""
        raise NotImplementedError
