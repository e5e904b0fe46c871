"""Conformance checks for tasks, for plugin authors to run from their own tests.

:func:`run_task_checks` builds a task from its factory, fits it on tiny data (the caller's,
the task's own :meth:`~seqframe.interfaces.Task.sample_data`, or a generated corpus for a
text task), builds a small model around an LSTM and runs every method the engine calls,
returning one :class:`CheckResult` per check; :func:`check_task` raises one AssertionError
listing every failure. Exceptions raised by the task become failed checks, never
tracebacks. The caller's global RNG state is left as it was. Facade layer: imports the
contracts and the built-in cells, topology, head and tokenizer.

Example:
    >>> from seqframe.testing import check_task
    >>> def test_my_task_conforms():
    ...     check_task(MyTask, options={"window": 16})
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypedDict

import torch

from seqframe.interfaces import TextSource
from seqframe.testing.report import CheckResult, raise_failures
from seqframe.testing.task_kit import SEED, TaskKit

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["TASK_CHECKS", "check_task", "run_task_checks"]

TASK_CHECKS = (
    "construct",
    "data",
    "fit_state",
    "build_model",
    "build_model_pure",
    "encode",
    "batches",
    "resume",
    "training_step",
    "evaluate",
    "predict",
    "reload",
)
"""Every check, in the order it runs. ``construct``, ``data``, ``fit_state``, ``build_model``,
``encode`` and ``batches`` set up the rest: after one of them fails, the later checks are
reported as not run."""

_SETUP = ("construct", "data", "fit_state", "build_model", "encode", "batches")


def run_task_checks(
    factory: Callable[..., Any],
    *,
    options: Mapping[str, Any] | None = None,
    data: TextSource | None = None,
    model_options: Mapping[str, Any] | None = None,
    predict_options: Mapping[str, Any] | None = None,
    batch_size: int = 4,
) -> list[CheckResult]:
    """Run every check of :data:`TASK_CHECKS` on a task; one result each, in order.

    Args:
        factory: the task class (called as ``factory(**options)``).
        options: the task's options, as a recipe's ``task`` section gives them.
        data: a tiny data source in the task's format (default: ``task.sample_data()``, else
            generated English-like text for a task that reads texts).
        model_options: the task's own ``model`` keys for ``build_model`` (a required
            ``decoder`` is built by the kit).
        predict_options: options passed to ``predict``.
        batch_size: rows per batch.
    """
    kit = TaskKit(factory, options or {}, data, model_options or {}, predict_options or {}, batch_size)
    steps = [
        kit.construct,
        kit.data_check,
        kit.fit_state,
        kit.build_model,
        kit.build_model_pure,
        kit.encode,
        kit.batches,
        kit.resume,
        kit.training_step,
        kit.evaluate,
        kit.predict,
        kit.reload,
    ]
    results: list[CheckResult] = []
    broken = ""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        for name, step in zip(TASK_CHECKS, steps):
            if broken:
                results.append(CheckResult(name, False, f"not run: {broken!r} failed"))
                continue
            try:
                results.append(CheckResult(name, True, step()))
            except AssertionError as exc:
                results.append(CheckResult(name, False, str(exc)))
            except Exception as exc:  # the task's own error: a failed check, not a crash of the kit
                results.append(CheckResult(name, False, f"raised {type(exc).__name__}: {exc}"))
            if name in _SETUP and not results[-1].passed:
                broken = name
    return results


def check_task(factory: Callable[..., Any], **args: Unpack[TaskArgs]) -> Sequence[CheckResult]:
    """Check a task against the contract the engine relies on (see :func:`run_task_checks`
    for the arguments); returns the results when every check passes.

    Raises:
        AssertionError: naming the task and every failed check with its reason.
    """
    results = run_task_checks(factory, **args)
    raise_failures(f"task {getattr(factory, '__name__', factory)!r}", results)
    return results


class TaskArgs(TypedDict, total=False):
    """The keywords of :func:`check_task`: those of :func:`run_task_checks`, with its defaults."""

    options: Mapping[str, Any] | None
    data: TextSource | None
    model_options: Mapping[str, Any] | None
    predict_options: Mapping[str, Any] | None
    batch_size: int
