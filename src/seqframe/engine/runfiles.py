"""The run directory's layout: the files seqframe writes there, and getting a directory
ready for a fresh, overwritten or resumed run.

Everything seqframe writes stays inside the run directory under the fixed names of
:data:`RUN_FILES` and ``checkpoints/``. ``--out`` is used as given; overwriting removes
only those names (a foreign file survives) and never follows a symlink out.
Imports layer 0 only.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from seqframe.engine.checkpoint import Checkpoint, CheckpointStore
from seqframe.engine.rundir import write_atomic
from seqframe.errors import CheckpointError

__all__ = ["CHECKPOINTS", "RUN_FILES", "latest_checkpoint", "open_checkpoints", "prepare_run_dir", "truncate_metrics"]

RUN_FILES = ("recipe.yaml", "metrics.jsonl", "model.safetensors", "tokenizer.json", "target_tokenizer.json",
             "task.json", "run.json", "sample.txt", "loss.png", "run.log")
CHECKPOINTS = "checkpoints"


def prepare_run_dir(out_dir: str | os.PathLike[str], *, overwrite: bool = False, resume: bool = False) -> Path:
    """Check and create the run directory.

    A fresh run needs a missing or empty folder; ``overwrite`` first removes a previous
    run's files from it; ``resume`` needs the ``checkpoints`` folder of an earlier run.

    Raises:
        CheckpointError: the folder is in use (and neither flag was given), is not a
            folder, or has nothing to resume.
    """
    out = Path(out_dir)
    if resume and overwrite:
        raise CheckpointError(f"{out}: --resume continues the run in this folder and --overwrite replaces it; "
                              "pass only one")
    if out.exists() and not out.is_dir():
        raise CheckpointError(f"{out}: exists and is not a folder; choose another --out")
    if resume:
        if not (out / CHECKPOINTS).is_dir():
            raise CheckpointError(f"{out}: nothing to resume (no {CHECKPOINTS} folder); run without --resume to start")
        return out
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise CheckpointError(f"{out}: output folder exists and is not empty; choose another --out, pass --resume "
                                  "to continue the run in it, or --overwrite to replace it")
        _remove_run_files(out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _remove_run_files(out: Path) -> None:
    for name in RUN_FILES:
        path = out / name
        if path.is_symlink() or path.is_file():
            path.unlink()  # a symlink is removed, never its target
    folder = out / CHECKPOINTS
    if folder.is_symlink():
        folder.unlink()
    elif folder.is_dir():
        CheckpointStore(folder).clear()


def truncate_metrics(path: str | os.PathLike[str], step: int) -> list[dict[str, Any]]:
    """Keep only the ``metrics.jsonl`` rows up to ``step`` (a resumed run rewrites what came
    after its checkpoint; a torn last line from a killed run is dropped); returns the rows."""
    path = Path(path)
    if not path.is_file():
        return []
    kept, lines = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and isinstance(row.get("step"), int) and row["step"] <= step:
            kept.append(row)
            lines.append(line + "\n")
    write_atomic(path, "".join(lines))
    return kept


def open_checkpoints(out_dir: str | os.PathLike[str], keep_last: int | None,
                     meta: Mapping[str, Any]) -> CheckpointStore:
    """The run's checkpoint store, with leftovers of an unfinished save removed (and reported)."""
    store = CheckpointStore(Path(out_dir) / CHECKPOINTS, keep_last=keep_last, meta=meta)
    for stale in store.prepare():
        warnings.warn(f"removed {stale}: left by a checkpoint save that did not finish", stacklevel=3)
    return store


def latest_checkpoint(out_dir: str | os.PathLike[str]) -> Checkpoint:
    """The newest complete checkpoint of a run (see :meth:`CheckpointStore.load_latest`)."""
    store = CheckpointStore(Path(out_dir) / CHECKPOINTS)
    store.prepare()
    return store.load_latest()
