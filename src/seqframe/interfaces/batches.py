"""The stream of training batches a task returns (:class:`Batches`) and its check.

Layer 0: imports only the stdlib and the other contracts.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from seqframe.interfaces.task import Task

__all__ = ["Batches", "check_batches"]


@runtime_checkable
class Batches(Protocol):
    """The endless, resumable stream of training batches that :meth:`Task.train_batches`
    returns.

    ``next(batches)`` gives one batch: a mapping of name -> tensor (or plain value) that
    :meth:`Task.training_step` reads; the engine moves its tensors to the device.
    ``state_dict()`` is the JSON-able position in the stream (e.g. ``{"epoch": 2, "index":
    17}``) saved in every checkpoint; ``load_state_dict(state)`` on a stream built from the
    same encoded data, batch size and seed continues with exactly the batch that followed.
    A stream that cannot be resumed returns None from ``state_dict()``: a resumed run then
    restarts its data from the beginning, with a warning.
    """

    def __iter__(self) -> Iterator[Mapping[str, Any]]: ...

    def __next__(self) -> Mapping[str, Any]: ...

    def state_dict(self) -> dict[str, Any] | None: ...

    def load_state_dict(self, state: Mapping[str, Any]) -> None: ...


def check_batches(task: Task, batches: object) -> Batches:
    """``batches`` (what ``task.train_batches`` returned), once checked to be a :class:`Batches`.

    Raises:
        TypeError: it is not (e.g. a plain generator, which a checkpoint cannot resume).
    """
    if not isinstance(batches, Batches):
        raise TypeError(
            f"task {task.name!r}: train_batches returned a {type(batches).__name__!r}, which is not a "
            "seqframe.interfaces.Batches (an iterator with state_dict and load_state_dict)"
        )
    return batches
