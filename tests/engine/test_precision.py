"""Mixed precision and gradient accumulation on CPU: bf16 and fp16 train with finite losses,
an fp16 overflow is skipped by the gradient scaler (not a NaN error) and its scale is in the
checkpoint, and accumulated micro-batches give exactly the large batch's gradient."""

from __future__ import annotations

import functools
import importlib.util
import math
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

import seqframe
from seqframe.builtin.cells import LSTMCell
from seqframe.builtin.heads import LinearHead
from seqframe.builtin.tasks.language_modelling import LanguageModellingTask
from seqframe.builtin.tasks.language_modelling.batching import collate, split_sentences
from seqframe.builtin.tokenizers import CharTokenizer
from seqframe.engine import CheckpointStore
from seqframe.engine.precision import Precision
from seqframe.errors import RecipeError
from seqframe.interfaces import Tokenizers

LINES = [
    "the cat sat",
    "on the mat and",
    "a dog",
    "sat on the log by the door",
    "it rained",
    "then the sun came out",
    "the end",
    "of a long day at the quiet farm",
]
TEXT = "\n".join(LINES * 4) + "\n"


class _Texts:
    def texts(self, split: str) -> list[str]:
        return [TEXT] if split == "train" else []


class _InOrderSentences(LanguageModellingTask):
    """Sentence mode, batches in corpus order: batch ``B`` holds exactly the rows of two
    consecutive batches of ``B/2``, and the sentences' lengths differ, so the micro-batches
    hold different numbers of target tokens."""

    def train_batches(
        self, ids: torch.Tensor, batch_size: int, seed: int, tokenizers: Tokenizers
    ) -> Iterator[dict[str, Any]]:
        tokenizer = tokenizers.source
        bos, pad, eos = tokenizer.bos_id, tokenizer.pad_id, tokenizer.eos_id
        return _Cycle(split_sentences(ids, eos, self.seq_len), batch_size, bos, pad)


class _Cycle:
    """The sentences in order, ``batch_size`` at a time, round and round (a resumable ``Batches``)."""

    def __init__(self, sentences: list[torch.Tensor], batch_size: int, bos: int, pad: int) -> None:
        self.sentences, self.batch_size, self.bos, self.pad, self.start = sentences, batch_size, bos, pad, 0

    def __iter__(self) -> _Cycle:
        return self

    def __next__(self) -> dict[str, Any]:
        rows = [self.sentences[(self.start + i) % len(self.sentences)] for i in range(self.batch_size)]
        self.start += self.batch_size
        return collate(rows, self.bos, self.pad)

    def state_dict(self) -> dict[str, int]:
        return {"start": self.start}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.start = state["start"]


def _pipeline(task: LanguageModellingTask | None = None, cell: Any = "lstm", **train: Any) -> seqframe.Pipeline:
    torch.manual_seed(0)
    settings = {
        "steps": 4,
        "batch_size": 4,
        "eval_every": 0,
        "sample": None,
        "device": "cpu",
        "optimizer": {"name": "adam", "lr": 1e-2},
        **train,
    }
    return seqframe.assemble(
        task=task or LanguageModellingTask(seq_len=16),
        tokenizer=CharTokenizer(),
        topology=seqframe.build_rnn(cell, input_size=8, hidden_size=16),
        head=LinearHead,
        embedding_dim=8,
        data=_Texts(),
        train=seqframe.TrainConfig(**settings),
    )


class _LoopedLSTM(LSTMCell):
    """An LSTM cell torch's fused kernels do not run (only the exact built-in class is
    fused): it takes seqframe's time loop, as plugin cells do."""


def _losses(pipeline: seqframe.Pipeline) -> list[float]:
    rows: list[float] = []

    class Losses(seqframe.engine.Callback):
        def on_train_batch_end(self, step: int, row: dict[str, Any]) -> None:
            rows.append(row["loss"])

    seqframe.engine.train(pipeline, [Losses()])
    return rows


@pytest.mark.parametrize(("precision", "cell"), [("bf16", "lstm"), ("bf16", _LoopedLSTM), ("fp16", _LoopedLSTM)])
def test_half_precisions_train_with_finite_losses(precision: str, cell: Any) -> None:
    losses = _losses(_pipeline(precision=precision, steps=6, cell=cell))
    assert len(losses) == 6 and all(math.isfinite(loss) for loss in losses)
    assert losses[-1] < losses[0]


def test_fp16_with_fused_kernels_on_cpu_trains_or_says_to_use_bf16() -> None:
    try:  # oneDNN has float16 recurrent kernels on some CPUs only
        losses = _losses(_pipeline(precision="fp16", steps=3))
    except RecipeError as exc:
        assert "train.precision: fp16 on this CPU" in str(exc) and "use bf16" in str(exc)
    else:
        assert all(math.isfinite(loss) for loss in losses)


def test_an_fp16_overflow_is_skipped_by_the_scaler_not_a_nan_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    huge = functools.partial(torch.amp.GradScaler, init_scale=2.0**40)  # fp16 gradients overflow at once
    monkeypatch.setattr(torch.amp, "GradScaler", huge)
    pipeline = _pipeline(precision="fp16", steps=30, on_nonfinite="error", cell=_LoopedLSTM)
    store = CheckpointStore(tmp_path / "checkpoints")
    result = seqframe.engine.train(pipeline, checkpoints=store)
    assert result.overflow_steps >= 1 and result.skipped_steps == 0 and math.isfinite(result.loss)
    scaler = store.load_latest().state["precision"]["scaler"]
    assert scaler["scale"] < 2.0**40  # the scaler backed off, and its state is checkpointed


def test_accumulated_micro_batches_give_the_large_batch_gradient() -> None:
    def one_step(batch_size: int, accumulate: int) -> dict[str, torch.Tensor]:
        pipeline = _pipeline(
            _InOrderSentences(seq_len=32, mode="sentences"),
            steps=1,
            batch_size=batch_size,
            accumulate=accumulate,
            max_grad_norm=None,
            optimizer={"name": "sgd", "lr": 1.0},
        )
        before = {k: v.clone() for k, v in pipeline.model.state_dict().items()}
        seqframe.engine.train(pipeline)
        return {k: before[k] - v for k, v in pipeline.model.state_dict().items()}  # lr 1: the gradient

    large, accumulated = one_step(8, 1), one_step(4, 2)
    assert max(float((large[k] - accumulated[k]).abs().max()) for k in large) < 1e-6
    assert max(float(g.abs().max()) for g in large.values()) > 1e-3  # a real gradient, not zeros


def test_the_effective_batch_is_batch_size_times_accumulate() -> None:
    assert seqframe.engine.train(_pipeline(steps=1, accumulate=3)).effective_batch == 12


def test_bf16_on_a_cuda_device_without_support_names_the_recipe_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: False)
    with pytest.raises(ValueError, match="train.precision is bf16 but this GPU has no bfloat16 support"):
        Precision("bf16", torch.device("cuda"))


@pytest.mark.parametrize("hardware", [False, True])
def test_bf16_on_a_cpu_without_bf16_hardware_warns_once_that_it_is_emulated(
    hardware: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: hardware)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    assert (Precision("bf16", torch.device("cpu")).note is None) == hardware
    assert Precision("fp32", torch.device("cpu")).note is None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        seqframe.engine.train(_pipeline(precision="bf16", steps=2))
    emulated = [w for w in caught if "this CPU has neither AVX-512 BF16 nor AMX" in str(w.message)]
    assert len(emulated) == (0 if hardware else 1)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_the_gpu_check_script_says_there_is_no_cuda_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"
    spec = importlib.util.spec_from_file_location("gpu_check", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main([]) == 0
    assert "no CUDA device here; nothing to check" in capsys.readouterr().out


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_half_precisions_train_on_cuda(precision: str) -> None:
    result = seqframe.engine.train(_pipeline(precision=precision, steps=6, device="cuda"))
    assert math.isfinite(result.loss)
