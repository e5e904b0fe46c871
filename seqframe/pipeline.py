"""The :class:`Pipeline`: plain built objects that the engine trains and predicts with.

Layer 0: knows nothing of recipes, plugins or the engine. A recipe builds one; so can a
script, from objects, with no YAML and no registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from seqframe.interfaces import DataSource, Tokenizer

__all__ = ["Pipeline", "SampleConfig", "TrainConfig"]


@dataclass(frozen=True)
class SampleConfig:
    """What a finished language-model run prints: a continuation of ``prompt``."""

    prompt: str = "The "
    max_tokens: int = 300
    temperature: float = 0.8
    top_k: int | None = None
    top_p: float | None = None
    seed: int = 0


@dataclass(frozen=True)
class TrainConfig:
    """Training settings (the recipe's ``train`` section).

    Attributes:
        steps: optimizer steps.
        batch_size: sequences per batch.
        seed: seeds torch and Python's ``random`` before building and training.
        optimizer: ``{"name": "adam"|"adamw"|"sgd", "lr": ..., <torch.optim options>}``.
        max_grad_norm: clip the global gradient norm to this (None: no clipping).
        eval_every: evaluate on the validation split every N steps (0: only at the end).
        log_every: write a metrics row every N steps.
        device: ``auto`` (CUDA when present), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
        sample: what to generate at the end of a language-model run (None: nothing).
    """

    steps: int = 1000
    batch_size: int = 32
    seed: int = 0
    optimizer: Mapping[str, Any] = field(default_factory=lambda: {"name": "adam", "lr": 3.0e-3})
    max_grad_norm: float | None = 1.0
    eval_every: int = 200
    log_every: int = 10
    device: str = "auto"
    sample: SampleConfig | None = field(default_factory=SampleConfig)


@dataclass
class Pipeline:
    """Everything a run needs, already built.

    Attributes:
        task: the task object (e.g. ``LanguageModellingTask``).
        tokenizer: a fitted tokenizer.
        model: the full model (``task.build_model`` output).
        data: the data source, or None when only predicting.
        train: training settings.
        recipe_text: the resolved recipe as YAML, saved in the run directory (None when
            assembled from Python objects).
        components: provenance of each component, ``{"model.topology.cell": {"name":
            "lstm", "plugin": "builtin.cells", "distribution": "seqframe", "version": ...}}``.
    """

    task: Any
    tokenizer: Tokenizer
    model: nn.Module
    data: DataSource | None = None
    train: TrainConfig = field(default_factory=TrainConfig)
    recipe_text: str | None = None
    components: dict[str, dict[str, str]] = field(default_factory=dict)
