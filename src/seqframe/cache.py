"""A small content-addressed cache: trained tokenizer states and tokenized data, keyed by a
fingerprint of everything they were computed from. Layer 0: imports only the stdlib, torch
and (lazily) safetensors, nothing else from seqframe at run time.

Entries live under ``$SEQFRAME_CACHE_DIR`` (default ``$XDG_CACHE_HOME/seqframe``, else
``~/.cache/seqframe``), as ``<namespace>/<key[:2]>/<key>.json`` or ``.safetensors``. Every
write goes through :func:`seqframe.files.write_file` (a temporary file renamed over the
entry), so a reader never sees half a file. What is read back is verified: a tensor entry
carries the sha256 of its tensors, and tokenized data whose ids fall outside the
tokenizer's vocabulary is rejected. The cache is an optimisation only: an entry that cannot
be read, fails verification or cannot be written is reported with a warning and
recomputed, never a crash. Delete the folder to empty it; nothing is evicted automatically.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from seqframe.files import write_file

if TYPE_CHECKING:
    from seqframe.interfaces import Task, Tokenizers

__all__ = [
    "cache_dir",
    "cached_encode",
    "cached_fit",
    "fingerprint",
    "load_json",
    "load_tensors",
    "save_json",
    "save_tensors",
]

CACHE_VERSION = "2"
"""Part of every key written by :func:`cached_fit` and :func:`cached_encode`; bump it when
the stored format or its meaning changes."""


def cache_dir() -> Path:
    """The cache root: ``$SEQFRAME_CACHE_DIR``, else ``$XDG_CACHE_HOME/seqframe``, else
    ``~/.cache/seqframe``. Read at each call, so tests can point it elsewhere."""
    explicit = os.environ.get("SEQFRAME_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "seqframe"


def _feed(digest: Any, part: Any) -> None:
    """Hash one part with a type tag and a length, so different inputs never concatenate alike."""
    if isinstance(part, str):
        data = part.encode("utf-8", "surrogatepass")
        digest.update(b"s%d:" % len(data))
        digest.update(data)
    elif isinstance(part, (bytes, bytearray, memoryview)):
        digest.update(b"b%d:" % len(part))
        digest.update(part)
    elif isinstance(part, (list, tuple)):
        digest.update(b"l%d:" % len(part))
        for item in part:
            _feed(digest, item)
    else:
        try:
            data = json.dumps(part, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise TypeError(f"fingerprint: cannot hash a {type(part).__name__} ({exc})") from exc
        digest.update(b"j%d:" % len(data))
        digest.update(data)


def fingerprint(*parts: Any) -> str:
    """SHA-256 hex digest of ``parts``: texts, bytes, and JSON-able values (nested freely).

    Lists of texts hash element by element with their lengths, so ``["ab", "c"]`` and
    ``["a", "bc"]`` differ; mappings hash as canonical JSON (sorted keys).

    Args:
        *parts: strings, bytes, lists/tuples of parts, or JSON-able values.

    Returns:
        64 hexadecimal characters.

    Raises:
        TypeError: a part is not JSON-able.

    Example:
        >>> fingerprint(["some text"], {"kind": "char"}) == fingerprint(["some text"], {"kind": "char"})
        True
    """
    digest = hashlib.sha256()
    _feed(digest, list(parts))
    return digest.hexdigest()


def _entry(namespace: str, key: str, suffix: str) -> Path:
    if not namespace.isidentifier() or not key.isalnum():
        raise ValueError(f"cache: namespace must be an identifier and key alphanumeric, got {namespace!r}, {key!r}")
    return cache_dir() / namespace / key[:2] / f"{key}{suffix}"


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` over ``path`` atomically, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file(path, data)


def _tensor_digest(tensors: Mapping[str, Tensor]) -> str:
    """SHA-256 over names, dtypes, shapes and bytes of ``tensors`` (in name order)."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        _feed(digest, [name, str(tensor.dtype), list(tensor.shape)])
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def _warn_corrupt(path: Path, exc: BaseException) -> None:
    warnings.warn(
        f"seqframe cache: ignoring unreadable entry {path} ({type(exc).__name__}: {exc}); it will be recomputed",
        stacklevel=3,
    )


def _warn_unwritable(path: Path, exc: BaseException) -> None:
    warnings.warn(
        f"seqframe cache: could not write {path} ({type(exc).__name__}: {exc}); continuing without "
        "caching (set SEQFRAME_CACHE_DIR to a writable folder)",
        stacklevel=3,
    )


def load_json(namespace: str, key: str) -> Any | None:
    """The value stored under ``key`` by :func:`save_json`, or None when absent or unreadable.

    Args:
        namespace: a folder of the cache, e.g. ``"tokenizers"``.
        key: a :func:`fingerprint`.
    """
    path = _entry(namespace, key, ".json")
    try:
        entry = json.loads(path.read_bytes().decode("utf-8"))
        if not isinstance(entry, dict) or entry.get("key") != key or "value" not in entry:
            raise ValueError("the entry does not hold this key")
        return entry["value"]
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        _warn_corrupt(path, exc)
        return None


def save_json(namespace: str, key: str, value: Any) -> None:
    """Store a JSON-able ``value`` under ``key`` (atomically; a failed write only warns)."""
    path = _entry(namespace, key, ".json")
    data = json.dumps({"key": key, "value": value}, ensure_ascii=False).encode("utf-8")
    try:
        _write_atomic(path, data)
    except OSError as exc:
        _warn_unwritable(path, exc)


def load_tensors(namespace: str, key: str) -> tuple[dict[str, Tensor], dict[str, str]] | None:
    """The tensors and metadata stored under ``key`` by :func:`save_tensors`, or None when
    absent or unreadable. Loading runs no code (safetensors)."""
    from safetensors import safe_open

    path = _entry(namespace, key, ".safetensors")
    if not path.exists():
        return None
    try:
        with safe_open(str(path), framework="pt") as file:
            metadata = dict(file.metadata() or {})
            if metadata.get("seqframe_key") != key:
                raise ValueError("the entry does not hold this key")
            tensors = {name: file.get_tensor(name) for name in file.keys()}  # noqa: SIM118 (not a dict)
        if metadata.get("seqframe_sha256") != _tensor_digest(tensors):
            raise ValueError("its tensors differ from the sha256 stored with them (changed or damaged)")
    except Exception as exc:  # safetensors raises its own error types for truncated or garbled files
        _warn_corrupt(path, exc)
        return None
    metadata.pop("seqframe_key")
    metadata.pop("seqframe_sha256")
    return tensors, metadata


def save_tensors(
    namespace: str, key: str, tensors: Mapping[str, Tensor], metadata: Mapping[str, str] | None = None
) -> None:
    """Store ``tensors`` (and string ``metadata``) under ``key`` as safetensors, atomically;
    a failed write only warns."""
    from safetensors.torch import save

    path = _entry(namespace, key, ".safetensors")
    try:
        plain = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
        data = save(plain, metadata={**(metadata or {}), "seqframe_key": key, "seqframe_sha256": _tensor_digest(plain)})
        _write_atomic(path, data)
    except Exception as exc:  # an unwritable folder, or tensors safetensors refuses (shared storage)
        _warn_unwritable(path, exc)


def _code_digest(obj: object) -> str:
    """Hash of the source file defining ``type(obj)``, so edited code never reuses stale entries."""
    module = sys.modules.get(type(obj).__module__)
    filename = getattr(module, "__file__", None)
    try:
        return hashlib.sha256(Path(filename).read_bytes()).hexdigest() if filename else ""
    except OSError:
        return ""


def _identity(obj: object) -> list[str]:
    cls = type(obj)
    return [f"{cls.__module__}.{cls.__qualname__}", _code_digest(obj)]


def _key_or_none(what: str, make_key: Callable[[], str]) -> str | None:
    try:
        return make_key()
    except TypeError as exc:
        warnings.warn(f"seqframe cache: not caching {what} ({exc})", stacklevel=3)
        return None


def cached_fit(tokenizer: Any, texts: Sequence[str], options: Mapping[str, Any]) -> None:
    """Fit ``tokenizer`` on ``texts``, reusing a state trained before on the same data.

    The key covers the texts, the tokenizer's class and source, and ``options``: everything
    that configured it (for a recipe, its name, provider and options), so a change in the
    data or the settings retrains. (A tokenizer that arrives fitted, a
    :class:`~seqframe.interfaces.PrefittedTokenizer`, is fitted by its caller without the cache.)

    Args:
        tokenizer: the tokenizer to fit (``fit``, ``state_dict``, ``load_state_dict``).
        texts: the training texts.
        options: JSON-able description of how the tokenizer was configured.
    """
    key = _key_or_none("the tokenizer", lambda: fingerprint("fit", CACHE_VERSION, _identity(tokenizer), options, texts))
    if key is not None and (state := load_json("tokenizers", key)) is not None:
        try:
            tokenizer.load_state_dict(state)
            return
        except Exception as exc:  # a state that no longer loads is as good as a missing one
            _warn_corrupt(_entry("tokenizers", key, ".json"), exc)
    tokenizer.fit(texts)
    if key is not None:
        save_json("tokenizers", key, tokenizer.state_dict())


def cached_encode(task: Task, tokenizers: Tokenizers, inputs: Sequence[Any]) -> Any:
    """``task.encode(tokenizers, inputs)``, read from the cache when the same inputs were
    encoded before by the same tokenizer states and task settings.

    The key covers the inputs, each tokenizer's class, source and ``state_dict()``, and the
    task's class, source and :meth:`~seqframe.interfaces.Task.encode_settings`. Results that
    are a tensor or a mapping of tensors are cached; anything else is returned uncached.

    Args:
        task: the task that encodes.
        tokenizers: the fitted tokenizers (the target one counts when ``separate``).
        inputs: the texts or examples to encode (what ``task.inputs`` gave).

    Returns:
        What ``task.encode`` returns (a CPU tensor for the built-in language model task).
    """
    tokenizer, target = tokenizers.source, tokenizers.target
    targets = [_identity(target), target.state_dict()] if tokenizers.separate else []
    key = _key_or_none(
        "the encoded data",
        lambda: fingerprint(
            "encode",
            CACHE_VERSION,
            _identity(task),
            dict(task.encode_settings()),
            _identity(tokenizer),
            tokenizer.state_dict(),
            *targets,
            inputs,
        ),
    )
    if key is not None and (hit := load_tensors("encoded", key)) is not None:
        tensors, metadata = hit
        if metadata.get("layout") == "tensor" and set(tensors) == {"encoded"}:
            if _ids_fit(tensors["encoded"], tokenizer, _entry("encoded", key, ".safetensors")):
                return tensors["encoded"]
        elif metadata.get("layout") == "mapping":
            return tensors
    encoded = task.encode(tokenizers, inputs)
    if key is not None and isinstance(encoded, Tensor):
        save_tensors("encoded", key, {"encoded": encoded}, {"layout": "tensor"})
    elif key is not None and isinstance(encoded, Mapping) and _all_tensors(encoded.values()):
        save_tensors("encoded", key, encoded, {"layout": "mapping"})
    return encoded


def _ids_fit(ids: Tensor, tokenizer: Any, path: Path) -> bool:
    """Whether token ids lie in ``[0, vocab_size)`` (else warn: the entry is rebuilt)."""
    size = int(tokenizer.vocab_size)
    if ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
        bad = f"they are {ids.dtype}, not integers"
    elif ids.numel() == 0:
        return True
    elif int(ids.min()) < 0 or int(ids.max()) >= size:
        bad = f"ids range over [{int(ids.min())}, {int(ids.max())}] and the vocabulary has {size}"
    else:
        return True
    _warn_corrupt(path, ValueError(f"token ids outside the tokenizer's vocabulary: {bad}"))
    return False


def _all_tensors(values: Iterable[Any]) -> bool:
    return all(isinstance(v, torch.Tensor) for v in values)
