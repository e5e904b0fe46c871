"""Atomic, code-free run-directory files: weights in safetensors, everything else JSON/YAML.

A file is written to a unique temporary name in its own folder, flushed and fsynced, then
moved over the target with ``os.replace``: a crash mid-write never leaves a truncated file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from safetensors import SafetensorError, safe_open
from safetensors.torch import load_model, save_model
from torch import nn

from seqframe.errors import CheckpointError

__all__ = ["load_weights", "read_json", "save_weights", "write_atomic"]


def _replace_atomically(path: Path, write: Callable[[str], None], what: str) -> None:
    """Call ``write(temp_path)`` on a temp file beside ``path``, fsync it, give it the
    umask's mode (``mkstemp`` makes 0600) and move it over ``path``; on any error remove
    the temp file and leave ``path`` untouched."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise CheckpointError(f"{path}: could not write {what} ({exc.strerror or exc}); nothing was replaced") from exc
        raise


def write_atomic(path: str | os.PathLike[str], data: bytes | str) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same folder + ``os.replace``)."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    _replace_atomically(Path(path), lambda tmp: Path(tmp).write_bytes(payload), "the file")


def save_weights(model: nn.Module, path: str | os.PathLike[str]) -> None:
    """Save ``model``'s weights as safetensors, atomically (tied weights handled)."""
    _replace_atomically(Path(path), lambda tmp: save_model(model, tmp), "weights")


def load_weights(model: nn.Module, path: str | os.PathLike[str]) -> None:
    """Load safetensors weights into ``model`` strictly; errors name the file and list the
    differently shaped, missing and unexpected tensors. Nothing is loaded on error."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no weights file here")
    try:
        with safe_open(str(path), framework="pt") as handle:
            shapes = {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from exc
    expected = {key: tuple(tensor.shape) for key, tensor in model.state_dict().items()}
    wrong = [f"{key}: file {list(shapes[key])} vs model {list(shape)}"
             for key, shape in expected.items() if key in shapes and shapes[key] != shape]
    if wrong:
        raise CheckpointError(f"{path}: weights do not fit this model (was the recipe's model or tokenizer "
                              f"changed?); shape mismatches: {'; '.join(wrong)}")
    try:
        missing, unexpected = load_model(model, str(path), strict=False, device="cpu")
    except SafetensorError as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from exc
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit this model: {exc}") from exc
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: weights do not fit this model; missing keys: {sorted(missing) or 'none'}; "
            f"unexpected keys: {sorted(unexpected) or 'none'}"
        )


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file, with an error naming it when missing or corrupt."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CheckpointError(f"{path}: missing; is this a seqframe run directory?") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: corrupt JSON ({exc})") from exc
