"""The callbacks the CLI uses (:class:`MetricsWriter`, :class:`ProgressBar`); the
:class:`Callback` base class is a contract (:mod:`seqframe.interfaces.callback`), re-exported
here."""

from __future__ import annotations

import errno
import json
import math
import os
from typing import Any, TextIO

from seqframe.errors import CheckpointError
from seqframe.files import open_append
from seqframe.interfaces.callback import Callback

__all__ = ["Callback", "MetricsWriter", "ProgressBar"]


class MetricsWriter(Callback):
    """Appends one JSON object per line to ``metrics.jsonl``: training rows every
    ``log_every`` steps (``step``, ``loss``, ``lr``, ``grad_norm``, ``tokens_per_s``; a
    skipped non-finite step also ``skipped: true``) and validation rows (``step``,
    ``split: valid``, metrics). Non-finite numbers are written as ``null``. The file is
    appended to, never through a symbolic link; a failed write (disk full) is a
    :class:`~seqframe.errors.CheckpointError` naming it."""

    def __init__(self, path: str | os.PathLike[str], log_every: int = 10) -> None:
        self.path = path
        self.log_every = max(1, log_every)
        self._handle: TextIO | None = None

    def write_row(self, row: dict[str, Any]) -> None:
        """Append one row (top-level non-finite floats written as null), never through a
        symbolic link.

        Raises:
            CheckpointError: the file cannot be written (disk full, a symbolic link...).
        """
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
        try:
            if self._handle is None:
                self._handle = open_append(self.path)
            self._handle.write(json.dumps(clean, allow_nan=False) + "\n")  # strict JSON: NaN is written null
            self._handle.flush()
        except OSError as exc:
            self._close()
            code = errno.errorcode.get(exc.errno or 0, str(exc.errno))
            raise CheckpointError(
                f"{self.path}: could not write the metrics row of step {row.get('step')} "
                f"({exc.strerror or exc}, errno {code})"
            ) from exc

    def _close(self) -> None:
        if self._handle is not None:
            try:
                self._handle.close()
            except OSError:
                pass  # every row was flushed already (or its error reported)
            self._handle = None

    def on_train_batch_end(self, step: int, row: dict[str, Any]) -> None:
        if step % self.log_every == 0 or step == 1:
            self.write_row({"step": step, "split": "train", **row})

    def on_eval_end(self, step: int, row: dict[str, Any]) -> None:
        self.write_row({"step": step, "split": "valid", **row})

    def on_train_end(self, step: int) -> None:
        self._close()


class ProgressBar(Callback):
    """A tqdm progress bar showing loss, learning rate and tokens/s, and a line per
    evaluation. ``disable=True`` (quiet mode) prints nothing at all."""

    def __init__(self, disable: bool = False) -> None:
        self.disable = disable
        self._bar: Any = None
        self._valid = ""

    def on_train_start(self, total_steps: int, start_step: int) -> None:
        from tqdm.auto import tqdm

        self._bar = tqdm(total=total_steps, initial=start_step, disable=self.disable, unit="step", dynamic_ncols=True)

    def on_train_batch_end(self, step: int, row: dict[str, Any]) -> None:
        if self._bar is None:
            return
        self._bar.update(1)
        if step % 5 == 0 or step == 1:
            text = f"loss {row['loss']:.3f} lr {row['lr']:.2e} {row['tokens_per_s']:,.0f} tok/s"
            self._bar.set_postfix_str(text + self._valid, refresh=False)

    def on_eval_end(self, step: int, row: dict[str, Any]) -> None:
        self._valid = f" | valid {row['loss']:.3f}" + (f" ({row['bpc']:.2f} bpc)" if "bpc" in row else "")
        if self._bar is not None and not self.disable:
            self._bar.write(f"step {step}: valid " + ", ".join(f"{k} {v:.4g}" for k, v in row.items()))

    def on_train_end(self, step: int) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
