"""Variable lengths through torch's *unpacked* fused kernels, with packed semantics.

On CPU the unpacked kernels (oneDNN for LSTM, ATen's loops for GRU and tanh-RNN) are
several times faster than the packed ones with gradients. Here a batch of variable lengths
runs through them span by span (:mod:`seqframe.rnn.segments`), time-major, rows sorted by
decreasing length, and the result is exactly what packed sequences give:

- outputs at and past each sequence's length are zero and pass no gradient (rows carried
  past their ends inside a span are masked; their padded inputs are zeroed first, so
  nothing non-finite in the padding can reach a gradient);
- the final state is each sequence's own: ``h`` is read from the outputs at the
  sequence's last step; an LSTM's memory cell ``c`` is the kernel's state at a span's end
  for rows ending there, and for rows carried past their ends it is recomputed from the
  kernel's own ``h`` outputs (the gates of the few steps since the span's start in one
  batched product, then ``c = f * c + i * g`` per step), which is the same function of the
  same values, so its gradients are exact too;
- the backward direction reads every sequence reversed within its own length (one gather
  before the layer, the same one after it), so it starts at each sequence's last token.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.nn import functional as F

from seqframe.interfaces import Cell, State
from seqframe.rnn.fused import run_fused
from seqframe.rnn.kernels import kernel_of
from seqframe.rnn.segments import Segments

__all__ = ["run_segmented", "sorted_lengths"]


class _Batch:
    """Row order and index tensors shared by every layer and direction of one call."""

    def __init__(self, lengths: Tensor, device: torch.device) -> None:
        order = torch.argsort(lengths, descending=True, stable=True)
        self.lengths = lengths[order]
        batch = lengths.numel()
        self.order = order.to(device)
        self.inverse = torch.argsort(order).to(device)
        self.last = ((self.lengths - 1) * batch + torch.arange(batch)).to(device)  # flat index of each last step
        self._flip: Tensor | None = None
        self._carried: dict[tuple[int, ...], _Carried] = {}
        self.device = device

    def carried(self, plan: Segments) -> _Carried:
        """The carried rows of ``plan`` (made once per plan)."""
        if plan.bounds not in self._carried:
            self._carried[plan.bounds] = _Carried(plan, self.device)
        return self._carried[plan.bounds]

    def flip(self, data: Tensor) -> Tensor:
        """Reverse every sequence of time-major ``data`` within its own length (an involution)."""
        if self._flip is None:
            steps, batch = int(self.lengths[0]), self.lengths.numel()
            time = torch.arange(steps)[:, None]
            reverse = torch.where(time < self.lengths[None, :], self.lengths[None, :] - 1 - time, time)
            self._flip = (reverse * batch + torch.arange(batch)[None, :]).flatten().to(self.device)
        return data.flatten(0, 1).index_select(0, self._flip).view(data.shape)


def _zeroed(data: Tensor, rows: Tensor) -> Tensor:
    """``data (S, B, F)`` with the flat time-major rows ``rows`` set to zero."""
    return data.flatten(0, 1).index_fill(0, rows, 0.0).view(data.shape)


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
    shared = _Batch(lengths, x.device)
    steps = int(shared.lengths[0])
    data = x.transpose(0, 1)[:steps].index_select(1, shared.order)  # (S, B, F), sorted rows
    if plans[0].carried:  # what a carried row reads past its end must be finite: zeros
        data = _zeroed(data, shared.carried(plans[0]).padding)
    state = tuple(s.index_select(1, shared.order) for s in state)
    finals: list[list[Tensor]] = [[] for _ in state]
    directions = len(layers[0])
    for index, (layer, plan) in enumerate(zip(layers, plans)):
        if index > 0 and dropout > 0:
            data = F.dropout(data, dropout, training)
        outputs = []
        for direction, cell in enumerate(layer):
            row = index * directions + direction
            inputs = data if direction == 0 else shared.flip(data)
            out, final = _direction(mode, cell, inputs, plan, shared, tuple(s[row] for s in state))
            outputs.append(out if direction == 0 else shared.flip(out))
            for i, f in enumerate(final):
                finals[i].append(f)
        data = outputs[0] if directions == 1 else torch.cat(outputs, 2)
    if steps < total:
        data = F.pad(data, (0, 0, 0, 0, 0, total - steps))
    out = data.index_select(1, shared.inverse).transpose(0, 1)
    return out, tuple(torch.stack(f, 0).index_select(1, shared.inverse) for f in finals)


def _direction(
    mode: str, cell: Cell, data: Tensor, plan: Segments, shared: _Batch, state: State
) -> tuple[Tensor, State]:
    """One layer and direction over time-major sorted ``data`` ``(S, B, F)``."""
    batch = data.shape[1]
    outputs, entering, ended = [], [], []
    current = state
    for span, (start, end, rows) in enumerate(plan.spans):
        current = tuple(s[:rows] for s in current)
        entering.append(current)
        hx = tuple(s.unsqueeze(0) for s in current)
        out, new = run_fused(mode, [[cell]], data[start:end, :rows], None, hx, 0.0, False, batch_first=False)
        current = tuple(s.squeeze(0) for s in new)
        ended.append(tuple(s[plan.active[span + 1] : plan.reach[span]] for s in current))
        outputs.append(out)
    raw = _assembled(outputs, plan, batch)
    h = raw.flatten(0, 1).index_select(0, shared.last)
    out = _zeroed(raw, shared.carried(plan).padding) if plan.carried else raw
    if len(state) == 1:
        return out, (h,)
    carried = _memory_of_carried(cell, data, raw, shared.carried(plan), entering) if plan.carried else None
    pieces = []
    for span in reversed(range(len(ended))):
        pieces.append(ended[span][1])
        if carried is not None and span in carried:
            pieces.append(carried[span])
    return out, (h, torch.cat(pieces, 0).to(raw.dtype))  # the kernel's dtype, also under autocast


def _assembled(outputs: list[Tensor], plan: Segments, batch: int) -> Tensor:
    """The spans' outputs ``(end - start, rows, O)`` as one ``(S, B, O)``, zero where a
    span has fewer rows: with gradients by padding and concatenating (a backward of views),
    without by copying into one zeroed tensor (no intermediate copies)."""
    if len(outputs) == 1 and outputs[0].shape[1] == batch:
        return outputs[0]
    if torch.is_grad_enabled() and any(out.requires_grad for out in outputs):
        return torch.cat(
            [out if out.shape[1] == batch else F.pad(out, (0, 0, 0, batch - out.shape[1])) for out in outputs], 0
        )
    first = outputs[0]
    raw = first.new_zeros(plan.steps, batch, first.shape[2])
    for (start, end, rows), out in zip(plan.spans, outputs):
        raw[start:end, :rows] = out
    return raw


class _Carried:
    """Where the carried rows of a plan read their inputs.

    Carried row ``k`` starts at ``starts[k]`` (its span's start) with ``left[k]`` real steps
    there. Its steps are laid out left-aligned in a ``(R, longest)`` grid; :attr:`at_x` and
    :attr:`at_h` are the flat time-major rows where each cell reads ``x_t`` and ``h_{t-1}``
    (cells past a row's end read its last real step again, so every value read is finite),
    and :attr:`real` marks the real cells. :attr:`padding` lists the steps past the rows'
    ends that the kernel runs (flat time-major rows), whose outputs are zeroed.
    """

    def __init__(self, plan: Segments, device: torch.device) -> None:
        spans = [span for span in range(len(plan.reach)) if plan.carried_rows(span)]
        ranges = [plan.carried_rows(span) for span in spans]
        self.spans, self.counts = spans, [len(r) for r in ranges]
        rows = torch.tensor([row for r in ranges for row in r], dtype=torch.int64)
        starts = torch.tensor([plan.bounds[span] for span, r in zip(spans, ranges) for _ in r], dtype=torch.int64)
        ends = torch.tensor([plan.bounds[span + 1] for span, r in zip(spans, ranges) for _ in r], dtype=torch.int64)
        last = torch.tensor(plan.lengths)[rows] - 1
        batch, self.longest = len(plan.lengths), int((last + 1 - starts).max())
        steps = torch.minimum(starts[:, None] + torch.arange(self.longest), last[:, None])  # (R, longest)
        self.at_x = (steps * batch + rows[:, None]).flatten().to(device)
        self.at_h = ((steps[:, 1:] - 1).clamp(min=0) * batch + rows[:, None]).flatten().to(device)  # h_{t-1}
        self.real = (starts[:, None] + torch.arange(self.longest) <= last[:, None]).unsqueeze(-1).to(device)
        past = torch.arange(int((ends - last).max()))
        after = last[:, None] + 1 + past  # (R, most steps past an end)
        self.padding = (after * batch + rows[:, None])[after < ends[:, None]].to(device)


def _memory_of_carried(
    cell: Cell, data: Tensor, raw: Tensor, where: _Carried, entering: list[State]
) -> dict[int, Tensor]:
    """The LSTM memory cell ``c`` of every carried row at its own last step, per span.

    For a row carried in a span starting at ``s`` with ``r`` real steps left, the gates of
    steps ``s .. s+r-1`` come from ``x_t`` and ``h_{t-1}`` (the span's entering ``h``, then
    the kernel's outputs), all rows and steps in one product. Then
    ``c_r = prod(f_1..f_r) c_0 + sum_j prod(f_{j+1}..f_r) i_j g_j``, the recurrence
    ``c = f * c + i * g`` unrolled, with the products as one cumulative product over steps
    (steps past a row's end count as ``f = 1, i * g = 0``).
    """
    first = [entering[span] for span in where.spans]
    h0 = torch.cat([h[h.shape[0] - n :] for (h, _), n in zip(first, where.counts)])
    c0 = torch.cat([c[c.shape[0] - n :] for (_, c), n in zip(first, where.counts)])
    rows, steps = h0.shape[0], where.longest
    x = data.flatten(0, 1).index_select(0, where.at_x)
    h = raw.flatten(0, 1).index_select(0, where.at_h).view(rows, steps - 1, raw.shape[2])
    h = torch.cat([h0.unsqueeze(1), h], 1).flatten(0, 1)
    kernel = kernel_of(cell)
    assert kernel is not None
    weights = kernel.weights()  # W_ih, W_hh, (b_ih, b_hh)
    gates = F.linear(x, weights[0], weights[2] if kernel.bias else None) + F.linear(
        h, weights[1], weights[3] if kernel.bias else None
    )
    i, f, g, _ = gates.view(rows, steps, -1).chunk(4, 2)
    forget = torch.where(where.real, torch.sigmoid(f), 1.0)
    write = torch.where(where.real, torch.sigmoid(i) * torch.tanh(g), 0.0)
    after = torch.cumprod(forget.flip(1), 1).flip(1)  # after[:, j] = f_j * ... * f_last
    kept = torch.cat([after[:, 1:], torch.ones_like(after[:, :1])], 1)  # f_{j+1} * ... * f_last
    final = (kept * write).sum(1) + after[:, 0] * c0
    return dict(zip(where.spans, final.split(where.counts)))
