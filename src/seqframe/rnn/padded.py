"""Variable lengths through torch's *unpacked* fused kernels, with packed semantics.

On CPU the unpacked kernels (oneDNN for LSTM, ATen's loops for GRU and tanh-RNN) are
several times faster than the packed ones with gradients. Here a batch of variable lengths
runs through them span by span (:mod:`seqframe.rnn.segments`), time-major, rows sorted by
decreasing length, and the result is exactly what packed sequences give:

- outputs at and past each sequence's length are zero and pass no gradient (rows carried
  past their ends inside a span are masked; their padded inputs are zeroed first, so
  nothing non-finite in the padding can reach a gradient);
- the final state is each sequence's own: ``h`` is read from the outputs at the
  sequence's last step; an LSTM reads a padding flag as one more input feature, which
  drives its forget gate to exactly 1 and its input gate to exactly 0 at every step past
  a row's end, so the memory cell ``c`` of a row carried past its end stays its own and
  is the kernel's final state at the span's end (no gradient flows through the frozen
  steps: the saturated gates' derivatives are exactly 0);
- the backward direction reads every sequence reversed within its own length (one gather
  before the layer, the same one after it), so it starts at each sequence's last token.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

from seqframe.interfaces import Cell, State
from seqframe.rnn.fused import run_fused
from seqframe.rnn.kernels import kernel_of
from seqframe.rnn.segments import Segments

__all__ = ["flag_columns", "kernel_dtype", "run_segmented", "sorted_lengths"]


class _Batch:
    """Row order and index tensors shared by every layer and direction of one call.

    Rows are sorted by decreasing length so that each span runs a prefix of them; when
    every layer runs one span over all rows, they keep the caller's order (no sort, no
    gathers of the inputs, outputs and states).
    """

    def __init__(self, lengths: Tensor, device: torch.device, sort: bool) -> None:
        batch = lengths.numel()
        order = torch.argsort(lengths, descending=True, stable=True) if sort else None
        self.lengths = lengths[order] if order is not None else lengths
        self.order = order.to(device) if order is not None else None
        self.inverse = torch.argsort(order).to(device) if order is not None else None
        self.last = ((self.lengths - 1) * batch + torch.arange(batch)).to(device)  # flat index of each last step
        self._flip: Tensor | None = None
        self.steps = steps = int(self.lengths.max())
        # (S, B, 1): the steps at and past each sorted row's end; the same after a flip
        padding = torch.arange(steps)[:, None] >= self.lengths[None, :]
        self.padding = padding.unsqueeze(-1).to(device)
        # flat indices (s * B + b) of those steps: zeroing them is an index_fill_ over a
        # quarter of the rows, several times faster than a masked_fill broadcast over all
        self.padded_rows = padding.flatten().nonzero().flatten().to(device)
        self.device = device

    def zero_padding(self, data: Tensor) -> Tensor:
        """``data (S, B, F)``, contiguous and owned by the caller, zeroed in place at the
        padded steps."""
        data.view(-1, data.shape[-1]).index_fill_(0, self.padded_rows, 0.0)
        return data

    def flagged(self, data: Tensor, zero: bool) -> Tensor:
        """A new ``data (S, B, F + flag_columns(F))``: zero columns, then the padding flag (1.0
        past a row's end) as the last feature; its other features zeroed at the padded steps
        when ``zero``."""
        zeros = flag_columns(data.shape[-1]) - 1
        parts = [data, data.new_zeros(*data.shape[:2], zeros), self.padding.to(data.dtype)]
        flagged = torch.cat(parts if zeros else parts[::2], 2)
        if zero:  # zero the padded steps, flag included, then set the flag again
            rows = self.zero_padding(flagged).view(-1, flagged.shape[-1])
            rows[:, -1].index_fill_(0, self.padded_rows, 1.0)
        return flagged

    def flip(self, data: Tensor) -> Tensor:
        """Reverse every sequence of time-major ``data`` within its own length (an involution)."""
        if self._flip is None:
            steps, batch = self.steps, self.lengths.numel()
            time = torch.arange(steps)[:, None]
            reverse = torch.where(time < self.lengths[None, :], self.lengths[None, :] - 1 - time, time)
            self._flip = (reverse * batch + torch.arange(batch)[None, :]).flatten().to(self.device)
        return data.flatten(0, 1).index_select(0, self._flip).view(data.shape)


def _rows(data: Tensor, order: Tensor | None) -> Tensor:
    """``data (S, B, ...)`` with its rows in ``order`` (None: as they are)."""
    return data if order is None else data.index_select(1, order)


def sorted_lengths(lengths: Tensor) -> list[int]:
    """``lengths`` in decreasing order, as the plans of :func:`run_segmented` take them."""
    return sorted(lengths.tolist(), reverse=True)


def run_segmented(
    mode: str,
    layers: Sequence[Sequence[Cell]],
    x: Tensor,
    lengths: Tensor,
    state: State,
    plans: Sequence[Segments],
    dropout: float,
    training: bool,
) -> tuple[Tensor, State]:
    """Run a stack of cells of one fused ``mode`` over a padded batch, span by span.

    Args:
        mode: the cells' fused mode.
        layers: ``L`` lists of ``D`` cells.
        x: batch-first input ``(B, T, F)``.
        lengths: CPU int64 ``(B,)``, each in ``[1, T]``.
        state: tensors ``(L*D, B, width_i)`` in the caller's row order.
        plans: per layer, the spans (made from :func:`sorted_lengths`).
        dropout: dropout on the outputs of every layer but the last.
        training: whether dropout is active.

    Returns:
        Batch-first outputs ``(B, T, D*output_size)`` and the final state, as
        :func:`~seqframe.rnn.run_stack` returns them.
    """
    total = x.shape[1]
    dtype = kernel_dtype(x)
    shared = _Batch(lengths, x.device, sort=any(len(plan.spans) > 1 for plan in plans))
    steps = shared.steps
    data = _rows(x.transpose(0, 1)[:steps], shared.order)  # (S, B, F), sorted rows
    zero = plans[0].carried  # what a carried row reads past its end must be finite: zeros
    if zero and mode != "LSTM":  # an LSTM zeroes them as it appends the flag
        data = shared.zero_padding(data.clone(memory_format=torch.contiguous_format))
    state = tuple(_rows(s, shared.order) for s in state)
    finals: list[list[Tensor]] = [[] for _ in state]
    directions = len(layers[0])
    for index, (layer, plan) in enumerate(zip(layers, plans)):
        if index > 0 and dropout > 0:
            data = F.dropout(data, dropout, training)
        outputs = []
        forward = shared.flagged(data, zero and index == 0) if mode == "LSTM" else data  # the same after a flip
        if mode == "LSTM" and forward.dtype != dtype:  # autocast: cast once here rather than in every span's call
            forward = forward.to(dtype)
        for direction, cell in enumerate(layer):
            row = index * directions + direction
            inputs = forward if direction == 0 else shared.flip(forward)
            out, final = _direction(mode, cell, inputs, plan, shared, tuple(s[row] for s in state))
            outputs.append(out if direction == 0 else shared.flip(out))
            for i, f in enumerate(final):
                finals[i].append(f)
        data = outputs[0] if directions == 1 else torch.cat(outputs, 2)
    if steps < total:
        data = F.pad(data, (0, 0, 0, 0, 0, total - steps))
    out = _rows(data, shared.inverse).transpose(0, 1)
    return out, tuple(_rows(torch.stack(f, 0), shared.inverse) for f in finals)


class _Finish(torch.autograd.Function):
    """``(outputs zeroed past each row's end, h at each row's last step)`` from the raw
    kernel outputs ``(S, B, O)``, with one backward: the outputs' gradient, zeroed past the
    ends, plus ``h``'s gradient added at the last steps (autograd's own would build a zero
    tensor of the outputs' size for the gather and sum the two)."""

    @staticmethod
    def forward(ctx: Any, raw: Tensor, padded_rows: Tensor, last: Tensor) -> tuple[Tensor, Tensor]:
        ctx.save_for_backward(padded_rows, last)
        ctx.shape = raw.shape
        return _finished(raw.clone(), padded_rows, last)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor | None, grad_h: Tensor | None) -> tuple[Tensor, None, None]:
        padded_rows, last = ctx.saved_tensors
        if grad_out is None:
            assert grad_h is not None
            grad = grad_h.new_zeros(ctx.shape)
        else:
            grad = grad_out.clone(memory_format=torch.contiguous_format)
            grad.view(-1, grad.shape[-1]).index_fill_(0, padded_rows, 0.0)
        if grad_h is not None:
            grad.view(-1, grad.shape[-1]).index_add_(0, last, grad_h)
        return grad, None, None


def _finished(raw: Tensor, padded_rows: Tensor, last: Tensor) -> tuple[Tensor, Tensor]:
    """``raw (S, B, O)`` (contiguous, owned) zeroed in place at ``padded_rows``, and the
    rows ``last`` of it (read first)."""
    flat = raw.view(-1, raw.shape[-1])
    h = flat.index_select(0, last)
    flat.index_fill_(0, padded_rows, 0.0)
    return raw, h


def kernel_dtype(x: Tensor) -> torch.dtype:
    """The dtype torch's fused kernels will compute in for inputs ``x``: autocast's where it
    is on for ``x``'s device, else ``x``'s own."""
    device = x.device.type
    return torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else x.dtype


def flag_columns(features: int) -> int:
    """Columns appended to an LSTM's ``features`` inputs: the padding flag, after the zeros
    that round the width up to a multiple of 8. oneDNN's bf16 kernels take a slow path for
    other widths: 513 inputs cost 2.4x what 512 or 520 do forward and backward, 257 5x
    (``benchmarks/results/bf16.md``)."""
    return 1 + (-(features + 1)) % 8


_FROZEN = 1.0e4
"""Pre-activation the padding flag adds to an LSTM's forget gate (and subtracts from its input
gate): ``sigmoid`` saturates to exactly 1 and 0 there in fp32, bf16 and fp16, and the
derivatives ``s * (1 - s)`` are exactly 0."""


def _frozen_weights(cell: Cell) -> tuple[list[Tensor], bool]:
    """The LSTM kernel's weights with :func:`flag_columns` more input columns, zero but the
    last, read by the padding flag: ``-_FROZEN`` for the input gate, ``+_FROZEN`` for the
    forget gate, 0 for the others (torch's gate order ``i, f, g, o``); and whether they
    include biases."""
    kernel = kernel_of(cell)
    assert kernel is not None
    weights = kernel.weights()
    w_ih = weights[0]
    hidden = w_ih.shape[0] // 4
    columns = w_ih.new_zeros(4 * hidden, flag_columns(w_ih.shape[1]))
    columns[:hidden, -1], columns[hidden : 2 * hidden, -1] = -_FROZEN, _FROZEN
    return [torch.cat([w_ih, columns], 1), *weights[1:]], kernel.bias


def _direction(
    mode: str, cell: Cell, data: Tensor, plan: Segments, shared: _Batch, state: State
) -> tuple[Tensor, State]:
    """One layer and direction over time-major sorted ``data`` ``(S, B, F)``.

    An LSTM reads ``data`` with the padding flag appended (:meth:`_Batch.flagged`) through
    :func:`_frozen_weights`: at a step past a row's end its forget gate is exactly 1 and its
    input gate exactly 0, so its memory cell stays what it was at the row's own last step
    (and no gradient reaches the weights from there); each span's final ``c`` of the rows
    that end inside it is therefore their own.
    """
    batch = data.shape[1]
    outputs, ended = [], []
    current = state
    lstm = len(state) == 2
    weights, bias = _frozen_weights(cell) if lstm else (None, False)
    if weights is not None and data.dtype != weights[0].dtype:  # autocast: cast the weights once, not every span
        weights = [w.to(data.dtype) for w in weights]
    for span, (start, end, rows) in enumerate(plan.spans):
        current = tuple(s[:rows] for s in current)
        hx = tuple(s.unsqueeze(0) for s in current)
        if weights is None:
            out, new = run_fused(mode, [[cell]], data[start:end, :rows], None, hx, 0.0, False, batch_first=False)
        else:
            out, h_n, c_n = torch._VF.lstm(data[start:end, :rows], hx, weights, bias, 1, 0.0, False, False, False)
            new = (h_n, c_n)
        current = tuple(s.squeeze(0) for s in new)
        ended.append(tuple(s[plan.active[span + 1] :] for s in current))
        outputs.append(out)
    raw = _assembled(outputs, plan, batch)
    if plan.carried and torch.is_grad_enabled() and raw.requires_grad:
        out, h = _Finish.apply(raw, shared.padded_rows, shared.last)  # type: ignore[no-untyped-call]
    elif plan.carried:  # nothing needs the kernel's own outputs: zero them in place
        out, h = _finished(raw.contiguous(), shared.padded_rows, shared.last)
    else:  # nothing to zero: outputs as they are
        out, h = raw, raw.flatten(0, 1).index_select(0, shared.last)
    if not lstm:
        return out, (h,)
    c = torch.cat([memory for _, memory in reversed(ended)], 0)
    return out, (h, c.to(raw.dtype))  # the kernel's dtype, also under autocast


def _assembled(outputs: list[Tensor], plan: Segments, batch: int) -> Tensor:
    """The spans' outputs ``(end - start, rows, O)`` as one ``(S, B, O)``, zero where a
    span has fewer rows: with gradients by padding and concatenating (a backward of views),
    without by copying into one tensor and zeroing the rest (no intermediate copies)."""
    if len(outputs) == 1 and outputs[0].shape[1] == batch:
        return outputs[0]
    if torch.is_grad_enabled() and any(out.requires_grad for out in outputs):
        return torch.cat(
            [out if out.shape[1] == batch else F.pad(out, (0, 0, 0, batch - out.shape[1])) for out in outputs], 0
        )
    first = outputs[0]
    raw = first.new_empty(plan.steps, batch, first.shape[2])
    for (start, end, rows), out in zip(plan.spans, outputs):
        raw[start:end, :rows] = out
        raw[start:end, rows:] = 0.0  # only what no span wrote
    return raw
