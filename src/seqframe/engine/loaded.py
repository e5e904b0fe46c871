"""A checkpoint read back from disk (:class:`Checkpoint`) and the errors and JSON checks of
reading one; :mod:`~seqframe.engine.checkpoint` writes, lists and loads them. Imports
layer 0 only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from seqframe.engine.weights import check_weights, load_weights
from seqframe.errors import CheckpointError

__all__ = ["Checkpoint", "UnusableCheckpoint", "json_value"]


class UnusableCheckpoint(CheckpointError):
    """Incomplete or corrupt: resuming may fall back to an older checkpoint."""


@dataclass
class Checkpoint:
    """A verified checkpoint read back from disk.

    Attributes:
        path: its folder.
        step: the last completed step.
        meta: ``meta.json`` (format, recipe text, components, versions).
        state: ``state.pt`` (optimizer, schedule, data, carry, RNG, counters).
        tokenizer: the tokenizer state, if saved.
        extra: the pipeline's other JSON-able state (target tokenizer, task), see
            ``Pipeline.extra_state``.
        weights: ``model.safetensors``'s bytes, as verified against the manifest (so
            retention may delete the folder meanwhile: what was verified is what loads).
    """

    path: Path
    step: int
    meta: dict[str, Any]
    state: dict[str, Any]
    tokenizer: dict[str, Any] | None
    extra: dict[str, Any] = field(default_factory=dict)
    weights: bytes = field(default=b"", repr=False)

    def check_weights(self, model: nn.Module) -> None:
        """Refuse weights that do not fit ``model`` (reads nothing from disk).

        Raises:
            CheckpointError: missing, unexpected or differently shaped tensors, listed.
        """
        check_weights(model, self.weights, self.path / "model.safetensors")

    def load_weights(self, model: nn.Module) -> None:
        """Load the weights strictly.

        Raises:
            CheckpointError: missing, unexpected or differently shaped tensors, listed.
        """
        load_weights(model, self.weights, self.path / "model.safetensors")


def json_value(path: Path, data: bytes, kind: type | tuple[type, ...]) -> Any:
    """A checkpoint's JSON file (its verified bytes), of the expected kind."""
    try:
        value = json.loads(data.decode("utf-8"))
    except ValueError as exc:
        raise UnusableCheckpoint(f"{path}: unreadable ({exc})") from exc
    if not isinstance(value, kind):
        raise UnusableCheckpoint(f"{path}: expected a JSON object, got {type(value).__name__}")
    return value
