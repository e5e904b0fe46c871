"""The checks of the task conformance kit (:class:`TaskKit`, one method per check of
:data:`seqframe.testing.tasks.TASK_CHECKS`) and the tiny data and model they run on; the
order, the reporting and the public entry points are in :mod:`seqframe.testing.tasks`.
Facade layer: imports the contracts and the built-in cells, topology, head and tokenizer.
"""

from __future__ import annotations

import copy
import inspect
import json
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from seqframe.builtin.cells import LSTMCell
from seqframe.builtin.heads import LinearHead
from seqframe.builtin.tokenizers import CharTokenizer
from seqframe.builtin.topologies import StackedTopology
from seqframe.interfaces import (
    SPLITS,
    Batches,
    EvalSettings,
    ExampleSource,
    ModelParts,
    TargetSource,
    Task,
    TextSource,
    Tokenizers,
    task_signature_problems,
)

__all__ = ["SEED", "TaskKit"]

_EMBED, _HIDDEN = 8, 8
SEED = 0
"""The seed every check runs under."""
_WORDS = ["the", "a", "cat", "dog", "sat", "ran", "on", "under", "mat", "log", "and", "then", "slept"]


class _Corpus(TextSource):
    """Generated English-like lines, enough for a language model's windows of 128."""

    def texts(self, split: str) -> list[str]:
        count = {"train": 120, "valid": 12, "test": 12}[split]
        offset = SPLITS.index(split) * 1000
        return [
            " ".join(_WORDS[(offset + i * 7 + k * 3) % len(_WORDS)] for k in range(4 + i % 5)) + "."
            for i in range(count)
        ]


def _same(a: Any, b: Any) -> bool:
    """Equal values, tensors compared element-wise and by shape and dtype."""
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return (
            isinstance(a, Tensor)
            and isinstance(b, Tensor)
            and a.shape == b.shape
            and a.dtype == b.dtype
            and torch.equal(a, b)
        )
    if isinstance(a, Mapping):
        return isinstance(b, Mapping) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    try:
        return bool(a == b)
    except Exception:  # an object whose == does not give a truth value
        return a is b


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _json_round_trip(value: Any, what: str) -> Any:
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as exc:
        raise AssertionError(f"{what} must be JSON-able, got {value!r:.120} ({exc})") from None


def _is_encoded(value: Any) -> bool:
    return isinstance(value, Tensor) or (
        isinstance(value, Mapping) and all(isinstance(v, Tensor) for v in value.values())
    )


class TaskKit:
    """What the checks share: the task, its data, tokenizers, model and encoded splits."""

    def __init__(
        self,
        factory: Callable[..., Any],
        options: Mapping[str, Any],
        data: TextSource | None,
        model_options: Mapping[str, Any],
        predict_options: Mapping[str, Any],
        batch_size: int,
    ) -> None:
        self.factory, self.options, self.given_data = factory, dict(options), data
        self.model_options, self.predict_options, self.batch_size = (
            dict(model_options),
            dict(predict_options),
            batch_size,
        )
        self.tokenizer = CharTokenizer()
        self.target_tokenizer: CharTokenizer | None = None
        self.task: Any = None
        self.loaded: Any = None
        self.data: Any = None
        self.model: Any = None
        self.encoded: Any = None
        self.before: dict[str, Any] = {}

    @property
    def tokenizers(self) -> Tokenizers:
        return Tokenizers(self.tokenizer, self.target_tokenizer)

    def construct(self) -> str:
        self.task = self.factory(**self.options)
        _expect(
            isinstance(self.task, Task),
            f"the factory returned a {type(self.task).__name__}, not a subclass of seqframe.Task",
        )
        problems = task_signature_problems(type(self.task))
        _expect(not problems, "\n".join(problems))
        flags = {
            "causal": self.task.causal,
            "continues_prompt": self.task.continues_prompt,
            "generates_targets": self.task.generates_targets,
            "needs_examples": self.task.needs_examples,
        }
        _expect(all(isinstance(v, bool) for v in flags.values()), f"the capability flags must be bools, got {flags}")
        return ", ".join(name for name, on in flags.items() if on) or "no flags set"

    def data_check(self) -> str:
        task = self.task
        self.data = self.given_data or task.sample_data() or (None if task.needs_examples else _Corpus())
        _expect(
            self.data is not None,
            "the task reads examples (needs_examples) but sample_data() is None and no "
            "data was given; return a tiny ExampleSource from sample_data()",
        )
        if task.needs_examples:
            _expect(
                isinstance(self.data, ExampleSource),
                f"needs_examples, but the data source {type(self.data).__name__} is not an ExampleSource",
            )
        for split in SPLITS:
            inputs = task.inputs(self.data, split)
            _expect(isinstance(inputs, list), f"inputs(data, {split!r}) must be a list, got {type(inputs).__name__}")
            _expect(split != "train" or bool(inputs), "inputs(data, 'train') is empty")
            missing = [f for x in inputs if isinstance(x, Mapping) for f in task.example_fields if f not in x]
            _expect(not missing, f"{split} examples lack the declared example_fields {sorted(set(missing))}")
        self.tokenizer.fit(self.data.texts("train"))
        if task.generates_targets:
            _expect(isinstance(self.data, TargetSource), "generates_targets, but the data source has no target_texts")
            self.target_tokenizer = CharTokenizer()
            self.target_tokenizer.fit(self.data.target_texts("train"))
        return f"{type(self.data).__name__}, {len(task.inputs(self.data, 'train'))} training inputs"

    def fit_state(self) -> str:
        self.task.fit(self.data)
        state = self.task.state_dict()
        _expect(isinstance(state, dict), f"state_dict() must return a dict, got {type(state).__name__}")
        saved = _json_round_trip(state, "state_dict()")
        self.loaded = self.factory(**self.options)
        self.loaded.load_state_dict(saved)
        again = _json_round_trip(self.loaded.state_dict(), "state_dict()")
        _expect(
            again == saved, f"a fresh task loaded with the saved state reports {again!r:.120}, expected {saved!r:.120}"
        )
        return f"state keys: {', '.join(state) or 'none'}"

    def build(self, task: Task) -> nn.Module:
        torch.manual_seed(SEED)
        topology = StackedTopology(LSTMCell, task.topology_input_size(_EMBED), _HIDDEN)
        params = inspect.signature(task.build_model).parameters
        extra = dict(self.model_options)
        decoder = params.get("decoder")
        if decoder is not None and decoder.default is decoder.empty and "decoder" not in extra:
            extra["decoder"] = StackedTopology(LSTMCell, _EMBED, _HIDDEN)
        return task.build_model(ModelParts(self.tokenizers, topology, LinearHead, _EMBED), **extra)

    def build_model(self) -> str:
        self.before = copy.deepcopy(vars(self.task))
        self.model = self.build(self.task)
        _expect(
            isinstance(self.model, nn.Module), f"build_model returned a {type(self.model).__name__}, not an nn.Module"
        )
        return f"{type(self.model).__name__}, {sum(p.numel() for p in self.model.parameters())} parameters"

    def build_model_pure(self) -> str:
        after = vars(self.task)
        changed = sorted(
            k
            for k in after.keys() | self.before.keys()
            if k not in after or k not in self.before or not _same(after[k], self.before[k])
        )
        _expect(
            not changed,
            f"build_model changed the task's attribute(s) {', '.join(changed)}; a task may change "
            "only in fit and load_state_dict (pass what the other methods need as arguments)",
        )
        return ""

    def encode(self) -> str:
        inputs = self.task.inputs(self.data, "train")
        self.encoded = self.task.encode(self.tokenizers, inputs)
        fresh = self.loaded.encode(self.tokenizers, inputs)
        _expect(
            _same(self.encoded, fresh),
            "encode gives a different result on a task that has not built a model: "
            "it depends on a side effect of build_model",
        )
        return (
            ""
            if _is_encoded(self.encoded)
            else (
                f"a {type(self.encoded).__name__} is not cached (return a tensor or a mapping of tensors to cache it)"
            )
        )

    def stream(self) -> Any:
        return self.task.train_batches(self.encoded, self.batch_size, SEED, self.tokenizers)

    def batches(self) -> str:
        stream = self.stream()
        _expect(
            isinstance(stream, Batches),
            f"train_batches returned a {type(stream).__name__}, not a "
            "seqframe.interfaces.Batches (an iterator with state_dict/load_state_dict)",
        )
        batch = next(stream)
        _expect(isinstance(batch, Mapping), f"a batch must be a mapping, got {type(batch).__name__}")
        _json_round_trip(stream.state_dict(), "the batches' state_dict()")
        return f"batch keys: {', '.join(batch)}"

    def resume(self) -> str:
        first = self.stream()
        head = [next(first) for _ in range(3)]
        saved = first.state_dict()
        if saved is None:
            return "not resumable (state_dict() is None): a resumed run restarts its data"
        saved = _json_round_trip(saved, "the batches' state_dict()")
        rest = [next(first) for _ in range(6)]
        again = self.stream()
        again.load_state_dict(saved)
        _expect(
            all(_same(a, b) for a, b in zip(rest, (next(again) for _ in rest))),
            f"the 6 batches after loading the state saved after 3 ({saved}) differ from those that followed",
        )
        fresh = self.stream()
        _expect(
            all(_same(batch, next(fresh)) for batch in head),
            "two streams built with the same seed start with different batches",
        )
        return f"9 batches, resumed at {saved}"

    def training_step(self) -> str:
        stream, carry, counts = self.stream(), None, []
        self.model.train()
        for _ in range(2):
            loss, count, carry = self.task.training_step(self.model, next(stream), carry)
            _expect(
                isinstance(loss, Tensor) and loss.dim() == 0 and loss.is_floating_point(),
                f"the loss must be a floating scalar tensor, got {loss!r:.80}",
            )
            _expect(bool(torch.isfinite(loss)), f"the loss is {float(loss.detach())}")
            _expect(
                isinstance(count, int) and not isinstance(count, bool) and count >= 0,
                f"the count of targets must be an int >= 0, got {count!r}",
            )
            if count:
                loss.backward()
                grads = [p.grad for p in self.model.parameters() if p.grad is not None]
                _expect(any(bool(g.abs().sum() > 0) for g in grads), "the loss gives no gradient to any parameter")
            self.model.zero_grad(set_to_none=True)
            carried = [t for t in _tensors(carry) if t.requires_grad]
            _expect(not carried, "the carry holds tensors that require grad: detach it")
            counts.append(count)
        return f"targets per batch: {counts}"

    def metrics(self, model: nn.Module) -> Mapping[str, Any]:
        inputs = self.task.inputs(self.data, "valid") or self.task.inputs(self.data, "train")
        encoded = self.task.encode(self.tokenizers, inputs)
        chars = sum(len(x) for x in inputs if isinstance(x, str))
        settings = EvalSettings(self.tokenizers, self.batch_size, torch.device("cpu"), chars)
        found: Mapping[str, Any] = self.task.evaluate(model, encoded, settings)
        return found

    def evaluate(self) -> str:
        self.model.train()
        metrics = self.metrics(self.model)
        _expect(self.model.training, "evaluate left the model in eval mode; restore the mode it had")
        _expect(
            isinstance(metrics, Mapping) and "loss" in metrics,
            f"evaluate must return a mapping with 'loss', got {metrics!r:.120}",
        )
        bad = {k: v for k, v in metrics.items() if isinstance(v, bool) or not isinstance(v, (int, float))}
        _expect(not bad, f"every metric must be a number, got {bad!r:.120}")
        _expect(math.isfinite(metrics["loss"]), f"the loss is {metrics['loss']}")
        return ", ".join(sorted(metrics))

    def predict(self) -> str:
        texts = (self.data.texts("valid") or self.data.texts("train"))[:3]
        self.model.eval()
        answers = self.task.predict(self.model, self.tokenizers, texts, device="cpu", **self.predict_options)
        _expect(not self.model.training, "predict left the model in train mode; restore the mode it had")
        _expect(
            isinstance(answers, list) and len(answers) == len(texts) and all(isinstance(a, str) for a in answers),
            f"predict must answer {len(texts)} inputs with a list of {len(texts)} strings, got {answers!r:.120}",
        )
        empty = self.task.predict(self.model, self.tokenizers, [], device="cpu", **self.predict_options)
        _expect(empty == [], f"predict of no input must be [], got {empty!r:.80}")
        return f"{texts[0]!r:.30} -> {answers[0]!r:.30}"

    def reload(self) -> str:
        model = self.build(self.loaded)
        try:
            model.load_state_dict(self.model.state_dict())
        except RuntimeError as exc:
            raise AssertionError(
                f"a model built by a task loaded from the saved state does not take the trained "
                f"weights: {str(exc).splitlines()[0]}"
            ) from None
        self.model.eval()
        model.eval()
        ours, theirs = float(self.metrics(self.model)["loss"]), float(self.metrics(model)["loss"])
        _expect(
            math.isclose(ours, theirs, rel_tol=1e-5, abs_tol=1e-6),
            f"the reloaded model's loss is {theirs}, the trained one's {ours}",
        )
        return ""


def _tensors(value: Any) -> Iterator[Tensor]:
    if isinstance(value, Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors(item)
