"""The result record every conformance check yields, shared by the kits and by
``seqframe plugins check``. Imports only the stdlib."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["CheckResult", "raise_failures"]


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one conformance check.

    Attributes:
        name: the check's name (``resume``, ``build_model_pure``, ...).
        passed: whether the component passed it.
        reason: why it failed (expected vs got), or a short note when it passed.
    """

    name: str
    passed: bool
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form, for ``--json`` output."""
        return asdict(self)

    def line(self) -> str:
        """One line for a terminal: ``pass  name`` or ``FAIL  name: reason``."""
        return f"{'pass' if self.passed else 'FAIL'}  {self.name}" + (f": {self.reason}" if self.reason else "")


def raise_failures(what: str, results: Sequence[CheckResult]) -> None:
    """Raise one AssertionError listing every failed check of ``what`` (nothing if all passed)."""
    failed = [r for r in results if not r.passed]
    if failed:
        raise AssertionError(f"{what}: {len(failed)} of {len(results)} checks failed: "
                             + "; ".join(f"{r.name}: {r.reason}" for r in failed))
