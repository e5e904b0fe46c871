"""Reading a file a user names into a task's inputs (``seqframe eval --data FILE``): one
UTF-8 text, JSON Lines, CSV or TSV, each checked with the file and line of any problem.

Layer 0: imports only the stdlib and the errors.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seqframe.errors import DataError

__all__ = ["FORMATS", "describe_formats", "format_of", "read_examples", "read_text"]

FORMATS = {
    "txt": "one UTF-8 text",
    "jsonl": "JSON Lines (.jsonl, one object per line)",
    "csv": "CSV (.csv, a header row naming the columns)",
    "tsv": "TSV (.tsv, a header row naming the columns)",
}
"""Format name -> how it is described in messages and help."""
_SUFFIXES = {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "tsv", ".tab": "tsv"}


def describe_formats(formats: Sequence[str], fields: Sequence[str] = ()) -> str:
    """``JSON Lines (.jsonl, ...) or CSV (...) with the fields text, label``."""
    described = [FORMATS.get(f, f) for f in formats]
    text = described[0] if len(described) == 1 else f"{', '.join(described[:-1])} or {described[-1]}"
    return text + (f" with the fields {', '.join(fields)}" if fields and formats != ("txt",) else "")


def format_of(path: str | os.PathLike[str], formats: Sequence[str]) -> str | None:
    """The format of ``path`` among ``formats`` (by suffix; any file is ``txt`` when that is
    the only format), or None."""
    if tuple(formats) == ("txt",):
        return "txt"
    found = _SUFFIXES.get(Path(path).suffix.lower(), "txt" if Path(path).suffix.lower() == ".txt" else None)
    return found if found in formats else None


def read_text(path: str | os.PathLike[str]) -> str:
    """A UTF-8 text file's content.

    Raises:
        DataError: unreadable, or not UTF-8 (names the line).
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not valid UTF-8 (byte {exc.start}: {exc.reason})") from exc


def read_examples(path: str | os.PathLike[str], fields: Sequence[str], file_format: str) -> list[dict[str, Any]]:
    """Examples with ``fields`` from a JSON Lines, CSV or TSV file (other keys or columns are
    kept; blank lines skipped).

    Raises:
        DataError: unreadable, not UTF-8, a line that is not a JSON object, or a missing
            field (each with ``file:line``).
    """
    text = read_text(path)
    if file_format == "jsonl":
        rows = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{number}: not a JSON object ({exc.msg})") from exc
            if not isinstance(row, dict):
                raise DataError(
                    f"{path}:{number}: expected a JSON object with {', '.join(fields)}, got {type(row).__name__}"
                )
            rows.append((number, row))
    else:
        reader = csv.DictReader(io.StringIO(text), delimiter="\t" if file_format == "tsv" else ",")
        rows = [(reader.line_num, dict(row)) for row in reader if any((value or "").strip() for value in row.values())]
        missing = [f for f in fields if f not in (reader.fieldnames or [])]
        if missing:
            raise DataError(
                f"{path}:1: the header names no column {', '.join(map(repr, missing))} (columns: "
                f"{', '.join(reader.fieldnames or []) or 'none'}); name the columns {', '.join(fields)}"
            )
    for number, row in rows:
        missing = [f for f in fields if f not in row]
        if missing:
            raise DataError(
                f"{path}:{number}: no field {', '.join(map(repr, missing))} (has: "
                f"{', '.join(row) or 'none'}); each example needs {', '.join(fields)}"
            )
    if not rows:
        raise DataError(f"{path}: no examples to evaluate")
    return [row for _, row in rows]
