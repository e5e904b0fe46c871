"""Protocols of the components around a cell: topologies, heads and tokenizers, and
:class:`Tokenizers`, the pair of tokenizers a task's methods receive.

Layer 0: imports only torch and the stdlib.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from torch import Tensor

from seqframe.interfaces.cell import Cell, State

__all__ = [
    "BatchTokenizer",
    "CellStack",
    "Directional",
    "Head",
    "PrefittedTokenizer",
    "Tokenizer",
    "Tokenizers",
    "Topology",
    "directions_of",
]


@runtime_checkable
class Topology(Protocol):
    """Wires cells over time and depth.

    ``forward(x (B, T, F), lengths (B,) | None, state | None) -> (outputs (B, T, output_size),
    state)`` where the returned state is a tuple of ``(L*D, B, width_i)`` tensors (one per
    tensor of the cells' ``initial_state``), layer-major then direction, as in
    ``torch.nn.LSTM``; ``output_size`` is ``D`` times the cells' ``output_size``, and
    ``input_size`` is ``F``, the features it reads per step (``seqframe.assemble`` checks a
    given topology's against what the model feeds it).
    """

    input_size: int
    output_size: int

    def __call__(
        self, x: Tensor, lengths: Tensor | None = None, state: State | None = None
    ) -> tuple[Tensor, State]: ...


@runtime_checkable
class Directional(Protocol):
    """A topology that declares whether it reads every sequence in both directions (an
    optional capability; the built-in topologies declare it). Its ``output_size`` is then
    the forward direction's features followed by the backward direction's, in equal parts.

    Tasks that generate left to right refuse a ``bidirectional`` one, and ``pooling: last``
    reads the backward direction at each sequence's first step. A topology that does not
    declare it counts as one direction.
    """

    bidirectional: bool


def directions_of(topology: object) -> int:
    """``D``: 2 for a :class:`Directional` topology that is ``bidirectional``, else 1."""
    return 2 if isinstance(topology, Directional) and topology.bidirectional else 1


@runtime_checkable
class CellStack(Protocol):
    """A topology that shows its cells: its forward runs them as
    :func:`seqframe.rnn.run_stack` does (layer ``l + 1`` reads layer ``l``'s outputs, both
    directions concatenated; dropout between layers only while training).

    Diagnostics (``train.diagnostics``, ``seqframe inspect``) look inside such a topology by
    running its layers one at a time; they check that the result matches its own outputs
    and skip a topology whose outputs differ. The built-in ``stacked`` and ``bidirectional``
    topologies are cell stacks.
    """

    @property
    def cells(self) -> Sequence[Sequence[Cell]]:
        """The cells, ``[layer][direction]`` (forward first)."""
        ...


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
class BatchTokenizer(Protocol):
    """A tokenizer that also encodes many texts in one call (an optional capability: the
    built-in ``sentencepiece`` declares it, and tasks then encode a split in one call)."""

    def encode_batch(self, texts: Iterable[str]) -> list[list[int]]: ...


@runtime_checkable
class PrefittedTokenizer(Protocol):
    """A tokenizer that may arrive fitted, e.g. one that loads a model file (an optional
    capability): when ``is_fitted`` is true, its ``fit`` does not depend on the texts, so
    nothing caches it, and a tokenizer passed in fitted is not fitted again."""

    @property
    def is_fitted(self) -> bool: ...


@dataclass(frozen=True, init=False)
class Tokenizers:
    """The fitted tokenizers a task works with: ``source`` reads the inputs, ``target``
    writes the targets a task generates. Without a separate target tokenizer (a recipe with
    no ``target_tokenizer`` section, or a task with no targets) ``target`` is ``source``.

    Example:
        >>> chars = CharTokenizer()
        >>> Tokenizers(chars).target is chars
        True

    Args:
        source: the input tokenizer (a recipe's ``tokenizer``).
        target: the target tokenizer (a recipe's ``target_tokenizer``), or None for ``source``.
    """

    source: Tokenizer
    target: Tokenizer

    def __init__(self, source: Tokenizer, target: Tokenizer | None = None) -> None:
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "target", source if target is None else target)

    @property
    def separate(self) -> bool:
        """Whether targets have their own tokenizer (else ``target is source``)."""
        return self.target is not self.source
