"""One writer per run directory: an exclusive ``fcntl.flock`` on ``<run>/.lock``, held for
the writer's whole life.

The lock file records its holder (PID, host, start time) so a second writer can say who
holds it. The kernel drops a ``flock`` when its process dies, so a lock file whose lock is
free but which still names a holder was left by a process that did not finish cleanly: it
is taken over with a warning. Readers take no lock. The file is removed when the writer
finishes; a writer that wrote nothing (a refused resume) puts back what was there, so the
folder is byte-identical. After locking, the writer checks that the path still names the
file it locked (a finishing writer may have just removed it) and retries otherwise.
Imports layer 0 only.
"""

from __future__ import annotations

import datetime
import errno
import fcntl
import json
import os
import socket
import warnings
from pathlib import Path

from seqframe.errors import CheckpointError

__all__ = ["LOCK_FILE", "WriterLock"]

LOCK_FILE = ".lock"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _describe(raw: bytes) -> str:
    """``PID 12 on host 'box', started 2025-01-02 10:00:00`` from a lock file's bytes."""
    try:
        holder = json.loads(raw.decode("utf-8"))
        return f"PID {int(holder['pid'])} on host {holder['host']!r}, started {holder['started']}"
    except (ValueError, KeyError, TypeError):
        return "a process that has not recorded itself yet"


def _read(fd: int) -> bytes:
    return os.pread(fd, 1 << 16, 0)


def _open(path: Path) -> tuple[int, bool]:
    """The lock file's descriptor, and whether this call created it."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o666), True
    except FileExistsError:
        return os.open(path, os.O_RDWR | _NOFOLLOW), False


class WriterLock:
    """The exclusive lock of one run directory, held until :meth:`release`.

    Use :meth:`acquire`; the lock is an ``flock`` on the open file, so it also ends when
    the process does.
    """

    def __init__(self, path: Path, fd: int, created: bool, previous: bytes) -> None:
        self.path, self._fd, self._created, self._previous = path, fd, created, previous

    @classmethod
    def acquire(cls, folder: str | os.PathLike[str]) -> WriterLock:
        """Lock ``folder`` for writing.

        Raises:
            CheckpointError: another process holds it (named: PID, host, start time), or
                the lock file cannot be created (read-only folder, a symbolic link...).
        """
        path = Path(folder) / LOCK_FILE
        if not path.parent.is_dir():
            raise CheckpointError(f"{path.parent}: not a folder; cannot lock it as a run directory")
        for _ in range(20):
            try:
                fd, created = _open(path)
            except FileNotFoundError:
                continue  # removed between the two opens by a finishing writer
            except OSError as exc:
                reason = "it is a symbolic link" if exc.errno == errno.ELOOP else exc.strerror
                raise CheckpointError(
                    f"{path}: cannot create the run directory's lock file ({reason}); seqframe "
                    "needs a folder it can write"
                ) from None
            try:
                lock = cls._lock(path, fd, created)
            except BaseException:
                os.close(fd)
                raise
            if lock is not None:
                return lock
            os.close(fd)
        raise CheckpointError(f"{path}: could not take the lock; other processes keep creating and removing it")

    @classmethod
    def _lock(cls, path: Path, fd: int, created: bool) -> WriterLock | None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CheckpointError(
                f"{path.parent}: another seqframe process is writing this run directory "
                f"({_describe(_read(fd))}); wait for it to finish, or choose another --out"
            ) from None
        except OSError as exc:  # e.g. a network filesystem without locks
            warnings.warn(
                f"{path}: this filesystem does not support file locks ({exc.strerror}); make sure only "
                "one process writes this run directory",
                stacklevel=4,
            )
        try:
            now = os.stat(path, follow_symlinks=False)
        except FileNotFoundError:
            return None
        mine = os.fstat(fd)
        if (now.st_ino, now.st_dev) != (mine.st_ino, mine.st_dev):
            return None
        previous = _read(fd)
        if previous.strip():
            warnings.warn(
                f"{path}: taking over the lock of {_describe(previous)}: that process is gone and did not "
                "release it (it was killed or crashed)",
                stacklevel=4,
            )
        started = datetime.datetime.now().isoformat(sep=" ", timespec="seconds")
        cls._put(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": started}).encode())
        return cls(path, fd, created, previous)

    @staticmethod
    def _put(fd: int, data: bytes) -> None:
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        os.fsync(fd)

    def release(self, *, restore: bool = False) -> None:
        """Give the lock up and remove the lock file; with ``restore`` (nothing was
        written) put back what was there before instead."""
        if self._fd < 0:
            return
        try:
            if restore and not self._created:
                self._put(self._fd, self._previous)
            else:
                self.path.unlink(missing_ok=True)
        except OSError:
            pass  # the lock ends with the descriptor anyway
        finally:
            os.close(self._fd)
            self._fd = -1
