"""Built-in cells: ``elman``, ``lstm`` and ``gru``.

Parameters use torch's names and layout (``weight_ih``, ``weight_hh``, ``bias_ih``,
``bias_hh``; LSTM gates ``i, f, g, o``; GRU gates ``r, z, n``), so the runtime can run them
in torch's fused kernels and weights copy one-to-one from ``nn.RNN``/``nn.LSTM``/``nn.GRU``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from seqframe.hookspecs import hookimpl
from seqframe.interfaces import Cell, State

__all__ = ["ElmanCell", "GRUCell", "LSTMCell"]


class _GatedWeights(Cell):
    """Shared parameter set-up: ``gates`` blocks of ``hidden_size`` rows, torch-style init."""

    gates: ClassVar[int] = 1
    mode: ClassVar[str] = ""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(input_size, hidden_size)
        rows = self.gates * hidden_size
        kw: dict[str, Any] = {"device": device, "dtype": dtype}
        self.output_size = self._output_width()
        self.weight_ih = nn.Parameter(torch.empty(rows, input_size, **kw))
        self.weight_hh = nn.Parameter(torch.empty(rows, self.output_size, **kw))
        self.bias = bias
        if bias:
            self.bias_ih: nn.Parameter | None = nn.Parameter(torch.empty(rows, **kw))
            self.bias_hh: nn.Parameter | None = nn.Parameter(torch.empty(rows, **kw))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self._more_parameters(kw)
        self.reset_parameters()

    def _output_width(self) -> int:
        """Width of ``h_t`` (and of ``weight_hh``'s columns): ``hidden_size`` unless projected."""
        return self.hidden_size

    def _more_parameters(self, kw: dict[str, Any]) -> None:
        """Parameters after torch's four, in torch's order (the LSTM's ``weight_hr``)."""

    def reset_parameters(self) -> None:
        """Uniform(-1/sqrt(H), 1/sqrt(H)) for every parameter, as torch's RNNs do."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            nn.init.uniform_(weight, -bound, bound)

    @property
    def fused_mode(self) -> str | None:  # type: ignore[override]
        # A subclass may change the step; only the exact built-in class is fused.
        return self.mode if type(self) in _BUILTIN_TYPES else None

    def project_input(self, x: Tensor) -> Tensor:
        """``W_ih x + b_ih`` for any leading shape ``(..., F) -> (..., gates*H)``."""
        return F.linear(x, self.weight_ih, self.bias_ih)

    def _project_both_biases(self, x: Tensor) -> Tensor:
        """``W_ih x + b_ih + b_hh``: both biases folded into the hoisted projection, so the
        per-step part is one ``addmm`` (see :meth:`_recurrent`)."""
        bias = None if self.bias_ih is None or self.bias_hh is None else self.bias_ih + self.bias_hh
        return F.linear(x, self.weight_ih, bias)

    def _recurrent(self, xp_t: Tensor, h: Tensor) -> Tensor:
        """``xp_t + W_hh h`` as one fused multiply-add."""
        return torch.addmm(xp_t, h, self.weight_hh.t())

    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        return self.step_projected(self.project_input(x_t), state)

    def extra_repr(self) -> str:
        return super().extra_repr() + ("" if self.bias else ", bias=False")


class ElmanCell(_GatedWeights):
    """Elman cell: ``h_t = act(W_hh h_{t-1} + b_hh + W_ih x_t + b_ih)``.

    Equal to one linear layer over the concatenation ``[h_{t-1}; x_t]`` followed by ``act``.

    Args:
        input_size: features of ``x_t``.
        hidden_size: features of ``h_t``.
        nonlinearity: ``"tanh"`` (default) or ``"relu"``.
        bias: whether to use ``b_ih`` and ``b_hh``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        nonlinearity: str = "tanh",
        bias: bool = True,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"ElmanCell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, device=device, dtype=dtype)

    state_size = 1

    @property
    def mode(self) -> str:  # type: ignore[override]
        return "RNN_TANH" if self.nonlinearity == "tanh" else "RNN_RELU"

    @property
    def output_bound(self) -> float | None:  # type: ignore[override]
        return 1.0 if self.nonlinearity == "tanh" else None

    project_input = _GatedWeights._project_both_biases

    def step_projected(self, xp_t: Tensor, state: State) -> tuple[Tensor, State]:
        pre = self._recurrent(xp_t, state[0])
        h = torch.tanh(pre) if self.nonlinearity == "tanh" else torch.relu(pre)
        return h, (h,)

    def extra_repr(self) -> str:
        extra = "" if self.nonlinearity == "tanh" else f", nonlinearity={self.nonlinearity!r}"
        return super().extra_repr() + extra


class LSTMCell(_GatedWeights):
    """Long short-term memory cell (Hochreiter & Schmidhuber, 1997), torch's formulation.

    ``i, f, g, o = σ, σ, tanh, σ (W_ih x_t + b_ih + W_hh h + b_hh)``;
    ``c_t = f * c + i * g``; ``h_t = o * tanh(c_t)``, or with ``proj_size > 0``
    ``h_t = W_hr (o * tanh(c_t))`` (Sak et al., 2014; ``torch.nn.LSTM(proj_size=...)``).
    The state is ``(h, c)``: ``h`` of ``output_size`` (``proj_size``, or ``hidden_size``),
    ``c`` of ``hidden_size``. Either way torch's fused kernel runs it.

    Args:
        input_size: features of ``x_t``.
        hidden_size: features of ``c_t`` (and of ``h_t`` without a projection).
        bias: whether to use biases.
        proj_size: if > 0, ``h_t`` is projected to this many features (< ``hidden_size``).
    """

    state_size = 2
    gates = 4
    mode = "LSTM"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        proj_size: int = 0,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        self.proj_size = proj_size  # checked by _output_width, once the sizes are
        super().__init__(input_size, hidden_size, bias, device=device, dtype=dtype)

    def _output_width(self) -> int:
        proj = self.proj_size
        if isinstance(proj, bool) or not isinstance(proj, int) or not 0 <= proj < self.hidden_size:
            raise ValueError(
                f"LSTMCell: proj_size must be an int in [0, hidden_size={self.hidden_size}) "
                f"(0: no projection), got {proj!r}"
            )
        return proj or self.hidden_size

    def _more_parameters(self, kw: dict[str, Any]) -> None:
        if self.proj_size:
            self.weight_hr: nn.Parameter | None = nn.Parameter(torch.empty(self.proj_size, self.hidden_size, **kw))
        else:
            self.register_parameter("weight_hr", None)

    def initial_state(
        self, batch_size: int, *, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> State:
        """Zeros: ``h`` ``(batch_size, output_size)``, ``c`` ``(batch_size, hidden_size)``."""
        device = self.weight_ih.device if device is None else device
        dtype = self.weight_ih.dtype if dtype is None else dtype
        return (
            torch.zeros(batch_size, self.output_size, device=device, dtype=dtype),
            torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype),
        )

    project_input = _GatedWeights._project_both_biases

    def step_projected(self, xp_t: Tensor, state: State) -> tuple[Tensor, State]:
        h, c = state
        i, f, g, o = self._recurrent(xp_t, h).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        if self.weight_hr is not None:
            h = h @ self.weight_hr.t()
        return h, (h, c)

    @property
    def output_bound(self) -> float | None:  # type: ignore[override]
        return None if self.proj_size else 1.0  # o * tanh(c), unless projected

    def gate_activations(self, x_t: Tensor, state: State) -> dict[str, Tensor]:
        """The input, forget and output gates ``i``, ``f``, ``o``."""
        i, f, _, o = self._recurrent(self.project_input(x_t), state[0]).chunk(4, 1)
        return {"i": torch.sigmoid(i), "f": torch.sigmoid(f), "o": torch.sigmoid(o)}

    def extra_repr(self) -> str:
        return super().extra_repr().replace(f", output_size={self.output_size}", "") + (
            f", proj_size={self.proj_size}" if self.proj_size else ""
        )


class GRUCell(_GatedWeights):
    """Gated recurrent unit (Cho et al., 2014), torch's formulation.

    ``r = σ(x_r + h_r)``, ``z = σ(x_z + h_z)``, ``n = tanh(x_n + r * h_n)``,
    ``h_t = (1 - z) * n + z * h`` where ``x_* = W_i* x_t + b_i*`` and ``h_* = W_h* h + b_h*``.

    Args:
        input_size: features of ``x_t``.
        hidden_size: features of ``h_t``.
        bias: whether to use biases.
    """

    state_size = 1
    gates = 3
    mode = "GRU"
    output_bound = 1.0  # a mix of tanh candidates and the zero initial state

    def gate_activations(self, x_t: Tensor, state: State) -> dict[str, Tensor]:
        """The reset and update gates ``r``, ``z``."""
        x_r, x_z, _ = self.project_input(x_t).chunk(3, 1)
        h_r, h_z, _ = F.linear(state[0], self.weight_hh, self.bias_hh).chunk(3, 1)
        return {"r": torch.sigmoid(x_r + h_r), "z": torch.sigmoid(x_z + h_z)}

    def step_projected(self, xp_t: Tensor, state: State) -> tuple[Tensor, State]:
        h = state[0]
        x_r, x_z, x_n = xp_t.chunk(3, 1)
        h_r, h_z, h_n = F.linear(h, self.weight_hh, self.bias_hh).chunk(3, 1)
        r = torch.sigmoid(x_r + h_r)
        z = torch.sigmoid(x_z + h_z)
        n = torch.tanh(x_n + r * h_n)
        h = n + z * (h - n)
        return h, (h,)


_BUILTIN_TYPES = (ElmanCell, LSTMCell, GRUCell)


@hookimpl
def seqframe_cells() -> Mapping[str, type[Cell]]:
    """Built-in cells."""
    return {"elman": ElmanCell, "lstm": LSTMCell, "gru": GRUCell}
