"""The recurrent runtime: unrolls cells over variable-length, batch-first sequences.

Knows nothing of plugins, recipes or the engine; imports only layer 0 and torch. Built-in
and third-party topologies both run through :func:`run_stack`, so every cell gets the same
length handling (packed semantics: outputs zero past each length, final states at each
sequence's own end), input-projection hoisting and, for cells that declare a
``fused_mode``, torch's fused kernels (variable lengths: :mod:`seqframe.rnn.paths`). What it
learns about a cell is kept on the cell (:mod:`seqframe.rnn.runtime`); the runtime has no
module-level state.
"""

from __future__ import annotations

from seqframe.rnn.lengths import check_inputs
from seqframe.rnn.stack import run_stack

__all__ = ["check_inputs", "run_stack"]
