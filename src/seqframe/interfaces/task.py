"""The task contract: what the engine, the command line and the API call on a task.

Layer 0: imports only torch and the stdlib.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from seqframe.interfaces.components import Tokenizer

__all__ = ["Task"]


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
