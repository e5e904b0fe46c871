"""Dispatch to torch's fused recurrent kernels for cells that have one.

The built-in ``elman``, ``lstm`` and ``gru`` cells hold their weights in torch's own
layout (``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``, and ``weight_hr`` for an LSTM
with a projection), so a whole stack of them runs in one call of the kernel behind
``nn.RNN``/``nn.LSTM``/``nn.GRU`` (oneDNN or ATen on CPU, cuDNN on GPU) with no copy of the
weights. A hand-written cell found equal to torch's LSTM or RNN step runs it too, with
weights taken from its own parameters (:mod:`seqframe.rnn.kernels`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import torch
from torch import Tensor

from seqframe.interfaces import Cell, State
from seqframe.rnn.kernels import kernel_of, kernels_of

__all__ = ["fused_mode_of", "run_fused"]

_KERNELS: Mapping[str, Callable[..., Any]] = MappingProxyType(
    {
        "RNN_TANH": torch._VF.rnn_tanh,
        "RNN_RELU": torch._VF.rnn_relu,
        "LSTM": torch._VF.lstm,
        "GRU": torch._VF.gru,
    }
)


def fused_mode_of(layers: Sequence[Sequence[Cell]]) -> str | None:
    """The kernel mode shared by every cell of ``layers`` (L x D), with one weight layout,
    or None (:func:`~seqframe.rnn.kernels.kernel_of`: declared or recognized)."""
    kernels = kernels_of([cell for layer in layers for cell in layer])
    if any(k is None for k in kernels):
        return None
    layouts = {(k.mode, k.bias, k.projection) for k in kernels}  # type: ignore[union-attr]
    if len(layouts) != 1:
        return None
    mode = layouts.pop()[0]
    return mode if mode in _KERNELS else None


def _flat_weights(layers: Sequence[Sequence[Cell]]) -> tuple[list[Tensor], bool]:
    weights: list[Tensor] = []
    bias = False
    for layer in layers:
        for cell in layer:
            kernel = kernel_of(cell)
            assert kernel is not None
            weights += kernel.weights()
            bias = kernel.bias
    return weights, bias


def run_fused(
    mode: str,
    layers: Sequence[Sequence[Cell]],
    x: Tensor,
    batch_sizes: Tensor | None,
    state: State,
    dropout: float,
    training: bool,
    batch_first: bool = True,
) -> tuple[Tensor, State]:
    """Run a stack in one fused call.

    Args:
        mode: a key of the kernel table (``"LSTM"``, ...).
        layers: ``L`` lists of ``D`` cells.
        x: packed data ``(N, F)`` when ``batch_sizes`` is given, else ``(B, T, F)``
            (``(T, B, F)`` when not ``batch_first``).
        batch_sizes: packed batch sizes (CPU int64), or None for equal-length input.
        state: tensors ``(L*D, B, width_i)`` in the row order of ``x`` (an LSTM with a
            projection: ``h`` of the projection's width, ``c`` of ``H``).
        dropout: dropout between layers.
        training: whether dropout is active.
        batch_first: layout of unpacked ``x`` and outputs.

    Returns:
        Outputs in the layout of ``x`` with ``D*output_size`` features, and the final state.
    """
    kernel = _KERNELS[mode]
    bidirectional = len(layers[0]) == 2
    hx: Tensor | tuple[Tensor, ...] = state if mode == "LSTM" else state[0]
    weights, bias = _flat_weights(layers)
    args = (weights, bias, len(layers), dropout, training, bidirectional)
    if batch_sizes is None:
        result = kernel(x, hx, *args, batch_first)
    else:
        result = kernel(x, batch_sizes, hx, *args)
    return result[0], tuple(result[1:])
