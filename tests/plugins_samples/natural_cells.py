"""Cells written as a plugin author would from the README: ``forward`` only, ``h, c = state``,
no ``state_size``, no declared projection; some with state tensors of different widths and
an output narrower than the memory. Registered through ``seqframe_cells`` like any plugin."""

import torch
from torch import nn

import seqframe


class CIFGCell(seqframe.Cell):
    """LSTM with a coupled input/forget gate; ``(h, c)`` from its own initial_state."""

    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size)
        self.x2g = nn.Linear(input_size, 3 * hidden_size)
        self.h2g = nn.Linear(hidden_size, 3 * hidden_size, bias=False)

    def initial_state(self, batch_size, *, device=None, dtype=None):
        device = self.x2g.weight.device if device is None else device
        dtype = self.x2g.weight.dtype if dtype is None else dtype
        zeros = torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)
        return zeros, zeros.clone()

    def forward(self, x_t, state):
        h, c = state
        f, g, o = (self.x2g(x_t) + self.h2g(h)).chunk(3, 1)
        f = torch.sigmoid(f)
        c = f * c + (1 - f) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c)


class ProjectedCell(seqframe.Cell):
    """LSTM with a projection, one linear over ``cat([x_t, h])``: ``h`` has ``output_size =
    max(1, hidden_size // 2)`` features, the memory ``c`` has ``hidden_size``."""

    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size)
        self.output_size = max(1, hidden_size // 2)
        self.gates = nn.Linear(input_size + self.output_size, 4 * hidden_size)
        self.proj = nn.Linear(hidden_size, self.output_size, bias=False)

    def initial_state(self, batch_size, *, device=None, dtype=None):
        like = self.gates.weight
        kw = {"device": like.device if device is None else device, "dtype": like.dtype if dtype is None else dtype}
        return torch.zeros(batch_size, self.output_size, **kw), torch.zeros(batch_size, self.hidden_size, **kw)

    def forward(self, x_t, state):
        h, c = state
        i, f, g, o = self.gates(torch.cat([x_t, h], 1)).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = self.proj(torch.sigmoid(o) * torch.tanh(c))
        return h, (h, c)


class DeclaredProjectedCell(ProjectedCell):
    """:class:`ProjectedCell` with its input part declared (``project_input``/``step_projected``)."""

    def project_input(self, x):
        return nn.functional.linear(x, self.gates.weight[:, : self.input_size], self.gates.bias)

    def step_projected(self, xp_t, state):
        h, c = state
        i, f, g, o = (xp_t + nn.functional.linear(h, self.gates.weight[:, self.input_size :])).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = self.proj(torch.sigmoid(o) * torch.tanh(c))
        return h, (h, c)


class SingleCell(seqframe.Cell):
    """Elman with ``(h,) = state`` and separate linears."""

    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size)
        self.inp = nn.Linear(input_size, hidden_size)
        self.rec = nn.Linear(hidden_size, hidden_size, bias=False)

    def forward(self, x_t, state):
        (h,) = state
        h = torch.tanh(self.inp(x_t) + self.rec(h))
        return h, (h,)


class FiveStateCell(seqframe.Cell):
    """A state of five tensors of three widths (any arity is traced)."""

    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size)
        self.inp = nn.Linear(input_size, hidden_size)
        self.rec = nn.Linear(hidden_size, hidden_size)
        self.mix = nn.Linear(hidden_size + 2 + 3, hidden_size)

    def initial_state(self, batch_size, *, device=None, dtype=None):
        kw = {
            "device": self.inp.weight.device if device is None else device,
            "dtype": self.inp.weight.dtype if dtype is None else dtype,
        }
        widths = (self.hidden_size, 2, 3, self.hidden_size, 2)
        return tuple(torch.zeros(batch_size, w, **kw) for w in widths)

    def forward(self, x_t, state):
        h, a, b, m, k = state
        h = torch.tanh(self.inp(x_t) + self.rec(h) + self.mix(torch.cat([m, a, b], 1)))
        return h, (h, torch.tanh(a + b[:, :2]), torch.sigmoid(b), 0.5 * (m + h), k + 1)


@seqframe.hookimpl
def seqframe_cells():
    return {
        "cifg": CIFGCell,
        "projected": ProjectedCell,
        "declared_projected": DeclaredProjectedCell,
        "single": SingleCell,
        "five_state": FiveStateCell,
    }
