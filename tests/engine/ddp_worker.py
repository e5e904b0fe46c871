"""``seqframe`` command line with test-only faults, run under torchrun by test_distributed.py.

Usage: ``python -m torch.distributed.run ... tests/engine/ddp_worker.py run RECIPE ...``.
Environment variables (each optional):

- ``SEQFRAME_TEST_FAIL=RANK:STEP``: that rank raises a ``DataError`` at that step.
- ``SEQFRAME_TEST_SIGNAL=RANK:STEP``: that rank sends itself SIGTERM after that step.
- ``SEQFRAME_TEST_DUMP=DIR``: each rank saves its final weights to ``DIR/rank<R>.pt``.
"""

from __future__ import annotations

import os
import signal
import sys

import torch

from seqframe.cli import main
from seqframe.engine import trainer
from seqframe.errors import DataError

RANK = int(os.environ.get("RANK", "0"))


def _at(name: str) -> int | None:
    """The step at which the fault ``name`` applies to this rank, if any."""
    value = os.environ.get(name)
    if not value:
        return None
    rank, step = (int(x) for x in value.split(":"))
    return step if rank == RANK else None


def _patch() -> None:
    fail, stop, dump = _at("SEQFRAME_TEST_FAIL"), _at("SEQFRAME_TEST_SIGNAL"), os.environ.get("SEQFRAME_TEST_DUMP")
    train_step, run = trainer.TrainingLoop._train_step, trainer.TrainingLoop.run

    def faulty_step(self: trainer.TrainingLoop, step: int) -> dict:
        if step == fail:
            raise DataError(f"corpus.txt: a broken example in the batch of step {step} (injected on rank {RANK})")
        row = train_step(self, step)
        if step == stop:
            os.kill(os.getpid(), signal.SIGTERM)
        return row

    def dumping_run(self: trainer.TrainingLoop) -> trainer.TrainResult:
        try:
            return run(self)
        finally:
            if dump:
                torch.save(
                    {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
                    os.path.join(dump, f"rank{RANK}.pt"),
                )

    trainer.TrainingLoop._train_step = faulty_step  # type: ignore[method-assign]
    trainer.TrainingLoop.run = dumping_run  # type: ignore[method-assign]


if __name__ == "__main__":
    _patch()
    sys.exit(main(sys.argv[1:]))
