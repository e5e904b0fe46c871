"""The :class:`Pipeline`: plain built objects that the engine trains and predicts with.

Layer 0: knows nothing of recipes, plugins or the engine. A recipe builds one; so can a
script, from objects, with no YAML and no registry.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from seqframe.interfaces import Batches, DataSource, Task, Tokenizer, Tokenizers, check_batches

__all__ = [
    "CheckpointConfig",
    "DiagnosticsConfig",
    "EarlyStoppingConfig",
    "Pipeline",
    "SampleConfig",
    "SchedulerConfig",
    "TrainConfig",
]


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
class SchedulerConfig:
    """How the learning rate changes over training (the recipe's ``train.scheduler``).

    Every schedule starts with ``warmup_steps`` of linear warm-up from ``lr / warmup_steps``
    to the optimizer's ``lr``. Then ``constant`` and ``linear_warmup`` hold it, ``cosine``
    decays it to ``min_lr`` at the last step, and ``reduce_on_plateau`` multiplies it by
    ``factor`` whenever the validation ``metric`` has not improved for ``patience``
    scheduled evaluations (never below ``min_lr``; NaN metrics are ignored).
    """

    name: str = "constant"
    warmup_steps: int = 0
    min_lr: float = 0.0
    factor: float = 0.5
    patience: int = 2
    metric: str = "loss"
    mode: str = "min"


@dataclass(frozen=True)
class CheckpointConfig:
    """When resumable checkpoints are written (the recipe's ``train.checkpoint``).

    Attributes:
        every: save every N steps (0: only at the end, at a new best evaluation and on
            interrupt).
        keep_last: how many of the newest step checkpoints to keep; the best one and the
            one a run resumed from are always kept (None: keep all).
    """

    every: int = 200
    keep_last: int | None = 2


@dataclass(frozen=True)
class EarlyStoppingConfig:
    """Stop when a validation metric stops improving (the recipe's ``train.early_stopping``).

    Attributes:
        metric: a key of the task's evaluation (``loss``, ``ppl``, ``bpc``...).
        patience: scheduled evaluations without improvement before stopping.
        mode: ``min`` (lower is better) or ``max``.
        min_delta: the smallest change that counts as an improvement.
    """

    metric: str = "loss"
    patience: int = 3
    mode: str = "min"
    min_delta: float = 0.0


@dataclass(frozen=True)
class DiagnosticsConfig:
    """Measure the recurrence while training (the recipe's ``train.diagnostics``): every
    ``every`` steps, on one fixed probe batch of ``batch_size`` rows, per layer and
    direction, rows with ``split: diagnostics`` go to ``metrics.jsonl`` (see
    :mod:`seqframe.api.diagnostics`)."""

    every: int = 100
    batch_size: int = 16


@dataclass(frozen=True)
class TrainConfig:
    """Training settings (the recipe's ``train`` section).

    Attributes:
        steps: optimizer steps.
        batch_size: sequences per batch.
        seed: seeds torch and Python's ``random`` before building and training.
        optimizer: ``{"name": "adam"|"adamw"|"sgd", "lr": ..., <torch.optim options>}``.
        scheduler: the learning-rate schedule.
        max_grad_norm: clip the global gradient norm to this (None: no clipping).
        eval_every: evaluate on the validation split every N steps (0: only at the end).
        log_every: write a metrics row every N steps.
        early_stopping: stop when a validation metric stops improving (None: never).
        checkpoint: when resumable checkpoints are written (needs a run directory).
        on_nonfinite: ``error`` stops at a NaN/inf loss or gradient norm; ``skip`` drops
            that step (parameters unchanged) and carries on.
        max_consecutive_skips: with ``skip``, stop after this many non-finite steps in a row.
        deterministic: ask torch for deterministic kernels (slower on GPU).
        device: ``auto`` (CUDA when present), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
        precision: ``fp32``, ``bf16`` or ``fp16``: the autocast dtype of forward passes and
            losses (fp16 with a gradient scaler); weights and optimizer stay float32.
        accumulate: batches (micro-batches) per optimizer step; the step's gradient is that
            of all their targets together, so the effective batch is
            ``batch_size * accumulate`` rows.
        sample: what to generate at the end of a language-model run (None: nothing).
        loggers: experiment loggers besides ``metrics.jsonl``: registered names or
            ``{"name": ..., <options>}`` mappings (``tensorboard``); rank 0 logs into the
            run directory's ``logs/<name>/``.
        diagnostics: measure activations, saturation and the gradient through time every
            N steps (None: off, at no cost).

    The nested settings also accept plain mappings (``scheduler={"name": "cosine"}``).
    """

    steps: int = 1000
    batch_size: int = 32
    seed: int = 0
    optimizer: Mapping[str, Any] = field(default_factory=lambda: {"name": "adam", "lr": 3.0e-3})
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    max_grad_norm: float | None = 1.0
    eval_every: int = 200
    log_every: int = 10
    early_stopping: EarlyStoppingConfig | None = None
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    on_nonfinite: str = "error"
    max_consecutive_skips: int = 10
    deterministic: bool = False
    device: str = "auto"
    precision: str = "fp32"
    accumulate: int = 1
    sample: SampleConfig | None = field(default_factory=SampleConfig)
    loggers: Sequence[Any] = field(default_factory=list)
    diagnostics: DiagnosticsConfig | None = None

    def __post_init__(self) -> None:
        for name, kind in (
            ("scheduler", SchedulerConfig),
            ("checkpoint", CheckpointConfig),
            ("early_stopping", EarlyStoppingConfig),
            ("sample", SampleConfig),
            ("diagnostics", DiagnosticsConfig),
        ):
            value = getattr(self, name)
            if isinstance(value, Mapping):
                object.__setattr__(self, name, kind(**value))
        if self.on_nonfinite not in ("error", "skip"):
            raise ValueError(f"TrainConfig: on_nonfinite must be 'error' or 'skip', got {self.on_nonfinite!r}")
        if self.precision not in ("fp32", "bf16", "fp16"):
            raise ValueError(f"TrainConfig: precision must be 'fp32', 'bf16' or 'fp16', got {self.precision!r}")
        if isinstance(self.accumulate, bool) or not isinstance(self.accumulate, int) or self.accumulate < 1:
            raise ValueError(f"TrainConfig: accumulate must be an int >= 1, got {self.accumulate!r}")
        if self.max_grad_norm is not None and not (
            isinstance(self.max_grad_norm, (int, float))
            and math.isfinite(self.max_grad_norm)
            and self.max_grad_norm > 0
        ):
            # a NaN bound would clip every gradient to NaN, and the step would blame the loss
            raise ValueError(
                f"TrainConfig: max_grad_norm must be a finite number > 0 or None, got {self.max_grad_norm!r}"
            )


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
        recipe_source: the recipe file it was built from (relative data paths resolve
            against its folder when a saved run's data is rebuilt), if any.
        target_tokenizer: a separate tokenizer for generated targets (translation), or None
            when targets share ``tokenizer`` or the task generates none.
        recipe: the recipe as plain data, the same as ``recipe_text`` (see :meth:`to_recipe`).
        unnamed: recipe paths of the components given as Python objects to
            ``seqframe.assemble`` (``("task", "model.topology")``), which no recipe can name.
    """

    task: Task
    tokenizer: Tokenizer
    model: nn.Module
    data: DataSource | None = None
    train: TrainConfig = field(default_factory=TrainConfig)
    recipe_text: str | None = None
    components: dict[str, dict[str, str]] = field(default_factory=dict)
    recipe_source: str | None = None
    target_tokenizer: Tokenizer | None = None
    recipe: dict[str, Any] | None = None
    unnamed: tuple[str, ...] = ()

    @property
    def tokenizers(self) -> Tokenizers:
        """``tokenizer`` and ``target_tokenizer`` as the task's methods take them (``target``
        is ``tokenizer`` when there is no target tokenizer)."""
        return Tokenizers(self.tokenizer, self.target_tokenizer)

    def to_recipe(self) -> dict[str, Any]:
        """The recipe that builds this pipeline again, as plain data (``seqframe.run(...)``,
        ``seqframe.build(...)`` and ``yaml.safe_dump`` take it): what a run directory saves as
        ``recipe.yaml``. A pipeline assembled with its data source as an object has no
        ``data`` section (add one to train it again; predicting needs none).

        Raises:
            ValueError: a component was given as an object, so no recipe can name it.
        """
        if self.recipe is None:
            raise ValueError(
                f"Pipeline.to_recipe: no recipe: {self.unnamed_description()}; name every component "
                "(seqframe.assemble(task='language_modelling', topology={'cell': 'lstm', ...}, ...)) or "
                "register it through a plugin to get one"
            )
        return copy.deepcopy(self.recipe)

    def unnamed_description(self) -> str:
        """Why there is no recipe, in words: which components were given as objects."""
        model = [path for path in self.unnamed if path != "data"]
        if not model:
            return "it was built from Python objects, not from registered components"
        one = len(model) == 1
        return (
            f"{', '.join(model)} {'was' if one else 'were'} given as {'a Python object' if one else 'Python objects'}, "
            "not by name"
        )

    def batches(self, split: str = "train", *, batch_size: int | None = None, seed: int | None = None) -> Batches:
        """The task's endless, resumable stream of batches over a split of the data (for
        your own training loop): ``task.inputs`` -> ``task.encode`` -> ``task.train_batches``,
        with this pipeline's tokenizers. Feed each batch to ``task.training_step(model,
        batch, carry)``; its tensors are on the CPU.

        Args:
            split: ``train``, ``valid`` or ``test``.
            batch_size: rows per batch (default: ``train.batch_size``).
            seed: the order's seed (default: ``train.seed``).

        Raises:
            ValueError: the pipeline has no data source.
        """
        if self.data is None:
            raise ValueError(
                "Pipeline.batches: the pipeline has no data source (load_run(..., with_data=True) "
                "or assemble(..., data=...) gives one)"
            )
        tokenizers = self.tokenizers
        encoded = self.task.encode(tokenizers, self.task.inputs(self.data, split))
        seed = self.train.seed if seed is None else seed
        stream = self.task.train_batches(encoded, batch_size or self.train.batch_size, seed, tokenizers)
        return check_batches(self.task, stream)

    def extra_state(self) -> dict[str, Any]:
        """The JSON-able state besides the tokenizer that a saved run needs to rebuild the
        model: the target tokenizer's and the task's (label vocabularies), each None when
        absent. Saved as ``target_tokenizer.json`` and ``task.json`` in a run directory."""
        return {
            "target_tokenizer": self.target_tokenizer.state_dict() if self.target_tokenizer is not None else None,
            "task": self.task.state_dict() or None,
        }
