"""Reading local files: the example policy of a local source (its encoding must keep ``\\n``
one byte), decoding a file (plain or gzip) with errors that name file, line and byte, its
lines, and the error for a file without examples. Every local source reads through these.

Files are read with Python's own decoder rather than ``datasets``' ``text`` builder: the
stream is kept byte-exact, an invalid byte is reported by line, and nothing is copied into an
Arrow cache. Imports layer 0 only.
"""

from __future__ import annotations

import gzip
import zlib

from seqframe.builtin.data.splits import ExamplePolicy
from seqframe.errors import DataError

__all__ = ["decode_file", "make_policy", "no_examples", "text_lines"]


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


def text_lines(text: str) -> list[str]:
    """Lines without their ``\\n`` (or ``\\r\\n``); a final newline ends the last line."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def no_examples(key: str, path: str) -> DataError:
    """The error for a file of recipe key ``data.<key>`` that holds no example."""
    return DataError(f"data.{key}: {path!r} contains no examples; remove it from data.{key} or fill it")
