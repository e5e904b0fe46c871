"""The run directory: its layout, its one writer, its manifest, and read-only access for
everyone else.

A run directory holds the files of :data:`RUN_FILES`, the ``checkpoints/`` folder (see
:mod:`~seqframe.engine.checkpoint`), ``manifest.json`` and, while a writer is at work,
``.lock``, and the folders its writers add (:meth:`RunDir.folder`: ``logs/`` of the
experiment loggers, ``export/`` of ``seqframe export``). ``manifest.json`` lists every name the run wrote, each with its sha256 and size
once final (``null`` while a file is still being written or appended to), and whether the
run finished (``complete``); ``--overwrite`` deletes only what it lists, and readers check
every file they read against it.

A writer (:meth:`RunDir.open_writer`) holds the run's lock (:mod:`~seqframe.engine.runlock`)
until :meth:`RunDir.close`. Opening checks everything about the folder and changes nothing
but the lock file; the first write is :meth:`RunDir.begin`, so a caller verifies whatever
else it must before that, and a writer closed before it leaves the folder byte-identical.
A writer that adds files to an existing run (``amend``: ``seqframe export``) takes the same
lock, removes nothing and leaves the run's ``complete`` flag as it was.
Every file is replaced atomically (:func:`seqframe.files.write_file`) or appended to without
following a symbolic link, and a symbolic link in place of a run file is refused when the
directory is opened. A reader (:meth:`RunDir.open_reader`) takes no lock and never writes.
Imports layer 0 only.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from torch import nn

from seqframe import files
from seqframe.engine.checkpoint import Checkpoint, CheckpointStore
from seqframe.engine.runcheck import check_folder
from seqframe.engine.runlayout import (
    CHECKPOINTS,
    FINAL_FILES,
    MANIFEST,
    MANIFEST_FORMAT,
    RUN_FILES,
    TEMP_FILE,
    io_message,
    make_folders,
    read_manifest,
    read_verified,
    remove_empty,
    stat_folder,
    write_atomic,
)
from seqframe.engine.runlock import WriterLock
from seqframe.engine.weights import save_weights
from seqframe.errors import CheckpointError

__all__ = ["CHECKPOINTS", "FINAL_FILES", "MANIFEST", "RUN_FILES", "RunDir", "io_message", "write_atomic"]


class RunDir:
    """One run directory, opened by its one writer or by a reader.

    Attributes:
        path: the folder.
        manifest: the parsed ``manifest.json`` (None for a run written before manifests).
    """

    def __init__(
        self, path: Path, lock: WriterLock | None, manifest: dict[str, Any] | None, created: list[Path] | None = None
    ) -> None:
        self.path, self.manifest, self._lock = path, manifest, lock
        self._created, self._begun, self._overwrite = created or [], False, False

    @classmethod
    def open_reader(cls, path: str | os.PathLike[str]) -> RunDir:
        """Open a run directory to read it: no lock, and nothing is ever written.

        Raises:
            CheckpointError: not a folder, or an unreadable manifest.
        """
        path = Path(path)
        if not stat_folder(path):
            raise CheckpointError(f"{path}: no such run directory")
        return cls(path, None, read_manifest(path))

    @classmethod
    def open_writer(
        cls,
        path: str | os.PathLike[str],
        *,
        resume: bool = False,
        overwrite: bool = False,
        keep: Iterable[str | os.PathLike[str]] = (),
        amend: bool = False,
    ) -> RunDir:
        """Lock a run directory for writing and check it can be used; writes nothing but
        the lock file (and creates the folder of a fresh run).

        Args:
            path: the folder.
            resume: continue the run in it (it needs a ``checkpoints`` folder).
            overwrite: replace the run in it (removing only what its manifest lists).
            keep: files that must not be inside it (the recipe being run).
            amend: add files to the run in it (it needs a ``manifest.json``): nothing is
                removed, no :meth:`begin` is needed, ``complete`` stays as it was.

        Raises:
            CheckpointError: the folder is held by another writer (named), unusable,
                holds files seqframe did not write (``overwrite``) or a symbolic link in
                place of a run file, has nothing to resume, or is in use (neither flag).
        """
        path = Path(path)
        if resume and overwrite:
            raise CheckpointError(
                f"{path}: --resume continues the run in this folder and --overwrite replaces it; pass only one"
            )
        if amend:
            return cls._open_amender(path)
        if resume and not stat_folder(path):
            raise CheckpointError(f"{path}: nothing to resume (no such folder); run without --resume to start")
        created = [] if resume else make_folders(path)
        try:
            lock = WriterLock.acquire(path)
        except BaseException:
            remove_empty(created)
            raise
        run = cls(path, lock, None, created)
        try:
            run.manifest = read_manifest(path)
            check_folder(path, run.manifest, resume=resume, overwrite=overwrite, keep=[Path(k) for k in keep])
        except BaseException:
            run.close()
            raise
        run._overwrite = overwrite
        return run

    @classmethod
    def _open_amender(cls, path: Path) -> RunDir:
        if not stat_folder(path):
            raise CheckpointError(f"{path}: no such run directory")
        lock = WriterLock.acquire(path)
        run = cls(path, lock, None)
        try:
            run.manifest = read_manifest(path)
            if run.manifest is None:
                raise CheckpointError(
                    f"{path}: has no {MANIFEST}, so files cannot be added to it safely; is it a "
                    "seqframe run directory (written by this version)?"
                )
            if not os.access(path, os.W_OK | os.X_OK):
                raise CheckpointError(f"{path}: not writable (read-only, or not yours); write elsewhere (--out)")
        except BaseException:
            run.close()
            raise
        run._begun = True  # nothing to clean up: an amending writer only adds
        return run

    def _listed(self) -> set[str]:
        return set(self.manifest["files"]) if self.manifest else set()

    # --- writing --------------------------------------------------------------------------------

    def _writer(self) -> None:
        if self._lock is None:
            raise RuntimeError(f"{self.path}: opened for reading; only its writer writes")
        if not self._begun:
            raise RuntimeError(f"{self.path}: call begin() before writing")

    def begin(self, names: Iterable[str]) -> None:
        """The first write: remove the previous run (``overwrite``) or what killed writes
        left (temporary files, checkpoint folders being assembled), then list ``names``
        (what this run will write) in the manifest as unfinished.

        Raises:
            CheckpointError: an I/O error (names the file).
        """
        if self._lock is None:
            raise RuntimeError(f"{self.path}: opened for reading; only its writer writes")
        self._begun = True
        listed = self._listed()
        try:
            for entry in list(self.path.iterdir()):
                temp = TEMP_FILE.fullmatch(entry.name)
                if self._overwrite and entry.name in listed and entry.name != CHECKPOINTS:
                    shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
                elif temp is not None and (temp.group(1) in (*RUN_FILES, MANIFEST) or temp.group(1) in listed):
                    entry.unlink()
            store = CheckpointStore(self.path / CHECKPOINTS)
            if self._overwrite and CHECKPOINTS in listed:
                store.clear()
        except OSError as exc:
            raise CheckpointError(io_message(exc.filename or self.path, exc, "remove it")) from exc
        if self._overwrite or self.manifest is None:
            adopt = [] if self._overwrite else [n for n in RUN_FILES if (self.path / n).is_file()]  # an older run
            self.manifest = {"format": MANIFEST_FORMAT, "writer": "seqframe", "files": dict.fromkeys(adopt)}
        self.manifest["complete"] = False
        for name in (*names, CHECKPOINTS):
            self.manifest["files"].setdefault(name, None)
        self.flush()

    def folder(self, name: str) -> Path:
        """A folder of the run for files its writers add (``logs/tensorboard``,
        ``export/onnx``): created if missing, never through a symbolic link, and its top
        level listed in the manifest as seqframe's (``--overwrite`` removes it whole).

        Raises:
            CheckpointError: a part of it is a symbolic link or not a folder, or it cannot
                be created (names it).
        """
        self._writer()
        assert self.manifest is not None
        parts = Path(name).parts
        if not parts or any(p in ("..", ".") for p in parts) or Path(name).is_absolute():
            raise ValueError(f"RunDir.folder: {name!r} must be a relative path inside the run directory")
        if self.manifest["files"].get(parts[0], 0) is not None:
            self.manifest["files"][parts[0]] = None
            self.flush()
        folder = self.path
        for part in parts:
            folder = folder / part
            if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
                raise CheckpointError(
                    f"{folder}: is a symbolic link or a file; seqframe writes only inside its run "
                    "directory and never through a link; remove it and try again"
                )
            try:
                folder.mkdir(exist_ok=True)
            except OSError as exc:
                raise CheckpointError(io_message(folder, exc, "create it")) from exc
        return folder

    def flush(self) -> None:
        """Write the manifest (atomically)."""
        self._writer()
        assert self.manifest is not None
        write_atomic(self.path / MANIFEST, json.dumps(self.manifest, indent=2, sort_keys=True))

    def _unfinished(self, name: str) -> None:
        """List ``name`` without a checksum before it changes (saved at once if it had one)."""
        assert self.manifest is not None
        entries = self.manifest["files"]
        had = entries.get(name, 0)
        entries[name] = None
        if had is not None:
            self.flush()

    def _record(self, name: str, digest: str | None = None) -> None:
        assert self.manifest is not None
        file = self.path / name
        self.manifest["files"][name] = {"sha256": digest or files.sha256_file(file), "bytes": file.stat().st_size}

    def write(self, name: str, data: files.Payload) -> None:
        """Replace the run file ``name`` atomically; its checksum is listed at the next
        :meth:`flush`.

        Raises:
            CheckpointError: it could not be written (names the file); the old one is intact.
        """
        self._writer()
        self._unfinished(name)
        self._record(name, write_atomic(self.path / name, data))

    def save_weights(self, model: nn.Module, name: str = "model.safetensors") -> None:
        """Write ``model``'s weights as safetensors (atomically), like :meth:`write`."""
        self._writer()
        self._unfinished(name)
        try:
            digest = save_weights(model, self.path / name)
        except OSError as exc:
            raise CheckpointError(io_message(self.path / name, exc) + "; nothing was replaced") from exc
        self._record(name, digest)

    def keep_metrics(self, step: int, name: str = "metrics.jsonl") -> list[dict[str, Any]]:
        """Keep only the rows of ``name`` up to ``step`` (a resumed run rewrites what came
        after its checkpoint; a torn last line from a killed run is dropped); returns them."""
        self._writer()
        path = self.path / name
        if not path.is_file():
            return []
        kept, lines = [], []
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict) and isinstance(row.get("step"), int) and row["step"] <= step:
                kept.append(row)
                lines.append(line + "\n")
        self.write(name, "".join(lines))
        return kept

    def checkpoint_store(self, keep_last: int | None, meta: Mapping[str, Any]) -> CheckpointStore:
        """The writer's checkpoint store, with leftovers of unfinished saves removed."""
        self._writer()
        store = CheckpointStore(self.path / CHECKPOINTS, keep_last=keep_last, meta=meta)
        try:
            removed = store.prepare()
        except OSError as exc:
            raise CheckpointError(io_message(exc.filename or store.root, exc, "prepare it")) from exc
        for stale in removed:
            warnings.warn(f"removed {stale}: left by a checkpoint save that did not finish", stacklevel=3)
        return store

    def finish(self) -> None:
        """Mark the run complete: every file it lists gets its checksum (those that do not
        exist are dropped), and the manifest is written."""
        self._writer()
        assert self.manifest is not None
        entries = self.manifest["files"]
        for name in list(entries):
            file = self.path / name
            if name == CHECKPOINTS or (file.is_dir() and not file.is_symlink()):
                continue
            if not file.is_file() or file.is_symlink():
                del entries[name]
            elif entries[name] is None:
                self._record(name)
        self.manifest["complete"] = True
        self.flush()

    def close(self) -> None:
        """Release the lock. A writer that never began puts the lock file back as it was and
        removes the folders it created, so the directory is left as it was found."""
        if self._lock is not None:
            self._lock.release(restore=not self._begun)
            self._lock = None
            if not self._begun:
                remove_empty(self._created)

    def __enter__(self) -> RunDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- reading --------------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        """The manifest says the run finished (False for a run written before manifests)."""
        return bool(self.manifest and self.manifest.get("complete") is True)

    def read_bytes(self, name: str) -> bytes:
        """The bytes of run file ``name``, checked against the manifest (read once: what is
        checked is what is used; see :func:`~seqframe.engine.runlayout.read_verified`).

        Raises:
            CheckpointError: missing, changed or damaged since the run wrote it, or unlisted
                by a finished run's manifest.
        """
        return read_verified(self.path, name, self.manifest, self.finished)

    def read_json(self, name: str) -> dict[str, Any]:
        """A verified JSON object file of the run."""
        try:
            value = json.loads(self.read_bytes(name).decode("utf-8"))
        except ValueError as exc:
            raise CheckpointError(f"{self.path / name}: corrupt JSON ({exc})") from exc
        if not isinstance(value, dict):
            raise CheckpointError(f"{self.path / name}: expected a JSON object, got {type(value).__name__}")
        return value

    def read_text(self, name: str) -> str:
        """A verified text file of the run."""
        try:
            return self.read_bytes(name).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CheckpointError(f"{self.path / name}: not UTF-8 text ({exc})") from exc

    def latest_checkpoint(self) -> Checkpoint:
        """The newest complete checkpoint (read-only; see :meth:`CheckpointStore.load_latest`).

        While a writer trains, the checkpoint being read may be pruned under the reader: the
        search is then repeated on the new listing, without reporting the vanished one."""
        store = CheckpointStore(self.path / CHECKPOINTS)
        for attempt in range(5):
            listed = store.checkpoints()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    checkpoint: Checkpoint | None = store.load_latest()
                    failure: CheckpointError | None = None
                except CheckpointError as exc:
                    checkpoint, failure = None, exc
            if (failure is None and not caught) or store.checkpoints() == listed or attempt == 4:
                for warning in caught:
                    warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
                if failure is not None:
                    raise failure
                assert checkpoint is not None
                return checkpoint
        raise AssertionError("unreachable")
