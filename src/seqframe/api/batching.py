"""Requests answered by one model thread, merged into batches when they arrive together.

:class:`Batcher` runs every prediction on its own thread (the model is never used by two
threads at once). A request waits at most ``wait`` seconds for others; requests with equal
options are merged, up to ``max_batch`` inputs per model call, unless they sample: a
sampled answer depends on the rows it is drawn with, so a request with ``temperature > 0``
is answered alone, as ``seqframe predict`` would answer it with the same seed. A merged
call that raises is retried request by request, so each request gets its own answer or
error. Facade layer.
"""

from __future__ import annotations

import collections
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Batcher"]

Answer = Callable[[list[str], dict[str, Any]], list[str]]


@dataclass
class _Request:
    inputs: list[str]
    options: dict[str, Any]
    future: Future[list[str]] = field(default_factory=Future)

    @property
    def key(self) -> tuple[tuple[str, Any], ...]:
        return tuple(sorted(self.options.items()))

    @property
    def samples(self) -> bool:
        temperature = self.options.get("temperature", 0)
        return isinstance(temperature, (int, float)) and temperature > 0


class Batcher:
    """Answer requests on one thread, merging those that arrive together.

    Args:
        answer: ``answer(inputs, options) -> outputs``, one output per input.
        max_batch: most inputs per call of ``answer`` (a larger request is answered alone).
        wait: seconds a request waits for others to join its batch.

    Attributes:
        calls: how many times ``answer`` was called (batches).
    """

    def __init__(self, answer: Answer, *, max_batch: int = 32, wait: float = 0.005) -> None:
        self.answer, self.max_batch, self.wait = answer, max(1, max_batch), max(0.0, wait)
        self.calls = 0
        self._queue: queue.Queue[_Request | None] = queue.Queue()
        self._held: collections.deque[_Request] = collections.deque()
        self._thread = threading.Thread(target=self._work, name="seqframe-batcher", daemon=True)
        self._thread.start()

    def submit(self, inputs: Sequence[str], options: Mapping[str, Any]) -> Future[list[str]]:
        """Queue a request; its future holds the outputs or the exception ``answer`` raised."""
        request = _Request(list(inputs), dict(options))
        self._queue.put(request)
        return request.future

    def close(self, timeout: float = 30.0) -> None:
        """Answer what is queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _next(self, timeout: float | None) -> _Request | bool | None:
        """The next request (held ones first); None to stop; False when none came in time."""
        if self._held:
            return self._held.popleft()
        try:
            return self._queue.get(timeout=timeout) if timeout is None or timeout > 0 else self._queue.get_nowait()
        except queue.Empty:
            return False

    def _work(self) -> None:
        stopping = False
        while not stopping or self._held:
            first = self._next(None if not stopping else 0)
            if first is None:
                stopping = True
                continue
            if first is False:
                break
            assert isinstance(first, _Request)
            batch, stopping = self._gather(first, stopping)
            self._run(batch)

    def _gather(self, first: _Request, stopping: bool) -> tuple[list[_Request], bool]:
        """``first`` and the requests that can join it within the wait."""
        batch, size = [first], len(first.inputs)
        if first.samples:
            return batch, stopping
        deadline = time.monotonic() + self.wait
        skipped: list[_Request] = []
        while size < self.max_batch and not stopping:
            other = self._next(deadline - time.monotonic())
            if other is False:
                break
            if other is None:
                stopping = True
                break
            assert isinstance(other, _Request)
            if other.key == first.key and not other.samples and size + len(other.inputs) <= self.max_batch:
                batch.append(other)
                size += len(other.inputs)
            else:
                skipped.append(other)
        self._held.extendleft(reversed(skipped))  # answered next, in arrival order
        return batch, stopping

    def _run(self, batch: list[_Request]) -> None:
        self.calls += 1
        try:
            outputs = self.answer([text for request in batch for text in request.inputs], batch[0].options)
        except Exception as exc:
            if len(batch) == 1:
                batch[0].future.set_exception(exc)
                return
            for request in batch:  # each request gets its own answer or error
                self._run([request])
            return
        start = 0
        for request in batch:
            request.future.set_result(outputs[start : start + len(request.inputs)])
            start += len(request.inputs)
