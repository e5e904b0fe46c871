"""The seqframe plugin: ``indrnn`` and ``mgu`` cells, registered through ``seqframe_cells``.

Imports only torch, :data:`seqframe.hookimpl` and :mod:`seqframe.interfaces`, as every
third-party plugin should. Both cells split their step into :meth:`project_input` (the
state-free ``W x + b``, which seqframe's runtime applies to all time steps in one matrix
multiply) and :meth:`step_projected` (the per-step rest).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from seqframe import hookimpl
from seqframe.interfaces import Cell, State

__all__ = ["IndRNNCell", "MGUCell", "seqframe_cells"]

_NONLINEARITIES = ("relu", "tanh")


class IndRNNCell(Cell):
    """Independently recurrent cell (Li et al., 2018): ``h_t = act(W x_t + b + u * h_{t-1})``.

    The recurrent weight ``u`` is a vector, so each hidden unit sees only its own past
    value (``*`` is the elementwise product). With ``relu`` and ``|u| <= 1`` gradients
    neither explode nor vanish across time, which lets IndRNNs be deep and unrolled over
    long sequences.

    Parameters: ``weight_ih`` ``(H, F)`` and ``bias_ih`` ``(H,)`` drawn like torch's RNNs
    from ``U(-1/sqrt(H), 1/sqrt(H))``; ``weight_hh`` (``u``) ``(H,)`` from ``U(0, 1)``, as
    in the paper.

    Args:
        input_size: features of ``x_t``.
        hidden_size: features of ``h_t``.
        nonlinearity: ``"relu"`` (default, as in the paper) or ``"tanh"``.
        recurrent_max_abs: if set, ``u`` is clamped to ``[-recurrent_max_abs,
            recurrent_max_abs]`` in every step (the paper's constraint on ``|u|``,
            e.g. ``2 ** 0.5`` or ``1.0``); None (default) leaves ``u`` free.
        bias: whether to use ``bias_ih``.
        device: where to create the parameters.
        dtype: parameter dtype.

    Shape:
        - x_t: ``(B, input_size)``
        - state: ``(h,)`` with ``h`` of shape ``(B, hidden_size)``
        - output: ``(h_t, (h_t,))`` with ``h_t`` of shape ``(B, hidden_size)``

    Example:
        >>> cell = IndRNNCell(8, 16, recurrent_max_abs=1.0)
        >>> h, state = cell(torch.randn(4, 8), cell.initial_state(4))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        nonlinearity: str = "relu",
        recurrent_max_abs: float | None = None,
        bias: bool = True,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(input_size, hidden_size)
        if nonlinearity not in _NONLINEARITIES:
            raise ValueError(f"IndRNNCell: nonlinearity must be 'relu' or 'tanh', got {nonlinearity!r}")
        if recurrent_max_abs is not None and (
            isinstance(recurrent_max_abs, bool)
            or not isinstance(recurrent_max_abs, (int, float))
            or not recurrent_max_abs > 0  # also rejects NaN
        ):
            raise ValueError(
                f"IndRNNCell: recurrent_max_abs must be a positive number or None, got {recurrent_max_abs!r}"
            )
        self.nonlinearity = nonlinearity
        self.recurrent_max_abs = None if recurrent_max_abs is None else float(recurrent_max_abs)
        self.bias = bias
        kw: dict[str, Any] = {"device": device, "dtype": dtype}
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size, **kw))
        self.weight_hh = nn.Parameter(torch.empty(hidden_size, **kw))
        if bias:
            self.bias_ih: nn.Parameter | None = nn.Parameter(torch.empty(hidden_size, **kw))
        else:
            self.register_parameter("bias_ih", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``W, b ~ U(-1/sqrt(H), 1/sqrt(H))`` as in torch; ``u ~ U(0, 1)``, then clamped."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        nn.init.uniform_(self.weight_ih, -bound, bound)
        if self.bias_ih is not None:
            nn.init.uniform_(self.bias_ih, -bound, bound)
        nn.init.uniform_(self.weight_hh, 0.0, 1.0)
        if self.recurrent_max_abs is not None:
            with torch.no_grad():
                self.weight_hh.clamp_(-self.recurrent_max_abs, self.recurrent_max_abs)

    @property
    def output_bound(self) -> float | None:  # type: ignore[override]
        """1.0 with ``tanh`` (diagnostics then report saturated units); None with ``relu``."""
        return 1.0 if self.nonlinearity == "tanh" else None

    def recurrent_weight(self) -> Tensor:
        """``u`` as used in the step: ``weight_hh`` clamped to ``recurrent_max_abs`` if set."""
        if self.recurrent_max_abs is None:
            return self.weight_hh
        return self.weight_hh.clamp(-self.recurrent_max_abs, self.recurrent_max_abs)

    def project_input(self, x: Tensor) -> Tensor:
        """``W x + b`` for any leading shape: ``(..., F) -> (..., H)``."""
        return F.linear(x, self.weight_ih, self.bias_ih)

    def step_projected(self, xp_t: Tensor, state: State) -> tuple[Tensor, State]:
        """One step from the projected input ``xp_t`` ``(B, H)``."""
        pre = xp_t + self.recurrent_weight() * state[0]  # (B, H)
        h = torch.relu(pre) if self.nonlinearity == "relu" else torch.tanh(pre)
        return h, (h,)

    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        """Take one step: ``(B, F)``, ``(h,)`` -> ``h_t``, ``(h_t,)``."""
        return self.step_projected(self.project_input(x_t), state)

    def extra_repr(self) -> str:
        extra = super().extra_repr()
        if self.nonlinearity != "relu":
            extra += f", nonlinearity={self.nonlinearity!r}"
        if self.recurrent_max_abs is not None:
            extra += f", recurrent_max_abs={self.recurrent_max_abs}"
        if not self.bias:
            extra += ", bias=False"
        return extra


class MGUCell(Cell):
    """Minimal gated unit (Zhou et al., 2016): a GRU with a single forget gate.

    ``f = σ(W_f x_t + U_f h + b_f)``; ``h~ = tanh(W_h x_t + U_h (f * h) + b_h)``;
    ``h_t = (1 - f) * h + f * h~`` (``*`` elementwise). One gate instead of the GRU's two
    gives about two thirds of the GRU's parameters.

    Parameters (all ``U(-1/sqrt(H), 1/sqrt(H))`` as in torch's RNNs): ``weight_ih``
    ``(2H, F)`` = ``[W_f; W_h]``, ``weight_hh`` ``(2H, H)`` = ``[U_f; U_h]`` and
    ``bias_ih`` ``(2H,)`` = ``[b_f; b_h]``.

    Args:
        input_size: features of ``x_t``.
        hidden_size: features of ``h_t``.
        bias: whether to use ``bias_ih``.
        device: where to create the parameters.
        dtype: parameter dtype.

    Shape:
        - x_t: ``(B, input_size)``
        - state: ``(h,)`` with ``h`` of shape ``(B, hidden_size)``
        - output: ``(h_t, (h_t,))`` with ``h_t`` of shape ``(B, hidden_size)``

    Example:
        >>> cell = MGUCell(8, 16)
        >>> h, state = cell(torch.randn(4, 8), cell.initial_state(4))
    """

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
        self.bias = bias
        kw: dict[str, Any] = {"device": device, "dtype": dtype}
        self.weight_ih = nn.Parameter(torch.empty(2 * hidden_size, input_size, **kw))
        self.weight_hh = nn.Parameter(torch.empty(2 * hidden_size, hidden_size, **kw))
        if bias:
            self.bias_ih: nn.Parameter | None = nn.Parameter(torch.empty(2 * hidden_size, **kw))
        else:
            self.register_parameter("bias_ih", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform(-1/sqrt(H), 1/sqrt(H)) for every parameter, as torch's RNNs do."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            nn.init.uniform_(weight, -bound, bound)

    def project_input(self, x: Tensor) -> Tensor:
        """``[W_f x + b_f; W_h x + b_h]`` for any leading shape: ``(..., F) -> (..., 2H)``."""
        return F.linear(x, self.weight_ih, self.bias_ih)

    output_bound = 1.0  # a mix of the previous h and tanh candidates, from a zero state

    def gate_activations(self, x_t: Tensor, state: State) -> dict[str, Tensor]:
        """The forget gate ``f`` (for seqframe's diagnostics: its saturation)."""
        x_f = self.project_input(x_t).chunk(2, -1)[0]
        return {"f": torch.sigmoid(x_f + F.linear(state[0], self.weight_hh.chunk(2, 0)[0]))}

    def step_projected(self, xp_t: Tensor, state: State) -> tuple[Tensor, State]:
        """One step from the projected input ``xp_t`` ``(B, 2H)``."""
        h = state[0]
        x_f, x_h = xp_t.chunk(2, -1)  # (B, H) each
        u_f, u_h = self.weight_hh.chunk(2, 0)  # (H, H) each
        f = torch.sigmoid(x_f + F.linear(h, u_f))
        candidate = torch.tanh(x_h + F.linear(f * h, u_h))
        h = h + f * (candidate - h)  # (1 - f) * h + f * candidate
        return h, (h,)

    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        """Take one step: ``(B, F)``, ``(h,)`` -> ``h_t``, ``(h_t,)``."""
        return self.step_projected(self.project_input(x_t), state)

    def extra_repr(self) -> str:
        return super().extra_repr() + ("" if self.bias else ", bias=False")


@hookimpl
def seqframe_cells() -> Mapping[str, type[Cell]]:
    """The cells of seqframe-indrnn."""
    return {"indrnn": IndRNNCell, "mgu": MGUCell}
