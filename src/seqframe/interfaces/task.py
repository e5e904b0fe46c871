"""The task contract: every method the engine, the command line and the API call on a task,
and the capability flags they read instead of probing for methods.

Layer 0: imports only torch, the stdlib and the other contracts.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, TypeGuard

from torch import Tensor, nn

from seqframe.errors import DataError, ExportError
from seqframe.interfaces.arguments import Device, EvalSettings, ModelParts
from seqframe.interfaces.batches import Batches, check_batches
from seqframe.interfaces.components import Tokenizers
from seqframe.interfaces.data import ExampleSource, TextSource
from seqframe.interfaces.export import ExportPlan, GraphRunner
from seqframe.interfaces.inputs import describe_formats, format_of, read_examples, read_text

__all__ = ["Batches", "Encoded", "Task", "check_batches", "is_task_class"]

Encoded = Any
"""What :meth:`Task.encode` returns: a tensor or a mapping of name -> tensor (both cached
on disk by content), or any other object (then not cached)."""


class Task:
    """A problem shape: how data becomes batches, the model around the topology, the loss,
    the metrics and the answers. Every task subclasses it (a task registered through
    ``seqframe_tasks`` must be a subclass); the engine, the command line and the API call
    only the methods below and read only the flags below.

    The life of a task, in the order a recipe run calls it:

    1. ``Task(**recipe options)``, then ``fit(data)`` on a new run or
       ``load_state_dict(state)`` when a saved run is reloaded (``task.json``). These two
       are the only methods that change the task; everything else reads it.
    2. ``topology_input_size(embedding_dim)`` and ``build_model(parts, **model keys)``: the model.
    3. ``inputs(data, split)`` -> ``encode(tokenizers, inputs)`` (cached on disk, keyed by
       ``encode_settings()``) -> ``train_batches(encoded, batch_size, seed, tokenizers)``.
    4. ``training_step(model, batch, carry)`` for every batch; ``evaluate(model, encoded,
       settings)`` on the validation split.
    5. ``predict(model, tokenizers, inputs, ...)``: the answers of ``seqframe predict``.
    6. ``export_plan(model)`` (``seqframe export``) and ``exported_model(graphs)``: the
       model outside the training code (``seqframe predict --runtime onnx``).

    Any method may be called on a task that was only constructed and fitted (or loaded):
    ``build_model`` does not change the task, and ``encode``, ``train_batches``,
    ``evaluate`` and ``predict`` receive the tokenizers they need as arguments: one
    :class:`~seqframe.interfaces.Tokenizers`, whose ``target`` is the target tokenizer, or
    the input tokenizer ``source`` when the recipe has none. An override keeps the
    parameters of the method it overrides (positional ones may be renamed);
    :func:`~seqframe.interfaces.task_signature_problems` says where one does not, and the
    recipe check, ``seqframe plugins check`` and :func:`seqframe.testing.check_task` refuse it.

    Capability flags (class attributes; defaults in brackets):
        causal: [False] the task's ``model.topology`` writes left to right, so a recipe
            with a bidirectional topology is rejected before any data is read.
        continues_prompt: [False] ``predict`` continues each input (a language model):
            ``seqframe predict`` prints input and answer together, and a run writes
            ``sample.txt`` (``train.sample``). Otherwise ``predict`` answers each input.
        generates_targets: [False] the examples have a ``target`` text that the task writes
            token by token: the data source must be an :class:`ExampleSource`, its
            ``target_texts`` fit the target tokenizer, and a recipe may give a
            ``target_tokenizer`` section (without one, one tokenizer is fitted on inputs
            and targets together).
        needs_examples: [False] the task reads structured examples
            (``data.examples(split)``, dicts with ``example_fields``) rather than plain
            texts (``data.texts(split)``).
        example_fields: [()] the fields each example must have (with ``needs_examples``).
        example_sources: [""] data sources that fit, named in error messages.
        predict_options: [None] the options ``predict`` takes (``max_tokens``,
            ``temperature``, ``top_k``, ``top_p``, ``seed``, ``beam``, ``length_penalty``...):
            ``seqframe predict`` refuses any other flag naming these, and its help lists
            them per task. None: not declared (every flag given is passed on).
        file_formats: [None] the formats :meth:`read_file` reads, from ``txt`` (one UTF-8
            text), ``jsonl``, ``csv``, ``tsv``. None: ``txt`` for a task of plain texts;
            ``jsonl``, ``csv`` and ``tsv`` for one of examples.

    Attributes:
        name: the task's name in messages (the registered name, by convention).
    """

    name: ClassVar[str] = "task"
    causal: ClassVar[bool] = False
    continues_prompt: ClassVar[bool] = False
    generates_targets: ClassVar[bool] = False
    needs_examples: ClassVar[bool] = False
    example_fields: ClassVar[tuple[str, ...]] = ()
    example_sources: ClassVar[str] = ""
    predict_options: ClassVar[tuple[str, ...] | None] = None
    file_formats: ClassVar[tuple[str, ...] | None] = None

    # -- state learnt from data ------------------------------------------------------------

    def fit(self, data: TextSource) -> None:
        """Learn what the task needs from the data before the model is built (label or tag
        lists, feature sizes, target statistics). Default: nothing to learn.

        Whatever it learns must round-trip through :meth:`state_dict` /
        :meth:`load_state_dict`, so a saved run rebuilds the same model without its data.

        Raises:
            DataError: the data does not fit the task (names the source and what is missing).
        """

    def state_dict(self) -> dict[str, Any]:
        """What :meth:`fit` learnt, JSON-able (saved as ``task.json``). Default: ``{}``,
        nothing (no ``task.json`` is written)."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` (read back from ``task.json``). Default: accept ``{}``.

        Raises:
            DataError: a saved state that does not fit this task.
        """
        if state:
            raise DataError(
                f"task {self.name!r}: it keeps no state, but a saved state with keys "
                f"{', '.join(map(repr, state))} was given"
            )

    # -- the model ----------------------------------------------------------------------------

    def topology_input_size(self, embedding_dim: int) -> int:
        """The input size of ``model.topology``. Default: ``embedding_dim`` (the topology
        reads token embeddings); a task that feeds feature vectors returns their size."""
        return embedding_dim

    def build_model(self, parts: ModelParts) -> nn.Module:
        """The full model around ``parts.topology``. Must not change the task.

        A subclass may add keyword arguments: they become the task's own ``model`` keys in a
        recipe, validated against this signature and its annotations (``decoder`` receives
        the topology built from ``model.decoder``).

        Args:
            parts: the fitted tokenizers, the built topology, the head factory and the
                embedding size (see :class:`ModelParts`).
        """
        raise NotImplementedError(f"task {self.name!r} ({type(self).__name__}) does not define build_model")

    # -- data -------------------------------------------------------------------------------

    def inputs(self, data: TextSource, split: str) -> list[Any]:
        """What :meth:`encode` receives for ``split`` (``train``, ``valid``, ``test``):
        ``data.texts(split)``, or with ``needs_examples`` ``data.examples(split)``.

        Raises:
            DataError: ``needs_examples`` and the data source has no examples.
        """
        if not self.needs_examples:
            return list(data.texts(split))
        if not isinstance(data, ExampleSource):
            fields = f" with fields {', '.join(self.example_fields)}" if self.example_fields else ""
            hint = f" (e.g. {self.example_sources})" if self.example_sources else ""
            raise DataError(
                f"task {self.name!r} needs a source of examples{fields}{hint}; data source "
                f"{type(data).__name__} only has texts"
            )
        return list(data.examples(split))

    def input_formats(self) -> tuple[str, ...]:
        """The formats :meth:`read_file` reads (``file_formats``, or its default)."""
        if self.file_formats is not None:
            return tuple(self.file_formats)
        return ("jsonl", "csv", "tsv") if self.needs_examples else ("txt",)

    def read_file(self, path: str | os.PathLike[str]) -> list[Any]:
        """What :meth:`inputs` gives for a split, read from a file a user names (``seqframe
        eval --data FILE``, ``seqframe.api.evaluate(run, data=FILE)``). Default: a task of
        plain texts reads the file as one UTF-8 text; a task of examples reads JSON Lines,
        CSV or TSV (by suffix, as :meth:`input_formats` allows) whose objects or header
        name ``example_fields``.

        Raises:
            DataError: a format the task does not read (says which it reads), or a file that
                is unreadable or lacks a field (with ``file:line``).
        """
        formats = self.input_formats()
        found = format_of(path, formats)
        if found is None:
            raise DataError(
                f"{path}: task {self.name!r} reads {describe_formats(formats, self.example_fields)}; "
                f"name the file by its format ({', '.join('.' + f for f in formats)})"
            )
        if found == "txt":
            return [read_text(path)]
        return list(read_examples(path, self.example_fields, found))

    def encode_settings(self) -> Mapping[str, Any]:
        """Everything :meth:`encode` depends on besides its arguments (part of the cache
        key of encoded data). Default: the task's public attributes, JSON-able ones by value
        and others by type name."""
        settings: dict[str, Any] = {}
        for name, value in sorted(vars(self).items()):
            if not name.startswith("_"):
                try:
                    json.dumps(value)
                except (TypeError, ValueError):
                    value = f"<{type(value).__qualname__}>"
                settings[name] = value
        return settings

    def encode(self, tokenizers: Tokenizers, inputs: Sequence[Any]) -> Encoded:
        """Turn :meth:`inputs` into tensors: a tensor or a mapping of tensors (cached by
        content), which :meth:`train_batches` and :meth:`evaluate` read.

        Args:
            tokenizers: the fitted tokenizers (``source`` for inputs, ``target`` for targets).
            inputs: texts, or examples with ``needs_examples``.

        Raises:
            DataError: an input that does not fit (names it).
        """
        raise NotImplementedError(f"task {self.name!r} ({type(self).__name__}) does not define encode")

    def train_batches(self, encoded: Encoded, batch_size: int, seed: int, tokenizers: Tokenizers) -> Batches:
        """The endless, resumable training stream over ``encoded`` (see :class:`Batches`);
        the order depends only on ``seed``.

        Raises:
            DataError: nothing to batch.
        """
        raise NotImplementedError(f"task {self.name!r} ({type(self).__name__}) does not define train_batches")

    # -- training and evaluation ---------------------------------------------------------------

    def training_step(self, model: nn.Module, batch: Mapping[str, Any], carry: Any) -> tuple[Tensor, int, Any]:
        """The loss of one batch.

        Args:
            model: what :meth:`build_model` returned (maybe wrapped for DDP, on the device).
            batch: one batch of :meth:`train_batches`, tensors on the device.
            carry: what the previous step returned as its carry (None at the start, after
                a skipped step, and after a resume without one): e.g. a recurrent state
                carried across windows (truncated backpropagation through time).

        Returns:
            ``(loss, count, carry)``: the mean loss over the batch's real targets (padding
            masked), how many targets it averaged (0 skips the step: nothing to learn),
            and the carry for the next step (None for none; it must be detached).
        """
        raise NotImplementedError(f"task {self.name!r} ({type(self).__name__}) does not define training_step")

    def evaluate(self, model: nn.Module, encoded: Encoded, settings: EvalSettings) -> dict[str, float]:
        """The metrics of ``model`` over encoded data; the model's train/eval mode is left as
        it was.

        Args:
            model: the model.
            encoded: what :meth:`encode` returned for a split.
            settings: the tokenizers, rows per forward pass, the model's device and the
                characters of plain-text inputs (see :class:`EvalSettings`).

        Returns:
            Floats by name; always ``loss``, the quantity training minimises (lower is
            better), which the best checkpoint and the default early stopping watch.
        """
        raise NotImplementedError(f"task {self.name!r} ({type(self).__name__}) does not define evaluate")

    # -- answers ------------------------------------------------------------------------------

    def predict(
        self, model: nn.Module, tokenizers: Tokenizers, inputs: Sequence[str], *, device: Device = "cpu", **options: Any
    ) -> list[str]:
        """Answer raw input strings (``seqframe predict``), one string per input, in order;
        the model's train/eval mode is left as it was. With ``continues_prompt`` each answer
        is the continuation of its input.

        Args:
            model: the trained model.
            tokenizers: the fitted tokenizers.
            inputs: raw inputs as a user types them.
            device: where the model is.
            **options: the task's own decoding options (``seqframe predict`` passes
                ``max_tokens``, ``temperature``, ``top_k``, ``top_p``, ``seed``, ``beam``
                when given).

        Raises:
            SeqframeError: an option the task does not take (names it and those it takes).
        """
        raise NotImplementedError(f"task {self.name!r} ({type(self).__name__}) does not define predict")

    # -- export -----------------------------------------------------------------------------

    def export_plan(self, model: nn.Module) -> ExportPlan:
        """The graphs that answer with ``model`` outside the training code (``seqframe
        export``): functions of plain tensors with the recurrent state as explicit inputs
        and outputs (see :mod:`seqframe.interfaces.export`; recurrent topologies are
        exported a step at a time with :mod:`seqframe.interfaces.stepwise`). Must not
        change the task. Default: the task declares none.

        Raises:
            ExportError: the task's model cannot be exported (names what cannot).
        """
        raise ExportError(
            f"task {self.name!r} ({type(self).__name__}) does not declare how its model is exported "
            "(Task.export_plan and Task.exported_model)"
        )

    def exported_model(self, graphs: GraphRunner) -> Any:
        """A stand-in for the model that :meth:`predict` accepts, computing only with the
        graphs of :meth:`export_plan` (``graphs.run(name, *inputs)``, ``graphs.meta``), so
        an exported model answers exactly as the torch model does. Default: none declared.

        Raises:
            ExportError: the task declares no export.
        """
        raise ExportError(
            f"task {self.name!r} ({type(self).__name__}) does not declare how its model is exported "
            "(Task.export_plan and Task.exported_model)"
        )

    def sample_data(self) -> TextSource | None:
        """A tiny data source in this task's input format, a few dozen examples per split,
        for the conformance kit (:func:`seqframe.testing.check_task`) and ``seqframe plugins
        check``. Default: None, for a task that reads plain texts (the kit brings its own);
        a task with ``needs_examples`` should return one."""
        return None


def is_task_class(factory: object) -> TypeGuard[type[Task]]:
    """Whether a registered task factory is a :class:`Task` subclass (what the recipe
    builder requires, because it reads the flags and ``build_model``'s signature before
    constructing anything)."""
    return isinstance(factory, type) and issubclass(factory, Task)
