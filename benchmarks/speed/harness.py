"""The timing harness every section uses: interleaved variants, medians of per-repetition
ratios, and the CPU time other processes took while each repetition ran.

Method (``../shared/PERF-BASELINES.md`` section 0): each repetition runs every variant of
one comparison once, in a freshly shuffled order, in this process; a measurement calls the
variant ``n`` times, ``n`` chosen once (after a warm-up call and a calibration call) so that
it lasts at least ``min_time_s``; the reported time is the median over repetitions and the
ratio is the median over repetitions of ``variant time / reference time`` within the same
repetition. A repetition during which other processes used more than ``FOREIGN_LIMIT`` of
the machine's CPU (from ``/proc/stat``) is run again, up to ``max_reruns`` times per
comparison; the cleanest attempt is kept and the foreign share is reported either way.
"""

from __future__ import annotations

import math
import os
import random
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = [
    "FOREIGN_LIMIT",
    "Comparison",
    "CpuMeter",
    "Settings",
    "check",
    "compare",
    "max_abs_diff",
    "rss_bytes",
    "summarise",
    "summarise_against_fastest",
]

FOREIGN_LIMIT = 0.15
"""Share of the machine's CPU used by other processes above which a repetition is re-run."""


@dataclass(frozen=True)
class Settings:
    """How much to measure: one of ``full``, ``quick`` or ``tiny`` (see :mod:`benchmarks.speed`)."""

    mode: str = "full"
    reps: int = 5
    min_time_s: float = 0.015
    max_reruns: int = 5
    seed: int = 0

    @classmethod
    def for_mode(cls, mode: str) -> Settings:
        """The settings of a mode name."""
        if mode == "tiny":
            return cls(mode, reps=1, min_time_s=0.0, max_reruns=0)
        if mode == "quick":
            return cls(mode, reps=3, min_time_s=0.015, max_reruns=1)
        return cls(mode)

    @property
    def tiny(self) -> bool:
        return self.mode == "tiny"

    @property
    def quick(self) -> bool:
        return self.mode == "quick"


class CpuMeter:
    """Share of all CPUs used by *other* processes between :meth:`start` and :meth:`stop`.

    Reads busy and total jiffies of the machine from ``/proc/stat`` and this process's own
    user+system time (all threads) from ``/proc/self/stat``; foreign = (busy - own) / total.
    Returns NaN where ``/proc`` is not available.
    """

    def __init__(self) -> None:
        self._start: tuple[int, int, int] | None = None

    @staticmethod
    def _read() -> tuple[int, int, int] | None:
        try:
            with open("/proc/stat", encoding="ascii") as handle:
                fields = [int(v) for v in handle.readline().split()[1:]]
            with open("/proc/self/stat", encoding="ascii") as handle:
                own_fields = handle.read().rsplit(")", 1)[1].split()
        except (OSError, ValueError, IndexError):
            return None
        total = sum(fields[:8])  # user nice system idle iowait irq softirq steal
        busy = total - fields[3] - fields[4]
        own = int(own_fields[11]) + int(own_fields[12])  # utime, stime (fields 14, 15)
        return total, busy, own

    def start(self) -> None:
        """Begin a measurement window."""
        self._start = self._read()

    def stop(self) -> float:
        """Foreign CPU share of the window, in [0, 1] (NaN if unknown)."""
        end = self._read()
        if self._start is None or end is None:
            return math.nan
        total, busy, own = (b - a for a, b in zip(self._start, end))
        if total <= 0:
            return 0.0
        return min(1.0, max(0.0, (busy - own) / total))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn: Callable[[], Any], calls: int, device: torch.device) -> float:
    """Seconds per call over ``calls`` back-to-back calls."""
    _sync(device)
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    _sync(device)
    return (time.perf_counter() - start) / calls


def _calibrate(fn: Callable[[], Any], warm_up: int, min_time_s: float, device: torch.device) -> int:
    """Calls per measurement so that one lasts at least ``min_time_s``, after ``warm_up`` calls."""
    for _ in range(warm_up):
        fn()
    once = _timed(fn, 1, device)
    return max(1, math.ceil(min_time_s / max(once, 1e-9)))


@dataclass
class Comparison:
    """Raw result of :func:`compare`: seconds per call, one list per variant (one per repetition)."""

    reference: str
    times: dict[str, list[float]]
    foreign: list[float]
    reruns: int
    calls: dict[str, int]
    notes: list[str] = field(default_factory=list)


def compare(
    variants: Mapping[str, Callable[[], Any]],
    reference: str,
    settings: Settings,
    device: torch.device,
    *,
    warm_up: int = 1,
) -> Comparison:
    """Time ``variants`` against ``variants[reference]`` with the interleaved method.

    Args:
        variants: name -> callable doing one unit of work (e.g. a forward+backward).
        reference: the name the ratios divide by.
        settings: repetitions, minimum measurement time, rerun budget.
        device: synchronised around every measurement when it is a CUDA device.
        warm_up: calls before calibration (more for code that specialises on first calls).

    Returns:
        Per-variant seconds per call for each kept repetition and the foreign CPU shares.
    """
    rng = random.Random(settings.seed)
    calls = {name: _calibrate(fn, warm_up, settings.min_time_s, device) for name, fn in variants.items()}
    meter = CpuMeter()
    times: dict[str, list[float]] = {name: [] for name in variants}
    foreign: list[float] = []
    reruns = 0
    for _ in range(settings.reps):
        best: tuple[float, dict[str, float]] | None = None
        while True:
            order = list(variants)
            rng.shuffle(order)
            meter.start()
            result = {name: _timed(variants[name], calls[name], device) for name in order}
            share = meter.stop()
            score = 0.0 if math.isnan(share) else share
            if best is None or score < best[0]:
                best = (score, result)
            if score <= FOREIGN_LIMIT or reruns >= settings.max_reruns:
                break
            reruns += 1  # contaminated by other processes: run this repetition again
        foreign.append(best[0])
        for name, seconds in best[1].items():
            times[name].append(seconds)
    return Comparison(reference, times, foreign, reruns, calls)


def summarise(comparison: Comparison) -> dict[str, Any]:
    """JSON-able medians (ms), median ratios with their range, and foreign CPU figures."""
    ref = comparison.times[comparison.reference]
    times_ms = {name: statistics.median(values) * 1e3 for name, values in comparison.times.items()}
    ratios: dict[str, float] = {}
    ranges: dict[str, list[float]] = {}
    for name, values in comparison.times.items():
        if name == comparison.reference:
            continue
        per_rep = [v / r for v, r in zip(values, ref)]
        ratios[name] = statistics.median(per_rep)
        ranges[name] = [min(per_rep), max(per_rep)]
    foreign = [f for f in comparison.foreign if not math.isnan(f)]
    return {
        "reference": comparison.reference,
        "times_ms": times_ms,
        "ratios": ratios,
        "ratio_ranges": ranges,
        "ratios_of_min": {
            name: min(values) / min(ref) for name, values in comparison.times.items() if name != comparison.reference
        },  # robust on a busy machine: least-disturbed runs
        "calls_per_measurement": comparison.calls,
        "repetitions": len(ref),
        "foreign_cpu_max": max(foreign) if foreign else None,
        "foreign_cpu_mean": statistics.fmean(foreign) if foreign else None,
        "contaminated_reps": sum(f > FOREIGN_LIMIT for f in foreign),
        "reruns": comparison.reruns,
    }


def summarise_against_fastest(comparison: Comparison, candidates: list[str]) -> dict[str, Any]:
    """:func:`summarise` with the reference set to the fastest of ``candidates`` (lowest
    median time), named in ``"reference"``; ``"ratios_vs"`` holds every variant's median
    ratio against each candidate, for information."""
    medians = {name: statistics.median(comparison.times[name]) for name in candidates}
    fastest = min(candidates, key=medians.__getitem__)
    summary = summarise(
        Comparison(fastest, comparison.times, comparison.foreign, comparison.reruns, comparison.calls, comparison.notes)
    )
    summary["ratios_vs"] = {
        ref: {
            name: statistics.median(v / r for v, r in zip(values, comparison.times[ref]))
            for name, values in comparison.times.items()
            if name != ref
        }
        for ref in candidates
    }
    return summary


def rss_bytes() -> int:
    """This process's resident set size now (0 where ``/proc`` is missing)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def max_abs_diff(a: Any, b: Any) -> float:
    """Largest absolute difference between two tensors or equal-shaped nests of tensors."""
    if isinstance(a, torch.Tensor):
        if not isinstance(b, torch.Tensor) or a.shape != b.shape:
            return math.inf
        return float((a.detach().double() - b.detach().double()).abs().max()) if a.numel() else 0.0
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)) and len(a) == len(b):
        return max((max_abs_diff(x, y) for x, y in zip(a, b)), default=0.0)
    return math.inf


def check(diff: float, tolerance: float, what: str = "outputs") -> dict[str, Any]:
    """A JSON-able equality check: ``ok`` when ``diff <= tolerance``."""
    return {"ok": bool(diff <= tolerance), "what": what, "max_abs_diff": diff, "tolerance": tolerance}
