"""The run log: ``run.log`` in the run directory, fed by the ``seqframe`` logger.

The trainer and the recurrent runtime state facts about a run there as they happen: where
and how it trains (processes, device, precision, effective batch), what the determinism
switch set, compile times. Each line is also shown on stderr when the run shows progress.
Only rank 0 of a multi-process run keeps a run log. The file is appended to, never through
a symbolic link; the log is best-effort: a line that cannot be written (disk full) gives
one warning, not a traceback. Imports layer 0 only.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

from seqframe.errors import CheckpointError
from seqframe.files import open_append

__all__ = ["RUN_LOG", "run_log"]

RUN_LOG = "run.log"
_FORMAT = "%(asctime)s %(message)s"


class _FileLog(logging.StreamHandler):  # type: ignore[type-arg]
    """Appends to a file opened without following links; write errors warn once."""

    def __init__(self, path: Path) -> None:
        try:
            stream = open_append(path)
        except OSError as exc:
            raise CheckpointError(f"{path}: cannot open the run log ({exc.strerror or exc})") from exc
        super().__init__(stream)
        self.path, self.failed = path, False

    def handleError(self, record: logging.LogRecord) -> None:
        if not self.failed:
            self.failed = True
            warnings.warn(
                f"{self.path}: could not write the run log ({sys.exc_info()[1]}); its later lines are "
                "only shown on the console",
                stacklevel=2,
            )

    def close(self) -> None:
        try:
            self.stream.close()
        except OSError:
            pass
        super().close()


@contextlib.contextmanager
def run_log(out_dir: Path | None, *, console: bool) -> Iterator[None]:
    """Within the block, ``seqframe`` INFO records are appended to ``out_dir/run.log`` (if a
    folder is given) and printed to stderr (if ``console``); the logger's level and
    handlers are put back afterwards."""
    logger = logging.getLogger("seqframe")
    handlers: list[logging.Handler] = []
    if out_dir is not None:
        handlers.append(_FileLog(out_dir / RUN_LOG))
        handlers[-1].setFormatter(logging.Formatter(_FORMAT, "%Y-%m-%d %H:%M:%S"))
    if console:
        handlers.append(logging.StreamHandler(sys.stderr))
    if not handlers:
        yield
        return
    level = logger.level
    logger.setLevel(logging.INFO)
    for handler in handlers:
        logger.addHandler(handler)
    try:
        yield
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
            handler.close()
        logger.setLevel(level)
