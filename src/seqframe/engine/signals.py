"""Graceful stop on SIGINT (Ctrl-C) and SIGTERM (preemption).

The handler only records the signal; the trainer looks at the flag at each step boundary,
saves a checkpoint and stops. Doing the I/O inside the handler could interrupt any line
of the loop, a half-written file included. A second signal stops at once (checkpoints
stay valid because each is written to a temporary folder and renamed). Handlers are
installed only in the main thread (Python allows no other) and the previous ones are put
back afterwards. Under ``torchrun`` a signal often arrives twice in quick succession (from
the terminal or scheduler and again from torchrun, which passes on what it receives), so a
repeat within ``repeat_window_s`` of the first counts as the same request. Imports layer 0 only.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from types import FrameType
from typing import Any

__all__ = ["StopRequest", "signal_handlers"]

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """A stop asked for by a signal (or by code calling :meth:`request`).

    Args:
        repeat_window_s: a second signal this soon after the first is taken as a copy of
            it rather than as "stop now" (0: every second signal stops at once).
    """

    def __init__(self, repeat_window_s: float = 0.0) -> None:
        self.signum: int | None = None
        self.repeat_window_s = repeat_window_s
        self._first = 0.0

    @property
    def requested(self) -> bool:
        """True once a stop was asked for."""
        return self.signum is not None

    @property
    def signal_name(self) -> str:
        """``SIGINT``, ``SIGTERM``... (empty before a request)."""
        return signal.Signals(self.signum).name if self.signum is not None else ""

    def request(self, signum: int = signal.SIGINT) -> None:
        """Ask the trainer to save and stop at the next step boundary."""
        if self.signum is None:
            self.signum, self._first = signum, time.monotonic()

    def handle(self, signum: int, frame: FrameType | None) -> None:
        """The signal handler: the first signal only sets the flag; a second one stops now
        (``KeyboardInterrupt`` for SIGINT, ``SystemExit(128 + signum)`` otherwise)."""
        if self.signum is None:
            self.signum, self._first = signum, time.monotonic()
            return
        if time.monotonic() - self._first < self.repeat_window_s:
            return
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(128 + signum)


@contextlib.contextmanager
def signal_handlers(stop: StopRequest, enabled: bool = True) -> Iterator[StopRequest]:
    """Within the block, SIGINT and SIGTERM go to ``stop.handle``.

    Outside the main thread it does nothing (Python delivers signals to the main thread
    only); afterwards, however the block ends, the previous handlers are restored.
    """
    previous: dict[int, Any] = {}
    try:
        if enabled and threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                previous[signum] = signal.signal(signum, stop.handle)
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
