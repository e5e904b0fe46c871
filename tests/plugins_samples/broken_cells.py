"""Cells that break the contract, each in one way, registered like any plugin: what
``seqframe plugins check`` and the check before training must report, without a traceback."""

import torch
from torch import nn

import seqframe


class _Base(seqframe.Cell):
    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size)
        self.inp = nn.Linear(input_size, hidden_size)
        self.rec = nn.Linear(hidden_size, hidden_size, bias=False)

    def step(self, x_t, h):
        return torch.tanh(self.inp(x_t) + self.rec(h))

    def forward(self, x_t, state):
        h = self.step(x_t, state[0])
        return h, (h,)


class RaisesInInit(_Base):
    """Raises in __init__."""

    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size)
        raise RuntimeError("cannot find the gate table")


class RaisesInForward(_Base):
    """Raises in forward."""

    def forward(self, x_t, state):
        raise ZeroDivisionError("gate denominator is zero")


class WrongShape(_Base):
    """Returns h_t twice as wide as it should be."""

    def forward(self, x_t, state):
        h = self.step(x_t, state[0])
        return torch.cat([h, h], 1), (h,)


class WrongArity(_Base):
    """initial_state gives (h, c) but forward returns (h,): the report's crash at step 2."""

    def initial_state(self, batch_size, *, device=None, dtype=None):
        zeros = torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)
        return zeros, zeros.clone()


class NaNOutput(_Base):
    """Produces NaN."""

    def forward(self, x_t, state):
        h = self.step(x_t, state[0]) * float("nan")
        return h, (h,)


class FailsOnLargeBatches(_Base):
    """Passes every small check, then raises while training on a batch of more than 8 rows."""

    def forward(self, x_t, state):
        if x_t.shape[0] > 8:
            raise RuntimeError("gate table overflow")
        return super().forward(x_t, state)


class _OverflowingGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.rows = x.shape[0]
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        if ctx.rows > 8:
            raise RuntimeError("gradient table overflow")
        return grad


class FailsBackwardOnLargeBatches(_Base):
    """Passes every check before training, then raises in its backward pass on more than 8 rows."""

    def forward(self, x_t, state):
        h, new = super().forward(x_t, state)
        return _OverflowingGradient.apply(h), new


@seqframe.hookimpl
def seqframe_cells():
    return {
        "raises_init": RaisesInInit,
        "raises_forward": RaisesInForward,
        "wrong_shape": WrongShape,
        "wrong_arity": WrongArity,
        "nan_output": NaNOutput,
        "fails_large": FailsOnLargeBatches,
        "fails_backward": FailsBackwardOnLargeBatches,
    }
