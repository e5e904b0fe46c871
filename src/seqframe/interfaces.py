"""The contracts every component honours: the :class:`Cell` base class and the protocols of
topologies, heads, tokenizers, data sources and tasks. Imports only torch and the stdlib.

Shape letters used throughout seqframe: ``B`` batch, ``T`` time, ``F`` input features,
``H`` hidden size, ``D`` directions (1 or 2), ``L`` layers, ``V`` vocabulary size.
Tensors are batch-first: ``(B, T, F)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

__all__ = [
    "Cell",
    "CellFactory",
    "DataSource",
    "Head",
    "State",
    "Task",
    "Tokenizer",
    "Topology",
    "overrides_input_projection",
]

State = tuple[Tensor, ...]
"""A recurrent state: always a tuple of ``(B, H)`` tensors, ``(h,)`` or ``(h, c)``."""


class Cell(nn.Module):
    """One recurrent step, ``h_t = f(x_t, h_{t-1})``: the base class of every cell.

    A cell only has to implement :meth:`forward`. The framework unrolls it over time,
    over variable lengths, over layers and directions.

    **Optional fast path (input-projection hoisting).** Most cells apply a linear map to
    ``x_t`` that does not depend on the state. A cell that splits its step into
    :meth:`project_input` (state-free, applied to all time steps at once as one large
    matrix multiply) and :meth:`step_projected` (the state-dependent rest, run once per
    step) lets the runtime hoist that work out of the time loop. Both must be defined
    together and ``step_projected(project_input(x)[:, t], s)`` must equal
    ``forward(x[:, t], s)``.

    Args:
        input_size: number of features of ``x_t``.
        hidden_size: number of features of ``h_t``.

    Class attributes:
        state_size: how many ``(B, hidden_size)`` tensors the state holds (1, or 2 for LSTM).
        fused_mode: name of an equivalent torch fused kernel (``"RNN_TANH"``,
            ``"RNN_RELU"``, ``"LSTM"``, ``"GRU"``) or None. Only cells whose parameters are
            exactly torch's ``weight_ih``/``weight_hh``/``bias_ih``/``bias_hh`` layout set it.

    Shape:
        - x_t: ``(B, input_size)``
        - state: tuple of ``state_size`` tensors ``(B, hidden_size)``
        - output: ``(B, hidden_size)``
    """

    state_size: ClassVar[int] = 1
    fused_mode: ClassVar[str | None] = None

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        for arg, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"{type(self).__name__}: {arg} must be a positive int, got {value!r}"
                )
        self.input_size = input_size
        self.hidden_size = hidden_size

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> State:
        """Return the zero state ``h_0 = 0`` as a tuple of ``(batch_size, hidden_size)``.

        ``device`` and ``dtype`` default to those of the cell's first parameter.
        """
        param = next(self.parameters(), None)
        if device is None:
            device = param.device if param is not None else None
        if dtype is None:
            dtype = param.dtype if param is not None else None
        return tuple(
            torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)
            for _ in range(self.state_size)
        )

    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        """Take one step: return ``(h_t, new_state)``."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward(x_t, state)")

    def project_input(self, x: Tensor) -> Tensor:
        """Optional: the state-free part of the step for all steps, ``(B, T, F) -> (B, T, G)``."""
        raise NotImplementedError

    def step_projected(self, xp_t: Tensor, state: State) -> tuple[Tensor, State]:
        """Optional: the rest of the step from a projected input ``(B, G)``."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"


def overrides_input_projection(cell: nn.Module) -> bool:
    """True when ``cell`` defines both :meth:`Cell.project_input` and :meth:`Cell.step_projected`."""
    cls = type(cell)
    return (
        getattr(cls, "project_input", Cell.project_input) is not Cell.project_input
        and getattr(cls, "step_projected", Cell.step_projected) is not Cell.step_projected
    )


CellFactory = Callable[..., Cell]
"""Anything called as ``factory(input_size, hidden_size, **options)`` returning a Cell."""


@runtime_checkable
class Topology(Protocol):
    """Wires cells over time and depth.

    ``forward(x (B, T, F), lengths (B,) | None, state | None) -> (outputs (B, T, D*H), state)``
    where the returned state is a tuple of ``(L*D, B, H)`` tensors, layer-major then
    direction, as in ``torch.nn.LSTM``.
    """

    output_size: int

    def __call__(
        self, x: Tensor, lengths: Tensor | None = None, state: State | None = None
    ) -> tuple[Tensor, State]: ...


@runtime_checkable
class Head(Protocol):
    """Maps features ``(..., in_features)`` to logits ``(..., num_outputs)``."""

    def __call__(self, features: Tensor) -> Tensor: ...


@runtime_checkable
class Tokenizer(Protocol):
    """Turns text into ids and back. Special ids ``pad_id``, ``bos_id``, ``eos_id``, ``unk_id``
    are distinct and lie in ``[0, vocab_size)``."""

    pad_id: int
    bos_id: int
    eos_id: int
    unk_id: int

    @property
    def vocab_size(self) -> int: ...

    def fit(self, texts: Iterable[str]) -> None: ...

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: Mapping[str, Any]) -> None: ...


@runtime_checkable
class DataSource(Protocol):
    """Yields the raw text examples of a split (``"train"``, ``"valid"``, ``"test"``)."""

    def texts(self, split: str) -> list[str]: ...


@runtime_checkable
class Task(Protocol):
    """A problem shape: how examples become batches, the model around the topology, the
    loss, the metrics and the decoding. The engine calls, in order:

    1. ``fit(data)`` (optional): learn what the task needs from the training split (label or
       tag vocabularies, feature sizes), before the model is built. Its result must
       round-trip through ``state_dict()`` / ``load_state_dict(state)`` (JSON-able; saved as
       ``task.json``) so a saved run rebuilds the same model without data.
    2. ``topology_input_size(embedding_dim)`` (optional): the topology's input size when it
       is not the embedding size (e.g. a task that feeds feature vectors).
    3. ``build_model(*, tokenizer, topology, head, embedding_dim, **task_keys)``: the full
       ``nn.Module``. Keyword arguments beyond those (``decoder``, ``target_tokenizer``,
       ``attention``, ``pooling``...) are ``model`` keys of the recipe, validated against
       this signature; ``decoder`` receives a built topology from ``model.decoder``.
    4. ``inputs(data, split)`` (optional): what to encode for a split; default
       ``data.texts(split)``. Structured tasks return ``data.examples(split)``.
    5. ``encode(tokenizer, inputs)``: a tensor (or mapping of tensors), cached by content;
       ``encode_settings()`` lists what else the encoding depends on.
    6. ``train_batches(encoded, batch_size, seed)``: an endless iterator of batches (dicts
       of tensors) with ``state_dict()``/``load_state_dict()`` for exact resume.
    7. ``training_step(model, batch, carry) -> (loss, target_tokens, carry)``: the mean
       loss over real targets (padding masked); ``target_tokens == 0`` skips the step.
    8. ``evaluate(model, encoded, batch_size, device, num_chars) -> metrics``: a dict of
       floats including ``loss``.
    9. ``predict(model, tokenizer, inputs, *, device, target_tokenizer, **options)``
       (or ``generate`` for language models): answers in the task's natural form.

    Class attributes: ``causal`` (generates left to right: no bidirectional topology),
    ``generates_targets`` (the data has ``target`` texts; without a ``target_tokenizer``
    section one tokenizer is fitted on sources and targets together).
    """

    def build_model(self, *, tokenizer: Tokenizer, topology: nn.Module, head: Callable[..., nn.Module],
                    embedding_dim: int) -> nn.Module: ...

    def encode(self, tokenizer: Tokenizer, inputs: Sequence[Any]) -> Any: ...

    def train_batches(self, encoded: Any, batch_size: int, seed: int) -> Any: ...

    def training_step(self, model: nn.Module, batch: Mapping[str, Any], carry: Any) -> tuple[Tensor, int, Any]: ...

    def evaluate(self, model: nn.Module, encoded: Any, batch_size: int, device: torch.device,
                 num_chars: int) -> Mapping[str, float]: ...
