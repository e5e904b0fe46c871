"""Result records of the conformance kits, shared by every kind of component.

A kit (``check_cell``, ``check_task``, ...) runs named checks; each yields one
:class:`CheckResult`. Pytest users get an :class:`AssertionError` at the first failure
(:meth:`CheckResult.raise_if_failed`); ``seqframe plugins check`` prints one line per record
(:meth:`CheckResult.line`) or JSON (:meth:`CheckReport.to_dict`). Facade layer; imports
only the stdlib.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["CheckReport", "CheckResult", "SkipCheck", "raise_failures", "run_check"]


class SkipCheck(Exception):
    """Raised by a check body that does not apply (e.g. nothing declared to check)."""


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one conformance check.

    Attributes:
        name: the check's short name (``shapes_and_state``), the same in every report.
        passed: True when the component honours what the check verifies (also True for
            a skipped check: nothing failed).
        reason: why it failed (``expected ...; got ...``), or why it was skipped; empty
            for a plain pass.
        skipped: the check did not apply.
        error: the exception behind a failure, kept for tracebacks (never serialised).
    """

    name: str
    passed: bool
    reason: str = ""
    skipped: bool = False
    error: BaseException | None = field(default=None, compare=False, repr=False)

    @property
    def status(self) -> str:
        """``"pass"``, ``"fail"`` or ``"skip"``."""
        return "skip" if self.skipped else "pass" if self.passed else "fail"

    def line(self) -> str:
        """One human line: status, name and, when there is one, the reason."""
        return f"{self.status:<4}  {self.name}" + (f": {self.reason}" if self.reason else "")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping: ``name``, ``status``, ``passed``, ``reason``."""
        return {"name": self.name, "status": self.status, "passed": self.passed, "reason": self.reason}

    def raise_if_failed(self, subject: str, prefix: str = "check_") -> None:
        """Raise ``AssertionError("<subject> failed <prefix><name>: <reason>")`` for a failure,
        chained to the exception behind it."""
        if not self.passed:
            raise AssertionError(f"{subject} failed {prefix}{self.name}: {self.reason}") from self.error


@dataclass(frozen=True)
class CheckReport:
    """Every check run on one component, plus facts worth showing beside them.

    Attributes:
        subject: what was checked, e.g. ``cell 'indrnn' (seqframe-indrnn 0.1.0)``.
        results: one record per check, in the order they ran.
        notes: extra facts, e.g. ``{"time loop": "input part traced and hoisted ..."}``.
    """

    subject: str
    results: tuple[CheckResult, ...]
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True when no check failed."""
        return all(r.passed for r in self.results)

    @property
    def failures(self) -> list[CheckResult]:
        """The failed checks."""
        return [r for r in self.results if not r.passed]

    def lines(self) -> list[str]:
        """The report for a terminal: the subject, one line per check, the notes."""
        verdict = "all checks passed" if self.passed else f"{len(self.failures)} of {len(self.results)} checks failed"
        return [
            f"{self.subject}: {verdict}",
            *(f"  {r.line()}" for r in self.results),
            *(f"  {key}: {value}" for key, value in self.notes.items()),
        ]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping: ``subject``, ``passed``, ``checks``, ``notes``."""
        return {
            "subject": self.subject,
            "passed": self.passed,
            "checks": [r.to_dict() for r in self.results],
            "notes": dict(self.notes),
        }


_PACKAGE = str(Path(__file__).resolve().parents[1])  # seqframe's own code is never the culprit


def _describe(exc: BaseException) -> str:
    """``raised <Type>: <first line> (at file:line)``, the line being the innermost one
    outside seqframe and torch, for an unexpected exception."""
    first = str(exc).splitlines()[0] if str(exc) else ""
    where = ""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        path = str(Path(frame.filename).resolve()) if not frame.filename.startswith("<") else ""
        if path and not path.startswith(_PACKAGE) and f"{os.sep}torch{os.sep}" not in path:
            where = f" (at {frame.filename}:{frame.lineno})"
            break
    return f"raised {type(exc).__name__}: {first}{where}"


def run_check(
    name: str, body: Callable[[], None], describe: Callable[[BaseException], str | None] = lambda e: None
) -> CheckResult:
    """Run ``body`` and record its outcome; never raises (but KeyboardInterrupt).

    ``body`` fails by raising :class:`AssertionError` (its message is the reason), skips
    by raising :class:`SkipCheck`; any other exception fails the check with ``raised
    <Type>: <message> (at file:line)``, or with ``describe(exc)`` when that returns text.
    """
    try:
        body()
    except SkipCheck as exc:
        return CheckResult(name, True, str(exc), skipped=True)
    except AssertionError as exc:
        return CheckResult(name, False, str(exc), error=exc)
    except Exception as exc:
        return CheckResult(name, False, describe(exc) or _describe(exc), error=exc)
    return CheckResult(name, True)


def raise_failures(what: str, results: Sequence[CheckResult]) -> None:
    """Raise one AssertionError listing every failed check of ``what`` (nothing if all passed)."""
    failed = [r for r in results if not r.passed]
    if failed:
        raise AssertionError(
            f"{what}: {len(failed)} of {len(results)} checks failed: "
            + "; ".join(f"{r.name}: {r.reason}" for r in failed)
        )
