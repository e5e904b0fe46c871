"""The training loop: finite losses that go down, metrics rows, NaN stop, device choice."""

from __future__ import annotations

import json
import math

import pytest
import torch

import seqframe
from seqframe.builtin.heads import LinearHead
from seqframe.builtin.tasks.language_modelling import LanguageModellingTask
from seqframe.builtin.tokenizers import CharTokenizer
from seqframe.engine import MetricsWriter, resolve_device
from seqframe.engine.callbacks import Callback
from seqframe.errors import NonFiniteError

TEXT = "the cat sat on the mat and the dog sat on the log. " * 60


class _Texts:
    def texts(self, split: str) -> list[str]:
        return [TEXT] if split == "train" else [TEXT[:400]]


def _pipeline(steps: int = 30, **train: object) -> seqframe.Pipeline:
    torch.manual_seed(0)
    return seqframe.assemble(
        task=LanguageModellingTask(seq_len=16),
        tokenizer=CharTokenizer(),
        topology=seqframe.build_rnn("lstm", input_size=8, hidden_size=32),
        head=LinearHead,
        embedding_dim=8,
        data=_Texts(),
        train=seqframe.TrainConfig(steps=steps, batch_size=4, eval_every=0, log_every=5,
                                   optimizer={"name": "adam", "lr": 1e-2}, **train),  # type: ignore[arg-type]
    )


def test_training_lowers_the_validation_loss() -> None:
    pipeline = _pipeline(steps=1)
    first = seqframe.train(pipeline, progress=False).final_eval
    pipeline = _pipeline(steps=60)
    last = seqframe.train(pipeline, progress=False).final_eval
    assert first is not None and last is not None
    assert last["loss"] < first["loss"] - 0.5
    assert math.isclose(last["bits_per_token"], last["loss"] / math.log(2))


def test_metrics_file_has_train_and_valid_rows(tmp_path) -> None:
    pipeline = _pipeline(steps=10)
    seqframe.train(pipeline, tmp_path / "run", progress=False)
    rows = [json.loads(line) for line in (tmp_path / "run/metrics.jsonl").read_text().splitlines()]
    train_rows = [r for r in rows if r["split"] == "train"]
    assert [r["step"] for r in train_rows] == [1, 5, 10]
    assert all(math.isfinite(r["loss"]) and r["tokens_per_s"] > 0 for r in train_rows)
    assert rows[-1]["split"] == "valid" and rows[-1]["step"] == 10 and "bpc" in rows[-1]


def test_nan_loss_stops_the_run_naming_the_step() -> None:
    pipeline = _pipeline(steps=10)

    class Poison(Callback):
        def on_train_batch_end(self, step, row):
            if step == 3:
                with torch.no_grad():
                    for p in pipeline.model.parameters():
                        p.fill_(float("nan"))

    with pytest.raises(NonFiniteError, match="step 4"):
        seqframe.train(pipeline, progress=False, callbacks=[Poison()])


def test_same_seed_gives_identical_losses(tmp_path) -> None:
    losses = []
    for run in ("a", "b"):
        seqframe.train(_pipeline(steps=8), tmp_path / run, progress=False)
        rows = (tmp_path / run / "metrics.jsonl").read_text()
        losses.append([json.loads(r)["loss"] for r in rows.splitlines()])
    assert losses[0] == losses[1]


def test_metrics_writer_appends_one_json_object_per_line(tmp_path) -> None:
    writer = MetricsWriter(tmp_path / "m.jsonl", log_every=2)
    for step in range(1, 5):
        writer.on_train_batch_end(step, {"loss": float(step)})
    writer.on_train_end(4)
    assert [json.loads(line)["step"] for line in (tmp_path / "m.jsonl").read_text().splitlines()] == [1, 2, 4]


def test_auto_device_is_cpu_without_cuda() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_device_without_cuda_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_training_runs_on_cuda() -> None:
    result = seqframe.train(_pipeline(steps=3, device="cuda"), progress=False)
    assert math.isfinite(result.loss)
