"""Training with several processes (torchrun, gloo on 127.0.0.1): a stop on one rank
stopping all at the same step, identical weights on every rank, rank-0-only files,
``--nproc`` resuming, the loss curve of one process with the same global batch across the
resume, a failing rank ending the job with its message (after steps with a one-row batch
and accumulation that match one process); and the helpers (sharding, stop
requests, the batch-size check, the ``--nproc`` arguments) in one process.

Three torchrun launches in all (each costs several seconds of imports on 2 cores)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import seqframe
from seqframe import api
from seqframe.cli import main
from seqframe.engine import RunDir
from seqframe.engine.distributed import World, shard_batch
from seqframe.engine.signals import StopRequest
from seqframe.errors import RecipeError

WORKER = Path(__file__).with_name("ddp_worker.py")
CORPUS = (
    "It was the best of times, it was the worst of times,\nit was the age of wisdom, it was the age of foolishness.\n"
) * 7
RECIPE = """\
task: {name: language_modelling, seq_len: 8}
data: {name: text_files, paths: [corpus.txt], valid_fraction: 0.1, test_fraction: 0.1}
tokenizer: {name: char}
model:
  embedding_dim: 8
  topology: {name: stacked, cell: lstm, hidden_size: 16, num_layers: 2, dropout: 0.0}
  head: {name: linear}
train: {steps: 6, batch_size: 4, seed: 3, optimizer: {name: adam, lr: 0.01}, eval_every: 3, log_every: 1,
        checkpoint: {every: 3, keep_last: null}, sample: null, device: cpu, loggers: [tensorboard]}
"""
SENTENCES = [
    "the cat sat",
    "on the mat and",
    "a dog",
    "sat on the log by the door",
    "it rained",
    "then the sun came out",
    "the end",
]
SENTENCE_RECIPE = """\
task: {name: language_modelling, seq_len: 32, mode: sentences}
data: {name: text_files, paths: [sentences.txt], valid_fraction: 0.0, test_fraction: 0.0}
tokenizer: {name: char}
model: {embedding_dim: 8, topology: {name: stacked, cell: lstm, hidden_size: 16}, head: {name: linear}}
train: {steps: 6, batch_size: 4, accumulate: 2, seed: 1, optimizer: {name: sgd, lr: 0.5}, max_grad_norm: null,
        eval_every: 0, log_every: 1, checkpoint: {every: 0}, sample: null, device: cpu}
"""
LOSS_TOLERANCE = 1e-5  # 2 ranks x 2 rows vs 1 process x 4 rows: float rounding only (measured 3.6e-7)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _torchrun(folder: Path, args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_addr=127.0.0.1",
        f"--master_port={_free_port()}",
        str(WORKER),
        *args,
    ]
    return subprocess.run(
        command,
        cwd=folder,
        env={**os.environ, "SEQFRAME_DIST_TIMEOUT": "60", **env},
        capture_output=True,
        text=True,
        timeout=180,
    )


def _train_rows(run: Path) -> list[tuple[int, float]]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["loss"]) for r in rows if r["split"] == "train"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ddp")
    (path / "corpus.txt").write_text(CORPUS)
    (path / "tiny.yaml").write_text(RECIPE)
    (path / "sentences.txt").write_text("\n".join(SENTENCES * 3) + "\n")
    (path / "sentences.yaml").write_text(SENTENCE_RECIPE)
    return path


@pytest.fixture(scope="module")
def two_ranks(folder: Path) -> Path:
    """2 processes train 6 steps, rank 1 receives SIGTERM after step 3, each rank dumps its
    weights when it stops; then ``seqframe run --nproc 2 --resume`` trains steps 5 and 6."""
    (folder / "dump").mkdir()
    stopped = _torchrun(
        folder,
        ["run", "tiny.yaml", "--out", "two", "--quiet"],
        SEQFRAME_TEST_SIGNAL="1:3",
        SEQFRAME_TEST_DUMP=str(folder / "dump"),
    )
    assert stopped.returncode != 0
    (folder / "stopped.txt").write_text(stopped.stderr)
    (folder / "stopped-log.txt").write_text((folder / "two/run.log").read_text())
    resumed = subprocess.run(
        [sys.executable, "-m", "seqframe", "run", "tiny.yaml", "--out", "two", "--resume", "--quiet", "--nproc", "2"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "SEQFRAME_DIST_TIMEOUT": "60"},
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    return folder / "two"


def test_a_signal_on_one_rank_stops_every_rank_at_the_same_step(two_ranks: Path) -> None:
    stderr = (two_ranks.parent / "stopped.txt").read_text()
    assert "SIGTERM received: training stopped after step 4" in stderr  # agreed at the next step's all-gather
    assert "[rank 1]" not in stderr  # only rank 0 reports a stop
    assert "--nproc=2" in stderr  # in the resume hint
    assert (two_ranks / "checkpoints/step_00000004").is_dir()


def test_every_rank_holds_identical_weights(two_ranks: Path) -> None:
    rank0, rank1 = (torch.load(two_ranks.parent / "dump" / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert rank0.keys() == rank1.keys()
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)
    saved = load_file(str(two_ranks / "checkpoints/step_00000004/model.safetensors"))
    assert all(torch.equal(saved[k], rank0[k]) for k in saved)


def test_two_ranks_follow_one_process_with_the_same_batch_across_the_resume(two_ranks: Path, folder: Path) -> None:
    seqframe.run(folder / "tiny.yaml", out_dir=folder / "one", progress=False)
    one, two = _train_rows(folder / "one"), _train_rows(two_ranks)
    assert [s for s, _ in one] == [s for s, _ in two] == [1, 2, 3, 4, 5, 6]  # rank 0 only: no row twice
    assert max(abs(a - b) for (_, a), (_, b) in zip(one, two)) < LOSS_TOLERANCE
    single, double = load_file(str(folder / "one/model.safetensors")), load_file(str(two_ranks / "model.safetensors"))
    assert max(float((single[k] - double[k]).abs().max()) for k in single) < LOSS_TOLERANCE


def test_only_rank_0_writes_and_the_run_log_states_the_effective_batch(two_ranks: Path) -> None:
    log = (two_ranks.parent / "stopped-log.txt").read_text()
    assert log.count("training: ") == 1  # one writer
    assert "2 processes (gloo)" in log and "effective batch 4 rows" in log and "2 rows per process" in log
    meta = json.loads((two_ranks / "run.json").read_text())
    assert meta["world_size"] == 2 and meta["effective_batch"] == 4


def test_only_rank_0_logs_to_tensorboard_and_each_step_once_across_the_resume(two_ranks: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    files = sorted((two_ranks / "logs" / "tensorboard").iterdir())
    assert len(files) == 2  # one per session (stopped, resumed), from rank 0 only
    events = EventAccumulator(str(two_ranks / "logs" / "tensorboard")).Reload()
    assert [e.step for e in events.Scalars("train/loss")] == [1, 2, 3, 4, 5, 6]
    assert [(e.step, round(e.value, 5)) for e in events.Scalars("train/loss")] == [
        (step, round(loss, 5)) for step, loss in _train_rows(two_ranks)
    ]


def test_the_checkpoint_holds_each_ranks_random_state(two_ranks: Path) -> None:
    state = torch.load(two_ranks / "checkpoints/step_00000004/state.pt", weights_only=True)
    assert state["world_size"] == 2 and len(state["ranks"]) == 2
    assert not torch.equal(state["ranks"][0]["rng"]["torch"], state["ranks"][1]["rng"]["torch"])  # seed + rank


def test_rank_0_holds_the_run_lock(two_ranks: Path, folder: Path) -> None:
    assert json.loads((two_ranks / "manifest.json").read_text())["complete"] is True
    assert not (two_ranks / ".lock").exists()  # released by the stopped run and by the resumed one
    with RunDir.open_writer(two_ranks, resume=True):  # another writer holds it: the job stops before training
        done = _torchrun(folder, ["run", "tiny.yaml", "--out", "two", "--resume", "--quiet"])
    assert done.returncode != 0
    assert (
        f"[rank 0] error: two: another seqframe process is writing this run directory (PID {os.getpid()}" in done.stderr
    )


@pytest.fixture(scope="module")
def failing(folder: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    """2 processes train sentences (21 of them, so batches of 4 include one of a single row)
    with 2 batches per step; rank 1 raises a DataError at step 3."""
    start = time.monotonic()
    done = _torchrun(
        folder,
        ["run", "sentences.yaml", "--out", "broken", "--quiet"],
        SEQFRAME_TEST_FAIL="1:3",
        SEQFRAME_DIST_TIMEOUT="30",
    )
    return done, time.monotonic() - start


def test_a_failing_rank_ends_the_job_with_its_rank_and_message(
    failing: tuple[subprocess.CompletedProcess[str], float],
) -> None:
    done, seconds = failing
    assert done.returncode != 0
    assert "[rank 1] error: corpus.txt: a broken example in the batch of step 3 (injected on rank 1)" in done.stderr
    assert seconds < 120  # bounded by the peer's lost connection, never by a hang


def test_a_one_row_batch_and_accumulation_match_one_process(
    failing: tuple[subprocess.CompletedProcess[str], float], folder: Path
) -> None:
    pipeline = seqframe.build(folder / "sentences.yaml")
    ids = pipeline.task.encode(pipeline.tokenizers, pipeline.data.texts("train"))
    assert (
        next(pipeline.task.train_batches(ids, 4, 1, pipeline.tokenizers))["inputs"].shape[0] == 1
    )  # step 1 starts with it
    # rank 1 has no row of that batch: it runs a stand-in row with weight 0
    seqframe.run(folder / "sentences.yaml", ["train.steps=2"], out_dir=folder / "sentences-one", progress=False)
    one, two = _train_rows(folder / "sentences-one"), _train_rows(folder / "broken")
    assert [s for s, _ in one] == [s for s, _ in two] == [1, 2]
    assert max(abs(a - b) for (_, a), (_, b) in zip(one, two)) < LOSS_TOLERANCE


def test_shards_are_every_nth_row_and_a_short_batch_gives_a_stand_in_row() -> None:
    batch = {
        "inputs": torch.arange(10).view(5, 2),
        "lengths": torch.tensor([2, 2, 1, 2, 1]),
        "reset": True,
        "vocab": torch.zeros(3),
    }
    shard, real = shard_batch(batch, World(1, 2))
    assert real and shard["inputs"].tolist() == [[2, 3], [6, 7]] and shard["lengths"].tolist() == [2, 2]
    assert shard["reset"] is True and shard["vocab"].shape == (3,)  # not a per-row tensor: kept whole
    short, real = shard_batch({"inputs": torch.arange(4).view(2, 2)}, World(2, 3))
    assert not real and short["inputs"].tolist() == [[0, 1]]


def test_a_batch_smaller_than_the_number_of_processes_is_a_recipe_error(folder: Path) -> None:
    pipeline = seqframe.build(folder / "tiny.yaml", ["train.batch_size=1"])
    with pytest.raises(RecipeError, match=r"train\.batch_size: 1 is smaller than the 2 processes"):
        seqframe.engine.train(pipeline, world=World(0, 2))


def test_a_repeated_signal_within_the_window_is_the_same_stop_request() -> None:
    stop = StopRequest(repeat_window_s=60.0)
    stop.handle(signal.SIGTERM, None)
    stop.handle(signal.SIGTERM, None)  # torchrun passing on the same signal: no immediate exit
    assert stop.signal_name == "SIGTERM"
    once = StopRequest()
    once.handle(signal.SIGTERM, None)
    with pytest.raises(SystemExit):
        once.handle(signal.SIGTERM, None)


def test_nproc_launches_torchrun_with_the_same_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(api, "launch", lambda nproc, argv: calls.append((nproc, argv)) or 0)
    assert main(["run", "lm", "train.steps=3", "--out", "r", "--resume", "--quiet", "--nproc", "3"]) == 0
    assert calls == [(3, ["run", "--out", "r", "--resume", "--quiet", "lm", "train.steps=3"])]  # validated first


def test_nproc_inside_torchrun_is_refused(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert main(["run", "tiny.yaml", "--nproc", "2"]) == 2
    assert "[rank 1] error: --nproc: this process was already started by torchrun" in capsys.readouterr().err
