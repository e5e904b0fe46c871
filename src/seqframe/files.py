"""Writing files that a crash never leaves half-written and that never go through a link:
the one helper behind every file seqframe keeps (run files, checkpoints, the cache).

:func:`write_file` writes to a temporary name in the target's own folder, flushes and
fsyncs it, gives it the mode the umask allows (``mkstemp`` and safetensors would leave
0600), renames it over the target with ``os.replace`` and fsyncs the folder, so the rename
survives a power cut. ``os.replace`` replaces a symbolic link at the target instead of
writing through it. A file in a private staging folder (a checkpoint being assembled) is
written in place with ``replace=False``, created with ``O_EXCL | O_NOFOLLOW``.
:func:`open_append` opens a log for appending, refusing a symbolic link.

Errors are ``OSError``s whose ``filename`` is the target (never the temporary name), so a
message built from one names the file that failed. Layer 0: imports only the stdlib.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

__all__ = ["fsync_dir", "open_append", "sha256_file", "umask_mode", "write_file"]

Payload = bytes | str | Callable[[str], None]
"""What :func:`write_file` writes: bytes, text (UTF-8), or a function that writes the file
at the path it is given (safetensors' ``save_model``)."""


def umask_mode(base: int = 0o666) -> int:
    """``base`` less the process's umask: the mode ``open`` or ``mkdir`` would give."""
    umask = os.umask(0)
    os.umask(umask)
    return base & ~umask


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Flush a folder's entries (a rename in it) to disk, where the platform allows it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # some platforms cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """SHA-256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fill(temp: str, data: Payload) -> str:
    """Write ``data`` to ``temp``, fsync it; returns its SHA-256."""
    if callable(data):
        data(temp)
        with open(temp, "rb+") as handle:
            os.fsync(handle.fileno())
        return sha256_file(temp)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with open(temp, "wb") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())
    return hashlib.sha256(payload).hexdigest()


def write_file(path: str | os.PathLike[str], data: Payload, *, replace: bool = True) -> str:
    """Write ``data`` to ``path`` so that a reader sees the old file or the whole new one.

    Args:
        path: the file to write (its folder must exist).
        data: bytes, text, or a function writing the file at the path it is given.
        replace: write a temporary file and rename it over ``path`` (a symbolic link at
            ``path`` is replaced, never followed). False: create ``path`` itself, which
            must not exist (for files inside a private staging folder).

    Returns:
        The SHA-256 hex digest of what was written.

    Raises:
        OSError: the file could not be written (``filename`` is ``path``); the temporary
            file is removed and an existing ``path`` is left as it was.
    """
    path = Path(path)
    temp: str | None = None
    try:
        if replace:
            fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        else:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
            temp = str(path)
        os.close(fd)
        digest = _fill(temp, data)
        os.chmod(temp, umask_mode())
        if replace:
            os.replace(temp, path)
            fsync_dir(path.parent)
    except BaseException as exc:  # KeyboardInterrupt too: never leave the temporary file behind
        if temp is not None:
            try:
                os.unlink(temp)
            except OSError:
                pass
        if isinstance(exc, OSError) and exc.filename != str(path):
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
        raise
    return digest


def open_append(path: str | os.PathLike[str]) -> TextIO:
    """Open a text file for appending (created with the umask's mode if missing).

    Raises:
        OSError: ``path`` is a symbolic link (``ELOOP``: it is never followed) or cannot
            be opened.
    """
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, 0o666)
    return os.fdopen(fd, "a", encoding="utf-8")
