"""Checks of the numeric options of the built-in tasks' constructors and ``predict``,
written once so every task words the error alike. Imports nothing from seqframe."""

from __future__ import annotations

from typing import Any

__all__ = ["check_number"]


def check_number(
    where: str, name: str, value: Any, minimum: float, kind: type | tuple[type, ...] = int, below: float | None = None
) -> None:
    """Raise ValueError unless ``value`` is a ``kind`` (never a bool) in ``[minimum, below)``.

    Args:
        where: who checks, the start of the message (``"translation"``).
        name: the option's name.
        value: what was given.
        minimum: the smallest value allowed.
        kind: ``int``, or ``(int, float)`` for any number.
        below: the bound the value must stay under, if any.
    """
    fits = not isinstance(value, bool) and isinstance(value, kind) and float(value) >= minimum
    if not fits or (below is not None and float(value) >= below):
        if below is None:
            bound = f">= {minimum}"
        else:  # integers: the largest allowed, not the first refused
            bound = f"in [{minimum}, {int(below) - 1}]" if kind is int else f"in [{minimum}, {below})"
        what = "an int" if kind is int else "a number"
        raise ValueError(f"{where}: {name} must be {what} {bound}, got {value!r}")
