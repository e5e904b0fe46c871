"""Where calls of a fused kernel start and end over a batch of variable lengths.

Rows are sorted by decreasing length. The steps ``[0, longest)`` are cut into *spans* at
some of the lengths; span ``i`` runs ``[bounds[i], bounds[i+1])`` in one call of the kernel
over the rows still running at its start (a prefix of the sorted batch, so the batch
shrinks between spans). A row whose length is a bound leaves the kernel exactly at its
end. A row whose length falls strictly inside a span is *carried* to the span's end: its
outputs past its length are masked and its final state is kept as it was at its end (see
:mod:`seqframe.rnn.padded`).

Cutting at every distinct length carries no row (no wasted steps, more calls); one span
over everything is torch's unpacked kernel over the padded batch (one call, the most
wasted steps). :func:`candidate_bounds` lists the cuts worth comparing, and
:mod:`seqframe.rnn.paths` picks one by its cost model.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["Segments", "candidate_bounds", "make_segments", "plan_segments"]

_GAPS = (1, 2, 4, 8, 16, 32, 64, 1 << 30)
"""Minimum span lengths :func:`candidate_bounds` tries (1: every length; the last: one span)."""


@dataclass(frozen=True)
class Segments:
    """Spans of steps over a batch sorted by decreasing length.

    Attributes:
        lengths: the sorted lengths, non-increasing.
        bounds: ``0 = bounds[0] < ... < bounds[-1] = lengths[0]``.
        active: per span, the rows running at its start (``#{L > bounds[i]}``), and a last 0.
        reach: per span, the rows running to its end (``#{L >= bounds[i+1]}``); rows
            ``[active[i+1], reach[i])`` end exactly at the span's end, rows
            ``[reach[i], active[i])`` are carried past their ends.
    """

    lengths: tuple[int, ...]
    bounds: tuple[int, ...]
    active: tuple[int, ...]
    reach: tuple[int, ...]

    @property
    def steps(self) -> int:
        """The longest length."""
        return self.bounds[-1]

    @property
    def spans(self) -> list[tuple[int, int, int]]:
        """``(start, end, active rows)`` of every span."""
        return [(self.bounds[i], self.bounds[i + 1], self.active[i]) for i in range(len(self.bounds) - 1)]

    @property
    def carried(self) -> bool:
        """Whether some row runs past its own end inside a span."""
        return any(r < a for r, a in zip(self.reach, self.active))

    def carried_rows(self, span: int) -> range:
        """Rows (sorted order) that end strictly inside ``span``."""
        return range(self.reach[span], self.active[span])


def _bounds(distinct: list[int], gap: int, prefix: bool) -> list[int]:
    """Greedy cuts over the ascending distinct lengths, spans of at least ``gap`` steps."""
    bounds = [0, distinct[0]] if prefix else [0]
    last = distinct[-1]
    while bounds[-1] < last:
        at = bisect.bisect_left(distinct, bounds[-1] + gap)
        bounds.append(distinct[at] if at < len(distinct) else last)
    return bounds


def make_segments(lengths: list[int], bounds: list[int]) -> Segments:
    """The spans of ``lengths`` (non-increasing) cut at ``bounds`` (from 0 to the longest)."""
    ascending = lengths[::-1]
    count = len(lengths)
    active = tuple(count - bisect.bisect_right(ascending, b) for b in bounds)
    reach = tuple(count - bisect.bisect_left(ascending, b) for b in bounds[1:])
    return Segments(tuple(lengths), tuple(bounds), active, reach)


def plan_segments(lengths: list[int], gap: int, prefix: bool = False) -> Segments:
    """Cut at the distinct lengths, each span at least ``gap`` steps (the last may be shorter).

    Args:
        lengths: non-increasing, each ``>= 1``.
        gap: minimum span length; 1 cuts at every distinct length.
        prefix: also cut at the shortest length, so the steps every row runs form one span.
    """
    return make_segments(lengths, _bounds(sorted(set(lengths)), gap, prefix))


def candidate_bounds(distinct: list[int]) -> Iterator[list[int]]:
    """The cuts worth comparing over the ascending distinct lengths, each once: greedy cuts
    with minimum spans of 1, 2, 4, ... steps and one span, with and without a cut at the
    shortest length."""
    for gap, prefix in itertools.product(_GAPS, (False, True)):
        if not prefix or distinct[0] < gap:  # otherwise the same cuts as without
            yield _bounds(distinct, gap, prefix)
