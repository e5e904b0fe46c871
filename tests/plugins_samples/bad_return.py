"""A sample plugin whose hook returns a list instead of a name -> factory mapping."""

from __future__ import annotations

from seqframe import hookimpl


def bad_cell(input_size: int, hidden_size: int) -> None:
    """Never registered."""


@hookimpl
def seqframe_cells():  # type: ignore[no-untyped-def]
    return [("bad", bad_cell)]
