"""Whether a task's methods still take what the engine passes them
(:func:`task_signature_problems`): a task written against another version of the
:class:`~seqframe.interfaces.Task` contract is refused with one line per method, naming
the method, the parameters expected and those found, before anything calls it.

Layer 0: imports only the stdlib and the other contracts.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

from seqframe.interfaces.task import Task

__all__ = ["CHECKED_METHODS", "task_signature_problems"]

CHECKED_METHODS = ("build_model", "encode", "train_batches", "evaluate", "predict")
"""The methods whose overrides are compared with the contract's signatures."""

_OLD = {"tokenizer", "target_tokenizer"}
"""Parameters of the contract before the tokenizers were passed as one ``Tokenizers``."""
_OLD_PARTS = {"tokenizer", "target_tokenizer", "topology", "head", "embedding_dim"}
"""Keyword arguments of ``build_model`` before they were passed as one ``ModelParts``."""
_HINTS = {
    "build_model": "take one seqframe.interfaces.ModelParts (.tokenizers, .topology, .head, .embedding_dim) "
    "instead of tokenizer, topology, head and embedding_dim",
    "evaluate": "take one seqframe.interfaces.EvalSettings (.tokenizers, .batch_size, .device, .num_chars) "
    "instead of batch_size, device, num_chars, tokenizer and target_tokenizer",
}
"""How to fix an override written for the old contract, where it is not the tokenizers alone."""
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _shape(method: str, signature: inspect.Signature) -> str:
    """``method(a, b, *, c=...)``: the parameters without annotations or default values."""
    parts, star = [], False
    for p in signature.parameters.values():
        if p.kind is p.KEYWORD_ONLY and not star:
            parts.append("*")
        star = star or p.kind in (p.KEYWORD_ONLY, p.VAR_POSITIONAL)
        prefix = "*" if p.kind is p.VAR_POSITIONAL else "**" if p.kind is p.VAR_KEYWORD else ""
        parts.append(prefix + p.name + ("=..." if p.default is not p.empty else ""))
    return f"{method}({', '.join(parts)})"


def _old(method: str, found: Sequence[inspect.Parameter]) -> bool:
    """Whether ``found`` keeps parameters of the contract before the bundles."""
    return bool((_OLD_PARTS if method == "build_model" else _OLD) & {p.name for p in found})


def _fits(contract: Sequence[inspect.Parameter], found: Sequence[inspect.Parameter], own_keywords: bool) -> bool:
    """Whether a method with parameters ``found`` accepts every call the contract's
    parameters allow (positional ones by position, keyword-only ones by name) and needs
    nothing more (``own_keywords``: extra keyword-only ones may be required)."""
    varargs = any(p.kind is p.VAR_POSITIONAL for p in found)
    varkw = any(p.kind is p.VAR_KEYWORD for p in found)
    wanted = [p for p in contract if p.kind in _POSITIONAL]
    positional = [p for p in found if p.kind in _POSITIONAL]
    if len(positional) < len(wanted) and not varargs:
        return False
    if any(p.default is p.empty for p in positional[len(wanted) :]):
        return False
    named = {p.name for p in found if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
    keywords = {p.name for p in contract if p.kind is p.KEYWORD_ONLY}
    if not varkw and not keywords <= named:
        return False
    required = {p.name for p in found if p.kind is p.KEYWORD_ONLY and p.default is p.empty}
    return own_keywords or required <= keywords


def task_signature_problems(factory: type[Task], where: str = "") -> list[str]:
    """One line for each method of :data:`CHECKED_METHODS` that ``factory`` overrides with
    parameters the engine cannot call as the contract says: positional parameters may be
    renamed, parameters may be added with defaults (``build_model`` may add required
    keyword ones: they are the task's ``model`` keys), ``*args``/``**kwargs`` accept
    anything. Empty when every override fits. Each line starts with ``where`` (default:
    the task's name and class).

    Example of a line: ``task 'mine' (MyTask): encode(tokenizer, inputs, *,
    target_tokenizer=...) does not fit the Task contract; expected encode(tokenizers,
    inputs); take one seqframe.interfaces.Tokenizers (.source, .target) instead of
    tokenizer and target_tokenizer``.
    """
    problems, where = [], where or f"task {getattr(factory, 'name', '?')!r} ({factory.__qualname__})"
    for name in CHECKED_METHODS:
        method = getattr(factory, name, None)
        if method is None or method is getattr(Task, name):
            continue
        try:
            found = inspect.signature(method)
        except (TypeError, ValueError):  # not introspectable (a builtin): nothing to compare
            continue
        expected = inspect.signature(getattr(Task, name))
        contract = [p for p in expected.parameters.values() if p.name != "self"]
        params = [p for p in found.parameters.values() if p.name != "self"]
        old = _old(name, params)
        if not old and _fits(contract, params, own_keywords=name == "build_model"):
            continue
        hint = (
            _HINTS.get(
                name,
                "take one seqframe.interfaces.Tokenizers (.source, .target) instead of tokenizer and target_tokenizer",
            )
            if old
            else "match the parameters of seqframe.interfaces.Task"
        )
        problems.append(
            f"{where}: {_shape(name, found.replace(parameters=params))} does not fit the Task contract; "
            f"expected {_shape(name, expected.replace(parameters=contract))}; {hint}"
        )
    return problems
