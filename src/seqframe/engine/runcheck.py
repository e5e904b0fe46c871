"""What a run directory must be before its writer may use it: the checks
:meth:`~seqframe.engine.rundir.RunDir.open_writer` makes, all of them read-only.

A fresh run needs an empty folder. ``--resume`` needs the ``checkpoints`` folder of an
earlier run, a folder it can write, and no symbolic link in place of a run file (seqframe
never writes through one). ``--overwrite`` removes only what the run's manifest lists, so it
refuses a folder holding anything else (a symbolic link included) or the recipe being run.
Imports layer 0 only.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seqframe.engine.checkpoint import CheckpointStore
from seqframe.engine.runlayout import CHECKPOINTS, MANIFEST, RUN_FILES, TEMP_FILE
from seqframe.engine.runlock import LOCK_FILE
from seqframe.errors import CheckpointError

__all__ = ["check_folder"]


def _quote(names: list[str]) -> str:
    shown = ", ".join(repr(name) for name in names[:8])
    return shown + (f" and {len(names) - 8} more" if len(names) > 8 else "")


def check_folder(
    path: Path, manifest: dict[str, Any] | None, *, resume: bool, overwrite: bool, keep: Sequence[Path]
) -> None:
    """Refuse a folder the writer may not use as asked (each message names the file).

    Args:
        path: the run directory (it exists).
        manifest: its parsed manifest, if any.
        resume: continue the run in it.
        overwrite: replace the run in it.
        keep: files that must not be inside it (the recipe being run).

    Raises:
        CheckpointError: why the folder cannot be used, and what to do instead.
    """
    entries = sorted(e.name for e in path.iterdir() if e.name != LOCK_FILE)
    if resume:
        _check_resumable(path)
    elif overwrite:
        _check_overwritable(path, manifest, entries, keep)
    elif entries:
        raise CheckpointError(
            f"{path}: output folder exists and is not empty; choose another --out, pass --resume "
            "to continue the run in it, or --overwrite to replace it"
        )


def _check_resumable(path: Path) -> None:
    store = path / CHECKPOINTS
    if store.is_symlink():
        raise CheckpointError(
            f"{store}: is a symbolic link; seqframe writes checkpoints only inside the run "
            "directory; replace the link by the folder it points to, or point --out at a folder on "
            "the disk you want"
        )
    if not store.is_dir():
        raise CheckpointError(f"{path}: nothing to resume (no {CHECKPOINTS} folder); run without --resume to start")
    for folder in (path, store):
        if not os.access(folder, os.W_OK | os.X_OK):
            raise CheckpointError(
                f"{folder}: not writable (read-only, or not yours); resuming writes checkpoints and run files there"
            )
    linked = [name for name in (*RUN_FILES, MANIFEST) if (path / name).is_symlink()]
    if linked:
        raise CheckpointError(
            f"{path / linked[0]}: is a symbolic link; seqframe writes only regular files in its run "
            "directory and never through a link; remove the link (or put the file it points to in "
            "its place) and resume again"
        )


def _check_overwritable(path: Path, manifest: dict[str, Any] | None, entries: list[str], keep: Sequence[Path]) -> None:
    root = path.resolve()
    for file in keep:
        if root in Path(os.path.abspath(file)).resolve().parents:
            raise CheckpointError(
                f"{path}: holds the recipe being run ({file}); --overwrite would replace it; move "
                "the recipe out of this folder or choose another --out"
            )
    ours = set(manifest["files"] if manifest else ()) | {MANIFEST}
    foreign = []
    for name in entries:
        temp = TEMP_FILE.fullmatch(name)
        if (path / name).is_symlink() or not (name in ours or (temp is not None and temp.group(1) in ours)):
            foreign.append(name)
        elif name == CHECKPOINTS:
            foreign += [f"{CHECKPOINTS}/{n}" for n in CheckpointStore(path / name).foreign()]
    if foreign:
        why = "" if manifest else f" (there is no {MANIFEST} listing what seqframe wrote)"
        raise CheckpointError(
            f"{path}: --overwrite removes only what seqframe wrote, and this folder holds files it "
            f"did not write{why}: {_quote(foreign)}; move them away or choose another --out"
        )
