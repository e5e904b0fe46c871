"""Errors raised inside a cell, attributed to it: :func:`cell_errors` re-raises them as a
:class:`~seqframe.interfaces.CellError` carrying the cell's class and the line of the
cell's code that raised, so a caller that knows plugins can name the one at fault.
Imports only layer 0 and torch.
"""

from __future__ import annotations

import functools
import os
import sysconfig
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import torch

from seqframe.errors import SeqframeError
from seqframe.interfaces import CellError

__all__ = ["cell_errors", "user_frame"]

_TORCH = str(Path(torch.__file__).resolve().parent)
_RUNTIME = str(Path(__file__).resolve().parent)
_STDLIB = str(Path(sysconfig.get_paths()["stdlib"]).resolve())
_SITE_DIRS = ("site-packages", "dist-packages")
_NOT_THE_CELLS = (MemoryError, torch.OutOfMemoryError, SeqframeError, CellError)


def _is_library(path: str) -> bool:
    """torch, this runtime, or Python's standard library (not the packages installed in it)."""
    if path.startswith((_TORCH, _RUNTIME)):
        return True
    return path.startswith(_STDLIB) and not any(f"{os.sep}{d}{os.sep}" in path for d in _SITE_DIRS)


def user_frame(frames: list[traceback.FrameSummary]) -> str:
    """``file:line`` of the innermost frame outside torch, this runtime and the standard
    library (the cell's own code, or what it called), or ``""``."""
    for frame in reversed(frames):
        path = str(Path(frame.filename).resolve()) if frame.filename and not frame.filename.startswith("<") else ""
        if path and not _is_library(path):
            return f"{frame.filename}:{frame.lineno}"
    return ""


def where_raised(tb: TracebackType | None) -> str:
    """``file:line`` of the cell's code in a traceback (see :func:`user_frame`)."""
    return user_frame(traceback.extract_tb(tb))


def _owner(cell: object) -> Any:
    """The class (or factory function) to blame for ``cell``: a module's class, a partial's function."""
    while isinstance(cell, functools.partial):
        cell = cell.func
    return cell if isinstance(cell, type) or (callable(cell) and not isinstance(cell, torch.nn.Module)) else type(cell)


@contextmanager
def cell_errors(cell: object, doing: str, passthrough: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """Re-raise an exception from ``cell`` as a :class:`CellError` (out-of-memory errors,
    seqframe's own errors and already attributed ones pass through unchanged).

    Args:
        cell: the cell being run or built (or its class).
        doing: what the runtime was doing, e.g. ``"forward"``, ``"initial_state"``.
        passthrough: more exception types to leave alone (a constructor's ValueError and
            TypeError reject options, which the caller reports as such).
    """
    try:
        yield
    except _NOT_THE_CELLS + passthrough:
        raise
    except Exception as exc:
        cls = _owner(cell)
        where = where_raised(exc.__traceback__)
        at = f" at {where}" if where else ""
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise CellError(
            cls, f"cell {getattr(cls, '__qualname__', cls)} raised {type(exc).__name__} in {doing}{at}: {first}", where
        ) from exc
