"""The run log: ``run.log`` in the run directory, fed by the ``seqframe`` logger.

The trainer and the recurrent runtime state facts about a run there as they happen: where
and how it trains (processes, device, precision, effective batch), what the determinism
switch set, compile times. Each line is also shown on stderr when the run shows progress.
Only rank 0 of a multi-process run keeps a run log. Imports layer 0 only.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

__all__ = ["RUN_LOG", "run_log"]

RUN_LOG = "run.log"
_FORMAT = "%(asctime)s %(message)s"


@contextlib.contextmanager
def run_log(out_dir: Path | None, *, console: bool) -> Iterator[None]:
    """Within the block, ``seqframe`` INFO records are appended to ``out_dir/run.log`` (if a
    folder is given) and printed to stderr (if ``console``); the logger's level and
    handlers are put back afterwards."""
    logger = logging.getLogger("seqframe")
    handlers: list[logging.Handler] = []
    if out_dir is not None:
        handlers.append(logging.FileHandler(out_dir / RUN_LOG, encoding="utf-8"))
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
