"""Layers x directions of cells over variable-length batch-first input: :func:`run_stack`."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.nn import functional as F
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from seqframe.errors import DataError
from seqframe.interfaces import Cell, State, overrides_input_projection, state_layout
from seqframe.rnn.attribution import cell_errors
from seqframe.rnn.fused import fused_mode_of, run_fused
from seqframe.rnn.hoist import hoist_plans
from seqframe.rnn.lengths import check_inputs, padded_from_packed, reverse_permutation
from seqframe.rnn.loop import unroll_packed
from seqframe.rnn.padded import kernel_dtype, run_segmented, sorted_lengths
from seqframe.rnn.paths import choose_path
from seqframe.rnn.runtime import runtime_of
from seqframe.rnn.segments import Segments

__all__ = ["run_stack"]


def _layout(cell: Cell, x: Tensor) -> tuple[int, ...]:
    """``state_layout(cell)``, kept in the cell's runtime record (read once, not at every decoding step)."""
    runtime = runtime_of(cell)
    key = (cell.hidden_size, cell.output_size)
    if runtime.layout is None or runtime.layout[0] != key:
        runtime.layout = (key, state_layout(cell, device=x.device, dtype=x.dtype))
    return runtime.layout[1]


def _initial_state(layers: Sequence[Sequence[Cell]], state: State | None, batch: int, x: Tensor, who: str) -> State:
    """Return the state as tensors ``(L*D, B, width_i)``, zeros when ``state`` is None.

    The state's structure is the first cell's :meth:`~Cell.initial_state` (every cell of a
    stack has the same; the topology checks that when it builds them).
    """
    cell = layers[0][0]
    rows = len(layers) * len(layers[0])
    with cell_errors(cell, "initial_state"):
        widths = _layout(cell, x)
        if state is None:
            zeros = cell.initial_state(batch, device=x.device, dtype=x.dtype)
    if state is None:
        return tuple(z.unsqueeze(0).expand(rows, *z.shape).contiguous() for z in zeros)
    if isinstance(state, Tensor):
        state = (state,)
    expected = [(rows, batch, w) for w in widths]
    got = [tuple(s.shape) if isinstance(s, Tensor) else type(s).__name__ for s in state]
    if got != expected:
        shapes = f"shape {expected[0]}" if len(set(expected)) == 1 else f"shapes {', '.join(map(str, expected))}"
        raise DataError(
            f"{who}: expected an initial state of {len(widths)} tensor(s) of {shapes} "
            f"(layers*directions, B, width), as {type(cell).__name__}.initial_state gives; got {got}"
        )
    return tuple(state)


def _loop_stack(
    layers: Sequence[Sequence[Cell]],
    data: Tensor,
    batch_sizes: Tensor,
    sorted_lengths: Tensor,
    state: State,
    dropout: float,
    training: bool,
    compile: bool,
    fused: bool = True,
) -> tuple[Tensor, State]:
    """Run each layer and direction with the generic loop (or, where ``fused``, a layer
    whose cells have a fused kernel in that kernel)."""
    sizes = batch_sizes.tolist()
    hoist_plans(
        [
            cell
            for layer in layers
            if not (fused and fused_mode_of([layer]))
            for cell in layer
            if not overrides_input_projection(cell)
        ]
    )  # made together: one notice per class and reason
    reverse: Tensor | None = None
    finals: list[list[Tensor]] = [[] for _ in state]
    for index, layer in enumerate(layers):
        if index > 0 and dropout > 0:
            data = F.dropout(data, dropout, training)
        row = index * len(layer)
        layer_state = tuple(s[row : row + len(layer)] for s in state)
        mode = fused_mode_of([layer]) if fused else None
        if mode is not None:
            data, final = run_fused(mode, [layer], data, batch_sizes, layer_state, 0.0, training)
            for i, f in enumerate(final):
                finals[i].append(f)
            continue
        outputs = []
        for direction, cell in enumerate(layer):
            cell_state = tuple(s[direction] for s in layer_state)
            if direction == 1:
                if reverse is None:
                    reverse = reverse_permutation(batch_sizes, sorted_lengths).to(data.device)
                with cell_errors(cell, "forward"):
                    out, final = unroll_packed(cell, data[reverse], sizes, cell_state, compile=compile)
                out = out[reverse]
            else:
                with cell_errors(cell, "forward"):
                    out, final = unroll_packed(cell, data, sizes, cell_state, compile=compile)
            outputs.append(out)
            for i, f in enumerate(final):
                finals[i].append(f.unsqueeze(0))
        data = outputs[0] if len(outputs) == 1 else torch.cat(outputs, 1)
    return data, tuple(torch.cat(f, 0) for f in finals)


def _one_step(
    layers: Sequence[Sequence[Cell]], x: Tensor, state: State, dropout: float, training: bool
) -> tuple[Tensor, State]:
    """One time step ``x (B, 1, F)`` through every layer's cells, each cell called once.

    A step-by-step decoder calls the stack one token at a time. On CPU, torch's fused
    kernels carry a per-call cost that one step cannot share out: oneDNN's LSTM takes about
    2.5 times as long forward, and 3 times as long forward and backward, as the cell's own
    step (B 64, 512 units, 1 thread), and sampling from the ``lm`` recipe's model runs 1.8
    times as fast at batch 1 this way (``benchmarks/results/one_step.md``).
    """
    data = x[:, 0]
    finals: list[list[Tensor]] = [[] for _ in state]
    for index, layer in enumerate(layers):
        if index > 0 and dropout > 0:
            data = F.dropout(data, dropout, training)
        row = index * len(layer)
        outputs = []
        for direction, cell in enumerate(layer):
            with cell_errors(cell, "forward"):
                out, new = cell(data, tuple(s[row + direction] for s in state))
            outputs.append(out)
            for i, s in enumerate(new):
                finals[i].append(s)
        data = outputs[0] if len(outputs) == 1 else torch.cat(outputs, 1)
    return data.unsqueeze(1), tuple(torch.stack(f) for f in finals)


def _with_gradients(layers: Sequence[Sequence[Cell]], x: Tensor) -> bool:
    """Whether gradients will flow through this call."""
    if not torch.is_grad_enabled():
        return False
    return x.requires_grad or any(p.requires_grad for layer in layers for cell in layer for p in cell.parameters())


def _variable_path(mode: str, layers: Sequence[Sequence[Cell]], x: Tensor, lengths: Tensor) -> list[Segments] | str:
    """How a stack of built-in cells runs variable lengths: spans of torch's unpacked kernel
    (per layer), ``"loop"`` or ``"packed"`` (:func:`~seqframe.rnn.paths.choose_path` on CPU).

    CUDA keeps cuDNN's packed kernels, which handle variable lengths natively.
    """
    if x.device.type != "cpu":
        return "packed"
    sizes = [(layer[0].input_size, layer[0].output_size, layer[0].hidden_size) for layer in layers]
    reduced = kernel_dtype(x) in (torch.bfloat16, torch.float16)
    return choose_path(sorted_lengths(lengths), mode, sizes, _with_gradients(layers, x), reduced)


def run_stack(
    layers: Sequence[Sequence[Cell]],
    x: Tensor,
    lengths: Tensor | Sequence[int] | None = None,
    state: State | None = None,
    *,
    dropout: float = 0.0,
    training: bool = False,
    who: str = "rnn",
    compile: bool = False,
) -> tuple[Tensor, State]:
    """Unroll ``L`` layers of ``D`` cells over a padded batch.

    Layer ``l+1`` reads layer ``l``'s outputs (both directions concatenated). The backward
    direction starts at each sequence's own last real token. Output positions at or past a
    sequence's length are exactly zero and receive no gradient.

    Args:
        layers: ``L`` lists of 1 or 2 cells (forward, backward).
        x: input ``(B, T, F)``.
        lengths: real length of each sequence ``(B,)`` (any int dtype or device), or None
            for all ``T``.
        state: initial state, tensors ``(L*D, B, width_i)`` in the caller's order (the
            structure of the cells' ``initial_state``), or None for zeros.
        dropout: dropout probability on the outputs of every layer but the last.
        training: whether dropout is active.
        who: name used in error messages.
        compile: run cells without a fused kernel in torch.compile'd chunks of steps.

    Returns:
        ``outputs (B, T, D*output_size)`` and the final state, tensors ``(L*D, B, width_i)``: each
        sequence's state after its own last real step (backward: after its first step).

    Raises:
        DataError: for wrong shapes or lengths outside ``[1, T]``.
    """
    first = layers[0][0]
    given = lengths is not None
    lengths = check_inputs(x, lengths, first.input_size, who)
    batch, steps = x.shape[0], x.shape[1]
    state = _initial_state(layers, state, batch, x, who)
    directions = len(layers[0])
    out_size = directions * layers[-1][0].output_size
    if batch == 0:
        return x.new_zeros(0, steps, out_size), state
    mode = fused_mode_of(layers)
    if mode is not None and steps == 1 and x.device.type == "cpu":
        return _one_step(layers, x, state, dropout, training)
    if mode is not None and (not given or bool((lengths == steps).all())):
        # Equal lengths: torch's unpacked kernel (oneDNN for LSTM on CPU), no packing.
        return run_fused(mode, layers, x, None, state, dropout, training)
    path = _variable_path(mode, layers, x, lengths) if mode is not None else "loop"
    if mode is not None and not isinstance(path, str):  # spans come only with a fused mode
        return run_segmented(mode, layers, x, lengths, state, path, dropout, training)
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    sorted_idx, unsorted_idx = packed.sorted_indices, packed.unsorted_indices
    assert sorted_idx is not None and unsorted_idx is not None
    state = tuple(s.index_select(1, sorted_idx.to(s.device)) for s in state)
    final: State
    if path == "packed":
        assert mode is not None
        data, final = run_fused(mode, layers, packed.data, packed.batch_sizes, state, dropout, training)
        out = PackedSequence(data, packed.batch_sizes, sorted_idx, unsorted_idx)
        outputs, _ = pad_packed_sequence(out, batch_first=True, total_length=steps)
    else:
        # The loop: cells without one shared kernel, or built-in cells where it is cheaper.
        # In a mixed stack, layers with a kernel take it, except on CPU with gradients
        # (the packed kernels' backward is slow there).
        fused = mode is None and (x.device.type != "cpu" or not _with_gradients(layers, x))
        data, final = _loop_stack(
            layers,
            packed.data,
            packed.batch_sizes,
            lengths[sorted_idx.cpu()],
            state,
            dropout,
            training,
            compile,
            fused=fused,
        )
        outputs = padded_from_packed(data, packed.batch_sizes, unsorted_idx, steps)
    final = tuple(f.index_select(1, unsorted_idx.to(f.device)) for f in final)
    return outputs, final
