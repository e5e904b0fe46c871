"""The seqframe exception hierarchy. Imports nothing from seqframe.

Every error a user can cause derives from :class:`SeqframeError`; the CLI prints those
without a traceback and exits 2. Programming errors inside modules stay ``ValueError`` /
``TypeError`` / ``RuntimeError`` as in torch.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "AmbiguousComponentError",
    "CheckpointError",
    "DataError",
    "DeviceError",
    "DistributedError",
    "ExportError",
    "NonFiniteError",
    "PluginError",
    "PluginLoadError",
    "RecipeError",
    "RecipeIssue",
    "SeqframeError",
    "TrainingInterrupted",
    "UnknownComponentError",
    "suggest",
]


def suggest(name: str, choices: Iterable[str], cutoff: float = 0.6) -> str | None:
    """Return the closest match to ``name`` among ``choices``, or None."""
    matches = difflib.get_close_matches(name, list(choices), n=1, cutoff=cutoff)
    return matches[0] if matches else None


def unknown_key(what: str, key: str, owner: str, accepted: Sequence[str], cutoff: float = 0.7) -> str:
    """``unknown <what> 'key' for <owner>; did you mean 'x'? (accepted: a, b)``: the one
    wording of an option, parameter or key that its owner does not take."""
    close = suggest(key, accepted, cutoff=cutoff)
    hint = f"; did you mean {close!r}?" if close else ""
    return f"unknown {what} {key!r} for {owner}{hint} (accepted: {', '.join(accepted) or 'none'})"


class SeqframeError(Exception):
    """Base class of every error caused by user input (recipes, data, plugins, files).

    Attributes:
        exit_code: the command line's exit status for this error (2).
    """

    exit_code: int = 2


@dataclass(frozen=True)
class RecipeIssue:
    """One problem found in a recipe.

    Attributes:
        path: dotted path of the offending key, e.g. ``model.topology.hidden_size``.
        message: what is wrong, expected vs got, and a fix when one is known.
        location: ``file:line`` (or ``file:line:col``) where the key is written, if known.
        suggestion: the close match the message proposes (``'hidden_size'`` for
            ``hiden_size``), if any.
    """

    path: str
    message: str
    location: str | None = None
    suggestion: str | None = None

    def to_dict(self) -> dict[str, object]:
        """The issue as plain data (``seqframe validate --json``): ``path``, ``message``,
        ``location``, its ``file``, ``line`` and ``column`` (or the ``override`` that set the
        key), and ``suggestion``."""
        where: dict[str, object] = {"file": None, "line": None, "column": None, "override": None}
        location = self.location or ""
        if location.startswith("override "):
            where["override"] = location[len("override ") :].strip("'\"")
        elif location:
            parts = location.split(":")
            numbers: list[int] = []
            while len(parts) > 1 and parts[-1].isdigit() and len(numbers) < 2:
                numbers.insert(0, int(parts.pop()))
            where["file"] = ":".join(parts)
            where["line"], where["column"] = (numbers + [None, None])[:2]
        return {
            "path": self.path,
            "message": self.message,
            "location": self.location,
            **where,
            "suggestion": self.suggestion,
        }

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        path = f"{self.path}: " if self.path else ""
        return f"{where}{path}{self.message}"


class RecipeError(SeqframeError):
    """A recipe is invalid. Holds every problem found, not only the first."""

    def __init__(self, issues: Sequence[RecipeIssue] | str):
        if isinstance(issues, str):
            issues = [RecipeIssue("", issues)]
        self.issues = list(issues)
        if len(self.issues) == 1:
            text = str(self.issues[0])
        else:
            text = f"{len(self.issues)} problems in recipe:\n" + "\n".join(f"  - {issue}" for issue in self.issues)
        super().__init__(text)


class DataError(SeqframeError, ValueError):
    """Input data (files, batches, lengths, tensor shapes) is unusable.

    Also a ``ValueError``, so code written against torch conventions catches it.
    """


class DeviceError(SeqframeError, ValueError):
    """A device (``train.device``, ``--device``) is not one torch knows or this machine has.

    Also a ``ValueError``, as torch raises for a bad device string.

    Attributes:
        where: the setting that named the device (``train.device``).
        problem: what is wrong, expected vs got.
    """

    def __init__(self, where: str, problem: str) -> None:
        self.where, self.problem = where, problem
        super().__init__(f"{where}: {problem}")


class CheckpointError(SeqframeError):
    """A checkpoint or run directory cannot be written or read."""


class ExportError(SeqframeError):
    """A model cannot be exported, or an exported model cannot be loaded (a missing, stale
    or damaged export; a task or cell whose computation has no exported form)."""


class PluginError(SeqframeError):
    """A plugin misbehaved or a component lookup failed."""


class PluginLoadError(PluginError):
    """A plugin could not be imported or registered."""


class UnknownComponentError(PluginError):
    """No registered component has the requested name.

    Attributes:
        suggestion: the closest registered name, if one is close.
    """

    def __init__(self, message: str, suggestion: str | None = None) -> None:
        super().__init__(message)
        self.suggestion = suggestion


class AmbiguousComponentError(PluginError):
    """Two or more plugins provide the requested name; a qualified name picks one."""


class DistributedError(SeqframeError):
    """A collective operation failed: another rank crashed or stopped, or its machine was
    lost. Exit status 1 (not a mistake in the input of this process)."""

    exit_code = 1


class NonFiniteError(SeqframeError):
    """Training met a NaN or infinite loss or gradient; the message names the step."""


class TrainingInterrupted(SeqframeError):
    """Training stopped on SIGINT/SIGTERM at a step boundary, after saving a checkpoint.

    Attributes:
        signal_name: ``SIGINT`` or ``SIGTERM``.
        step: the last completed step.
        checkpoint: the checkpoint folder written (None without a run directory).
        exit_code: ``128 + signal number``: 130 for SIGINT, 143 for SIGTERM.
    """

    def __init__(self, signal_name: str, signum: int, step: int, checkpoint: str | None) -> None:
        self.signal_name, self.step, self.checkpoint = signal_name, step, checkpoint
        self.exit_code = 128 + signum
        saved = f"checkpoint saved to {checkpoint}" if checkpoint else "no run directory, so no checkpoint was saved"
        super().__init__(f"{signal_name} received: training stopped after step {step}; {saved}")
