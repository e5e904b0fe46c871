"""Opt-in compiled time loop: a fixed chunk of unrolled steps, compiled once.

``torch.compile`` of a single step is slower than eager on CPU (its per-call guard cost is
paid every step), and compiling a whole unrolled sequence costs time that grows with the
length and is paid again for every new length. Here ``chunk`` steps are unrolled and
compiled once (batch width dynamic), and the loop runs over chunks, so the compile cost is
paid once per cell, mode and dtype, whatever the lengths. Compiled chunks are kept in the
cell's :class:`~seqframe.rnn.runtime.CellRuntime`, with what each first compiled call cost
(:func:`seqframe.rnn.runtime.compile_times`).

Inside a chunk every row of the chunk's first step runs all ``chunk`` steps; a row whose
sequence ended keeps its state (``torch.where`` on a step mask) and its outputs are
dropped, so results equal the shrinking-batch loop's. Between chunks the batch shrinks as
in :func:`~seqframe.rnn.steps.time_loop`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from seqframe.interfaces import Cell, State
from seqframe.rnn.runtime import CellRuntime, runtime_of

__all__ = ["DEFAULT_CHUNK", "unroll_chunked"]

DEFAULT_CHUNK = 16
_log = logging.getLogger("seqframe")


def _chunk_runner(step: Callable[..., Any], chunk: int, name: str) -> Callable[..., Any]:
    def run(
        inputs: Sequence[Sequence[Tensor]], invariants: Sequence[Any], keep: Tensor, state: State
    ) -> tuple[Tensor, State]:
        outputs = []
        for i in range(chunk):
            h, new = step(*inputs[i], *invariants, *state)
            state = tuple(torch.where(keep[i], n, s) for n, s in zip(new, state))
            outputs.append(h)
        return torch.stack(outputs), state

    # A code object of its own: dynamo caches compiled graphs per code object, with a
    # recompile limit, so cells sharing one would evict each other and fall back to eager.
    run.__code__ = run.__code__.replace(co_name=name)
    return run


def _compiled(runtime: CellRuntime, key: Any, step: Callable[..., Any], chunk: int, backend: str) -> Callable[..., Any]:
    table = runtime.compiled
    if (key, chunk, backend) not in table:
        name = f"seqframe_chunk_{id(runtime):x}_{len(table)}"
        table[(key, chunk, backend)] = torch.compile(_chunk_runner(step, chunk, name), dynamic=True, backend=backend)
    return table[(key, chunk, backend)]


def _padded(value: Tensor, rows: int) -> Tensor:
    missing = rows - value.shape[0]
    return value if missing == 0 else torch.cat([value, value.new_zeros(missing, *value.shape[1:])])


def unroll_chunked(
    cell: Cell,
    key: Any,
    step: Callable[..., Any],
    steps: Sequence[Sequence[Tensor]],
    invariants: Sequence[Any],
    batch_sizes: list[int],
    state: State,
    *,
    chunk: int | None = None,
    backend: str | None = None,
) -> tuple[Tensor, State]:
    """Run ``step(*inputs_t, *invariants, *state) -> (h_t, state)`` in compiled chunks.

    Args:
        cell: owner of the compiled chunk (kept in its runtime record).
        key: what else the compiled chunk depends on (the path: hoisted, declared, plain).
        step: one step, a callable that torch.compile can trace.
        steps: per step, the input tensors (``batch_sizes[t]`` rows each).
        invariants: values passed unchanged to every step.
        batch_sizes: active rows per step, non-increasing.
        state: initial state in sorted order, tensors ``(B, H)``.
        chunk: steps per compiled chunk (default :data:`DEFAULT_CHUNK`).
        backend: the torch.compile backend; default ``$SEQFRAME_COMPILE_BACKEND`` or
            ``"inductor"`` (``"eager"`` runs the chunk logic without compiling).

    Returns:
        Packed outputs ``(N, H)`` and each sequence's state after its own last step.
    """
    chunk = chunk or DEFAULT_CHUNK
    backend = backend or os.environ.get("SEQFRAME_COMPILE_BACKEND") or "inductor"
    runtime = runtime_of(cell)
    compiled = _compiled(runtime, key, step, chunk, backend)
    device = state[0].device
    outputs: list[Tensor] = []
    finished: list[State] = []
    total = len(batch_sizes)
    for start in range(0, total, chunk):
        width = batch_sizes[start]
        if width < state[0].shape[0]:
            finished.append(tuple(s[width:] for s in state))
            state = tuple(s[:width] for s in state)
        sizes = batch_sizes[start : start + chunk]
        inputs = [tuple(_padded(v, width) for v in steps[start + i]) for i in range(len(sizes))]
        while len(inputs) < chunk:  # the last chunk: steps that change nothing
            inputs.append(tuple(torch.zeros_like(v) for v in inputs[0]))
        counts = torch.tensor(sizes + [0] * (chunk - len(sizes)), device=device)
        keep = (torch.arange(width, device=device)[None, :] < counts[:, None]).unsqueeze(-1)
        timing = (type(cell).__name__, chunk, torch.is_grad_enabled(), str(state[0].dtype), key, backend)
        began = time.perf_counter()
        stacked, state = compiled(inputs, tuple(invariants), keep, state)
        if timing not in runtime.timed:
            runtime.timed.add(timing)
            seconds = time.perf_counter() - began
            runtime.compile_log.append(
                {
                    "cell": timing[0],
                    "chunk": chunk,
                    "grad": timing[2],
                    "dtype": timing[3],
                    "backend": backend,
                    "seconds": round(seconds, 2),
                }
            )
            _log.info(
                "compiled %d-step chunks of cell %s (%s, grad=%s) in %.1f s",
                chunk,
                timing[0],
                timing[3],
                timing[2],
                seconds,
            )
        outputs += [stacked[i, :rows] for i, rows in enumerate(sizes)]
    finished.append(state)
    final = tuple(torch.cat([part[i] for part in reversed(finished)], 0) for i in range(len(state)))
    return torch.cat(outputs, 0), final
