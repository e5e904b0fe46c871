"""The run directory's layout and the primitives its owner, :class:`~seqframe.engine.rundir.RunDir`,
is built on: the file names, folder checks, the manifest's format, and atomic writes whose
errors name the file. Imports layer 0 only.

``manifest.json``::

    {"format": 1, "writer": "seqframe", "complete": true,
     "files": {"recipe.yaml": {"sha256": "...", "bytes": 1234}, "metrics.jsonl": null, "checkpoints": null, ...}}

``files`` lists every name the run wrote: with its sha256 and size once final, ``null``
while it is still being written or appended to (and for the ``checkpoints`` folder, whose
checkpoints carry their own manifests). ``complete`` is true once the run finished.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from seqframe import files
from seqframe.errors import CheckpointError

__all__ = [
    "CHECKPOINTS",
    "FINAL_FILES",
    "MANIFEST",
    "MANIFEST_FORMAT",
    "RUN_FILES",
    "TEMP_FILE",
    "io_message",
    "read_verified",
    "make_folders",
    "read_manifest",
    "remove_empty",
    "stat_folder",
    "write_atomic",
]

RUN_FILES = (
    "recipe.yaml",
    "metrics.jsonl",
    "model.safetensors",
    "tokenizer.json",
    "target_tokenizer.json",
    "task.json",
    "run.json",
    "sample.txt",
    "loss.png",
    "run.log",
)
CHECKPOINTS = "checkpoints"
MANIFEST = "manifest.json"
FINAL_FILES = ("recipe.yaml", "model.safetensors", "tokenizer.json", "run.json")
"""What every finished run has, each listed in the manifest with its sha256."""
MANIFEST_FORMAT = 1
TEMP_FILE = re.compile(r"\.(.+)\.[^.]+\.tmp")  # what files.write_file leaves if killed mid-write


def io_message(path: str | os.PathLike[str], exc: OSError, what: str = "write it") -> str:
    """``<file>: could not write it (No space left on device, errno ENOSPC)``."""
    code = errno.errorcode.get(exc.errno or 0, str(exc.errno))
    return f"{exc.filename or path}: could not {what} ({exc.strerror or exc}, errno {code})"


def write_atomic(path: str | os.PathLike[str], data: files.Payload) -> str:
    """Replace ``path`` atomically with ``data`` (:func:`seqframe.files.write_file`);
    returns its sha256.

    Raises:
        CheckpointError: it could not be written (names the file); nothing was replaced.
    """
    try:
        return files.write_file(path, data)
    except OSError as exc:
        raise CheckpointError(io_message(path, exc) + "; nothing was replaced") from exc


def stat_folder(path: Path) -> bool:
    """Whether ``path`` exists (as a folder); errors for anything else than a missing one."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return False
    except OSError as exc:  # a symlink loop, a permission...
        raise CheckpointError(
            f"{path}: cannot use it as a run directory ({exc.strerror}); choose another --out"
        ) from None
    if not stat.S_ISDIR(mode):
        raise CheckpointError(f"{path}: exists and is not a folder; choose another --out")
    return True


def make_folders(path: Path) -> list[Path]:
    """Create ``path`` and its missing parents; returns those created, outermost first."""
    missing = []
    for folder in (path, *path.parents):
        if stat_folder(folder):
            break
        missing.append(folder)
    created = []
    for folder in reversed(missing):
        try:
            folder.mkdir()
        except OSError as exc:
            remove_empty(created)
            raise CheckpointError(
                f"{folder}: cannot create the run directory ({exc.strerror}); choose another --out"
            ) from None
        created.append(folder)
    return created


def remove_empty(folders: list[Path]) -> None:
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:
            return


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The run's parsed manifest (None when it has none: a run from before manifests).

    Raises:
        CheckpointError: it is a symbolic link, damaged, or of a newer format.
    """
    file = path / MANIFEST
    if file.is_symlink():
        raise CheckpointError(
            f"{file}: is a symbolic link; seqframe writes only regular files in its run directory "
            "and never through a link; remove the link and run again"
        )
    if not file.exists():
        return None
    try:
        manifest = json.loads(file.read_bytes().decode("utf-8"))
    except (OSError, ValueError):
        manifest = None
    if not (
        isinstance(manifest, dict)
        and manifest.get("writer") == "seqframe"
        and isinstance(manifest.get("files"), dict)
        and isinstance(manifest.get("format"), int)
    ):
        raise CheckpointError(
            f"{file}: not a seqframe run manifest (expected a JSON object with 'writer', 'format' "
            "and 'files'); it was damaged or not written by seqframe"
        )
    if manifest["format"] > MANIFEST_FORMAT:
        raise CheckpointError(
            f"{file}: format version {manifest['format']}, but this seqframe reads "
            f"{MANIFEST_FORMAT} and older; upgrade seqframe"
        )
    return manifest


def read_verified(root: Path, name: str, manifest: Mapping[str, Any] | None, finished: bool) -> bytes:
    """The bytes of run file ``root / name``, checked against ``manifest`` (read once: what
    is checked is what is used).

    Raises:
        CheckpointError: missing, or its size or sha256 differs from the manifest (the file
            was changed or damaged after the run wrote it), or a finished run's manifest does
            not list it.
    """
    file = root / name
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"{file}: missing; is this a seqframe run directory?") from None
    except OSError as exc:
        raise CheckpointError(io_message(file, exc, "read it")) from exc
    info = (manifest or {}).get("files", {}).get(name)
    if info is None:
        if finished and name in FINAL_FILES:
            raise CheckpointError(
                f"{root / MANIFEST}: does not list {name}, so it cannot be verified; the manifest was damaged"
            )
        return data
    if (
        not isinstance(info, dict)
        or len(data) != info.get("bytes")
        or hashlib.sha256(data).hexdigest() != info.get("sha256")
    ):
        raise CheckpointError(
            f"{file}: its size or sha256 differs from {MANIFEST}: the file was changed or "
            "damaged after the run wrote it; restore it, or resume from a checkpoint"
        )
    return data
