"""Model weights as safetensors: saved atomically, checked against a model before anything
is loaded, loaded strictly, from a file or from bytes already read and verified (a reader
of a checkpoint that the run's writer may prune meanwhile). Loading runs no code. Imports
layer 0 only.
"""

from __future__ import annotations

import json
import os
import struct

from safetensors import SafetensorError
from safetensors.torch import load, load_model, save_model
from torch import nn

from seqframe.errors import CheckpointError
from seqframe.files import write_file

__all__ = ["check_weights", "load_weights", "save_weights", "weight_shapes"]


def save_weights(model: nn.Module, path: str | os.PathLike[str]) -> str:
    """Save ``model``'s weights as safetensors at ``path`` (atomically, tied weights
    handled, mode from the umask); returns the file's SHA-256.

    Raises:
        OSError: the file could not be written (``filename`` is ``path``).
    """
    return write_file(path, lambda temp: save_model(model, temp))


Source = str | os.PathLike[str] | bytes
"""Safetensors data: a file, or its bytes."""


def _where(source: Source, where: str | os.PathLike[str] | None) -> str:
    return str(where) if where is not None else "the weights" if isinstance(source, bytes) else str(source)


def weight_shapes(source: Source, where: str | os.PathLike[str] | None = None) -> dict[str, tuple[int, ...]]:
    """The shape of every tensor in safetensors data, read from the header only.

    Args:
        source: a file, or its bytes.
        where: the name errors give the data (default: the file).

    Raises:
        CheckpointError: missing, or not safetensors.
    """
    where = _where(source, where)
    try:
        if isinstance(source, bytes):
            head = source[:8]
            size = struct.unpack("<Q", head)[0] if len(head) == 8 else -1
            header = source[8 : 8 + size] if 0 < size <= len(source) - 8 else b""
        else:
            with open(source, "rb") as handle:
                head = handle.read(8)
                size = struct.unpack("<Q", head)[0] if len(head) == 8 else -1
                header = handle.read(size) if 0 < size < (1 << 27) else b""
        listing = json.loads(header.decode("utf-8"))
        return {key: tuple(int(n) for n in info["shape"]) for key, info in listing.items() if key != "__metadata__"}
    except FileNotFoundError:
        raise CheckpointError(f"{where}: no weights file here") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"{where}: not a readable safetensors file ({type(exc).__name__}: {exc})") from exc


def check_weights(model: nn.Module, source: Source, where: str | os.PathLike[str] | None = None) -> None:
    """Refuse weights that do not fit ``model``: each differently shaped, missing and
    unexpected tensor is listed. Reads only the header; changes nothing.

    Args:
        model: the model the weights are for.
        source: a safetensors file, or its bytes.
        where: the name errors give the data (default: the file).

    Raises:
        CheckpointError: they do not fit, or the data is unreadable.
    """
    path = _where(source, where)
    shapes = weight_shapes(source, path)
    expected = {key: tuple(tensor.shape) for key, tensor in model.state_dict().items()}
    wrong = [
        f"{key}: file {list(shapes[key])} vs model {list(shape)}"
        for key, shape in expected.items()
        if key in shapes and shapes[key] != shape
    ]
    if wrong:
        raise CheckpointError(
            f"{path}: weights do not fit this model (was the recipe's model or tokenizer "
            f"changed?); shape mismatches: {'; '.join(wrong)}"
        )
    missing, unexpected = sorted(set(expected) - set(shapes)), sorted(set(shapes) - set(expected))
    tied = {key for key in missing if _tied(model, key)}  # safetensors stores a tied tensor once
    missing = [key for key in missing if key not in tied]
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: weights do not fit this model; missing keys: {missing or 'none'}; "
            f"unexpected keys: {unexpected or 'none'}"
        )


def _tied(model: nn.Module, key: str) -> bool:
    state = model.state_dict()
    pointer = state[key].data_ptr()
    return any(other != key and tensor.data_ptr() == pointer for other, tensor in state.items())


def load_weights(model: nn.Module, source: Source, where: str | os.PathLike[str] | None = None) -> None:
    """Load safetensors weights (a file or its bytes) into ``model`` strictly (see
    :func:`check_weights`); nothing is loaded on error.

    Raises:
        CheckpointError: the weights do not fit, or the data is unreadable.
    """
    where = _where(source, where)
    check_weights(model, source, where)
    try:
        if isinstance(source, bytes):
            missing, unexpected = model.load_state_dict(load(source), strict=False)
            missing = [key for key in missing if not _tied(model, key)]
        else:
            missing, unexpected = load_model(model, str(source), strict=False, device="cpu")
    except SafetensorError as exc:
        raise CheckpointError(f"{where}: not a readable safetensors file ({exc})") from exc
    except RuntimeError as exc:
        raise CheckpointError(f"{where}: weights do not fit this model: {exc}") from exc
    if missing or unexpected:
        raise CheckpointError(
            f"{where}: weights do not fit this model; missing keys: {sorted(missing) or 'none'}; "
            f"unexpected keys: {sorted(unexpected) or 'none'}"
        )
