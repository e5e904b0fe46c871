"""The determinism switch: ``CUBLAS_WORKSPACE_CONFIG`` set before CUDA starts (or a clear
error after), and a run-log line saying what was set; a CUDA twin of the bitwise check."""

from __future__ import annotations

import logging

import pytest
import torch

import seqframe
from seqframe.engine.rng import CUBLAS_WORKSPACE, deterministic_mode, prepare_cublas
from seqframe.errors import SeqframeError


def test_cublas_workspace_is_set_before_cuda_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)
    assert (
        prepare_cublas(True, torch.device("cuda"))
        == f"CUBLAS_WORKSPACE_CONFIG={CUBLAS_WORKSPACE} (set by seqframe before CUDA started)"
    )
    assert prepare_cublas(False, torch.device("cuda")) is None and prepare_cublas(True, torch.device("cpu")) is None


def test_cublas_workspace_after_cuda_started_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    with pytest.raises(SeqframeError, match="CUDA was started before CUBLAS_WORKSPACE_CONFIG was set"):
        prepare_cublas(True, torch.device("cuda"))


def test_the_run_log_says_what_determinism_set(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="seqframe"), deterministic_mode(True, torch.device("cpu")):
        pass
    assert "deterministic: torch.use_deterministic_algorithms(True)" in caplog.text
    assert "cudnn.benchmark=False" in caplog.text


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_deterministic_cuda_runs_repeat_bitwise() -> None:
    def losses() -> list[float]:
        pipeline = seqframe.build(
            "lm",
            [
                "train.steps=5",
                "train.eval_every=0",
                "train.sample=null",
                "train.device=cuda",
                "train.deterministic=true",
                "train.batch_size=8",
            ],
        )
        rows: list[float] = []

        class Rows(seqframe.engine.Callback):
            def on_train_batch_end(self, step: int, row: dict) -> None:
                rows.append(row["loss"])

        seqframe.engine.train(pipeline, [Rows()])
        return rows

    assert losses() == losses()
