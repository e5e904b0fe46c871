"""Resumable checkpoints that a crash, a kill or a full disk never leaves half-written.

Layout of a run directory's ``checkpoints/`` folder::

    step_00000200/          one complete checkpoint
        model.safetensors   weights (loading runs no code)
        state.pt            optimizer, schedule, data position, TBPTT carry, RNG states and
                            counters: tensors and plain values only, read with weights_only=True
        tokenizer.json      the fitted tokenizer
        meta.json           format version, step, resolved recipe, component provenance, versions
        manifest.json       sha256 and size of every file above; written last
    latest.json             {"step": 200, "path": "step_00000200"}; names complete checkpoints only
    best.json               the checkpoint of the best validation metric, with its value

Each checkpoint is assembled in a temporary folder ``.tmp-step_00000200-XXXX`` beside it
(same filesystem), every file flushed and fsynced with the umask's mode, then renamed into
place. Only the run's one writer (see :mod:`~seqframe.engine.runlock`) calls
:meth:`CheckpointStore.prepare`, which removes leftovers of a killed save; reading
(:meth:`~CheckpointStore.load_latest`) never changes the folder, so a reader cannot delete
a live writer's temporary folder. Retention deletes only its own ``step_*`` folders (never
symlinks, never the best or the resumed-from one), and only after the new checkpoint is
complete. Imports layer 0 only.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import pickle
import platform
import re
import shutil
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_model
from torch import nn

from seqframe import files
from seqframe.engine.loaded import Checkpoint, UnusableCheckpoint, json_value
from seqframe.errors import CheckpointError, NonFiniteError

__all__ = ["FORMAT_VERSION", "Checkpoint", "CheckpointStore"]

FORMAT_VERSION = 1
"""Bumped when the layout or ``state.pt`` keys change; a newer one is refused."""

_STEP_DIR = re.compile(r"step_(\d{8,})")
_TEMP_PREFIXES = (".tmp-step_", ".old-step_")
_POINTERS = ("latest.json", "best.json")
_POINTER_TEMP = re.compile(r"\.(latest|best)\.json\..+\.tmp")
_FILES = ("model.safetensors", "state.pt", "tokenizer.json", "extra.json", "meta.json")


def _io_error(path: Path, exc: OSError, staged: Path | None = None) -> str:
    """``<file>: <reason> (errno ENOSPC)`` for an I/O error, naming the file that failed
    (a file of the staging folder ``staged`` by its place in ``path``)."""
    code = errno.errorcode.get(exc.errno or 0, str(exc.errno))
    failed = Path(exc.filename) if exc.filename else path
    if staged is not None and (failed == staged or staged in failed.parents):
        failed = path / failed.relative_to(staged)
    return f"{failed}: {exc.strerror or exc} (errno {code})"


def _check_finite(model: nn.Module, step: int) -> None:
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise NonFiniteError(
                f"step {step}: parameter {name!r} is NaN or infinite; checkpoint not written "
                "(the previous checkpoint is kept)"
            )


class CheckpointStore:
    """Saves, finds, verifies and prunes the checkpoints of one run.

    Args:
        root: the ``checkpoints`` folder (created on :meth:`prepare`).
        keep_last: how many of the newest step checkpoints to keep (None: all).
        meta: extra provenance written into every ``meta.json`` (recipe text, components,
            seqframe version).
    """

    def __init__(
        self, root: str | os.PathLike[str], *, keep_last: int | None = 2, meta: Mapping[str, Any] | None = None
    ) -> None:
        self.root = Path(root)
        self.keep_last = keep_last
        self.meta = dict(meta or {})
        self.protected: set[str] = set()  # folder names retention must keep (the resumed-from one)

    def prepare(self) -> list[Path]:
        """For the run's one writer only: create the folder and remove what killed saves
        left (temporary folders and pointer files); returns what was removed. Holding the
        run's lock makes them stale: no live writer owns them."""
        self.root.mkdir(parents=True, exist_ok=True)
        removed = []
        for entry in self.root.iterdir():
            if not (entry.name.startswith(_TEMP_PREFIXES) or _POINTER_TEMP.fullmatch(entry.name)):
                continue
            if entry.is_symlink() or not entry.is_dir():
                entry.unlink()  # removes the link itself, never its target
            else:
                shutil.rmtree(entry)
            removed.append(entry)
        return removed

    def foreign(self) -> list[str]:
        """Names in the folder that this store did not write (nothing is listed when the
        folder is missing)."""
        if not self.root.is_dir():
            return []
        found = []
        for entry in self.root.iterdir():
            name = entry.name
            step_dir = _STEP_DIR.fullmatch(name) and entry.is_dir() and not entry.is_symlink()
            temp = name.startswith(_TEMP_PREFIXES) or _POINTER_TEMP.fullmatch(name)
            pointer = name in _POINTERS and entry.is_file() and not entry.is_symlink()
            if not (step_dir or temp or pointer):
                found.append(name)
        return sorted(found)

    def clear(self) -> None:
        """Remove this store's checkpoints, pointers and temporary folders; anything else in
        the folder is left alone (and the folder too, unless it ends up empty)."""
        self.prepare()
        for _, path in self.checkpoints():
            shutil.rmtree(path)
        for name in _POINTERS:
            (self.root / name).unlink(missing_ok=True)
        if not any(self.root.iterdir()):
            self.root.rmdir()

    def checkpoints(self) -> list[tuple[int, Path]]:
        """``(step, folder)`` of every ``step_*`` folder, oldest first (by parsed step);
        symlinks and foreign entries are not listed."""
        if not self.root.is_dir():
            return []
        found = []
        for entry in self.root.iterdir():
            match = _STEP_DIR.fullmatch(entry.name)
            if match and entry.is_dir() and not entry.is_symlink():
                found.append((int(match.group(1)), entry))
        return sorted(found)

    def path_for(self, step: int) -> Path:
        """The folder of the checkpoint at ``step``."""
        return self.root / f"step_{step:08d}"

    def save(
        self,
        step: int,
        model: nn.Module,
        state: Mapping[str, Any],
        tokenizer: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Path:
        """Write a complete checkpoint for ``step`` and point ``latest.json`` at it.

        Raises:
            NonFiniteError: a parameter is NaN/inf (nothing is written).
            CheckpointError: an I/O error (disk full...): names the path and errno; the
                previous checkpoint stays intact and the temporary folder is removed.
        """
        _check_finite(model, step)
        target = self.path_for(step)
        if target.is_symlink():
            raise CheckpointError(f"{target}: is a symlink; refusing to write a checkpoint through it")
        temp: Path | None = None
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            temp = Path(tempfile.mkdtemp(prefix=f".tmp-{target.name}-", dir=self.root))
            self._fill(temp, step, model, state, tokenizer, extra)
            os.chmod(temp, files.umask_mode(0o777))  # mkdtemp makes 0700; follow the umask like mkdir
            self._swap_in(temp, target)
        except BaseException as exc:  # KeyboardInterrupt too: never leave the temp folder behind
            if temp is not None:
                shutil.rmtree(temp, ignore_errors=True)
            if isinstance(exc, OSError):
                latest = self.latest_name()
                kept = (
                    f"the previous checkpoint {self.root / latest} is intact" if latest else "no checkpoint was written"
                )
                raise CheckpointError(
                    f"{_io_error(target, exc, temp)}: could not save the checkpoint {target.name}; {kept}"
                ) from exc
            raise
        self._point("latest.json", {"step": step, "path": target.name}, target)
        self.prune()
        return target

    def _fill(
        self,
        folder: Path,
        step: int,
        model: nn.Module,
        state: Mapping[str, Any],
        tokenizer: Mapping[str, Any] | None,
        extra: Mapping[str, Any] | None,
    ) -> None:
        def write(name: str, data: files.Payload) -> dict[str, Any]:
            digest = files.write_file(folder / name, data, replace=False)
            return {"sha256": digest, "bytes": (folder / name).stat().st_size}

        buffer = io.BytesIO()
        torch.save(dict(state), buffer)
        meta = {
            **self.meta,
            "format": FORMAT_VERSION,
            "step": step,
            "torch": torch.__version__,
            "python": platform.python_version(),
        }
        listed = {
            "model.safetensors": write("model.safetensors", lambda path: save_model(model, path)),
            "state.pt": write("state.pt", buffer.getvalue()),
            "tokenizer.json": write("tokenizer.json", json.dumps(dict(tokenizer) if tokenizer else None)),
            "extra.json": write("extra.json", json.dumps(dict(extra or {}))),
            "meta.json": write("meta.json", json.dumps(meta, indent=2)),
        }
        write("manifest.json", json.dumps({"format": FORMAT_VERSION, "files": listed}, indent=2))

    def _swap_in(self, temp: Path, target: Path) -> None:
        if target.exists():  # a same-step leftover (e.g. a corrupt one skipped on resume)
            old = Path(tempfile.mkdtemp(prefix=f".old-{target.name}-", dir=self.root))
            os.replace(target, old / target.name)
            os.rename(temp, target)
            shutil.rmtree(old)
        else:
            os.rename(temp, target)
        files.fsync_dir(self.root)

    def _point(self, name: str, payload: Mapping[str, Any], target: Path) -> None:
        try:
            files.write_file(self.root / name, json.dumps(dict(payload)))
        except OSError as exc:
            raise CheckpointError(
                f"{_io_error(self.root / name, exc)}: could not point {name} at {target.name}; "
                f"{target.name} itself is complete, and resuming finds it"
            ) from exc

    def _pointer(self, name: str) -> dict[str, Any] | None:
        try:
            payload = json.loads((self.root / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        ok = isinstance(payload, dict) and isinstance(payload.get("path"), str) and _STEP_DIR.fullmatch(payload["path"])
        return payload if ok else None

    def latest_name(self) -> str | None:
        """The folder name ``latest.json`` points at, if any."""
        pointer = self._pointer("latest.json")
        return pointer["path"] if pointer else None

    def best(self) -> dict[str, Any] | None:
        """``best.json``: ``{"step", "path", "metric", "value"}``, if any."""
        return self._pointer("best.json")

    def mark_best(self, path: Path, metric: str, value: float) -> None:
        """Point ``best.json`` at the checkpoint ``path`` (of this store), then prune."""
        match = _STEP_DIR.fullmatch(path.name)
        if match is None or path.parent != self.root:
            raise ValueError(f"mark_best: {path} is not a checkpoint folder of {self.root}")
        step = int(match.group(1))
        self._point("best.json", {"step": step, "path": path.name, "metric": metric, "value": value}, path)
        self.prune()  # the previous best may now go

    def prune(self) -> list[Path]:
        """Delete all but the ``keep_last`` newest step checkpoints, keeping the best, the
        latest and the protected ones; returns what was deleted."""
        if self.keep_last is None:
            return []
        found = self.checkpoints()
        keep = {path.name for _, path in found[-self.keep_last :]} | self.protected
        keep |= {name for name in (self.latest_name(), (self.best() or {}).get("path")) if name}
        deleted = []
        for _, path in found:
            if path.name not in keep:
                shutil.rmtree(path)
                deleted.append(path)
        return deleted

    def load(self, path: str | os.PathLike[str]) -> Checkpoint:
        """Read and verify one checkpoint (manifest, sha256, format version).

        Raises:
            CheckpointError: incomplete, corrupt, unsafe, or written by a newer seqframe.
        """
        path = Path(path)
        manifest = self._manifest(path)
        data = {}
        for name, info in manifest["files"].items():  # read once: what is verified is what is used
            try:
                data[name] = (path / name).read_bytes()
            except OSError:
                data[name] = None
            if (
                not isinstance(info, dict)
                or data[name] is None
                or len(data[name]) != info.get("bytes")
                or hashlib.sha256(data[name]).hexdigest() != info.get("sha256")
            ):
                raise UnusableCheckpoint(
                    f"checkpoint {path} is corrupt: {name} is missing, truncated or modified "
                    "(size or sha256 differs from manifest.json)"
                )
        meta = json_value(path / "meta.json", data["meta.json"], dict)
        if not isinstance(meta.get("step"), int) or isinstance(meta["step"], bool):
            raise UnusableCheckpoint(f"{path / 'meta.json'}: no integer 'step' (got {meta.get('step', '(absent)')!r})")
        try:
            state = torch.load(io.BytesIO(data["state.pt"]), map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, ValueError, EOFError) as exc:
            raise CheckpointError(
                f"{path / 'state.pt'}: refused to load: it is not plain tensors and values "
                f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                "seqframe never unpickles code"
            ) from exc
        if not isinstance(state, dict):
            raise UnusableCheckpoint(
                f"{path / 'state.pt'}: expected a mapping of training state, got {type(state).__name__}"
            )
        tokenizer = json_value(path / "tokenizer.json", data["tokenizer.json"], (dict, type(None)))
        extra = json_value(path / "extra.json", data["extra.json"], dict)
        return Checkpoint(path, meta["step"], meta, state, tokenizer, extra, data["model.safetensors"])

    def _manifest(self, path: Path) -> dict[str, Any]:
        try:
            manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UnusableCheckpoint(
                f"checkpoint {path} is incomplete: no manifest.json (the save did not finish)"
            ) from None
        except (OSError, ValueError) as exc:
            raise UnusableCheckpoint(f"checkpoint {path} is corrupt: unreadable manifest.json ({exc})") from exc
        version = manifest.get("format") if isinstance(manifest, dict) else None
        if not isinstance(version, int) or not isinstance(manifest.get("files"), dict):
            raise UnusableCheckpoint(f"checkpoint {path} is corrupt: manifest.json has no format version or file list")
        if version > FORMAT_VERSION:
            raise CheckpointError(
                f"checkpoint {path} has format version {version}, but this seqframe reads "
                f"format version {FORMAT_VERSION} and older; upgrade seqframe to resume it"
            )
        unlisted = [name for name in _FILES if name not in manifest["files"]]
        if unlisted:
            raise UnusableCheckpoint(
                f"{path / 'manifest.json'}: does not list {', '.join(unlisted)} (every checkpoint file "
                "is listed with its sha256), so the checkpoint cannot be verified"
            )
        return manifest

    def load_latest(self) -> Checkpoint:
        """The newest checkpoint that verifies; skipped broken ones get a warning.

        Raises:
            CheckpointError: no usable checkpoint (each reason listed), or a newer format.
        """
        problems = []
        for _, path in reversed(self.checkpoints()):
            try:
                checkpoint = self.load(path)
            except UnusableCheckpoint as exc:
                problems.append(str(exc))
                continue
            for problem in problems:
                warnings.warn(f"{problem}; resuming from the older {path.name} instead", stacklevel=2)
            return checkpoint
        if not problems:
            raise CheckpointError(f"{self.root}: no complete checkpoint to resume from (none was saved)")
        raise CheckpointError(f"{self.root}: no complete checkpoint to resume from: {'; '.join(problems)}")
