"""SIGINT and SIGTERM (Ctrl+C, preemption): the handler only sets a flag, the trainer saves a checkpoint
at the next step boundary and stops with 130/143; a second signal stops at once; handlers
are restored afterwards and only installed in the main thread."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import seqframe
from seqframe import files
from seqframe.engine import Callback, CheckpointStore, StopRequest, signal_handlers
from seqframe.errors import NonFiniteError, TrainingInterrupted

CORPUS = "A stitch in time saves nine.\nWaste not, want not.\nMany hands make light work.\n" * 8
RECIPE = """\
task: {name: language_modelling, seq_len: 8}
data: {name: text_files, paths: [corpus.txt], valid_fraction: 0.1, test_fraction: 0.1}
tokenizer: {name: char}
model: {embedding_dim: 8, topology: {name: stacked, cell: gru, hidden_size: 12}, head: {name: linear}}
train: {steps: 20, batch_size: 4, seed: 1, optimizer: {name: adam, lr: 0.01}, eval_every: 0, log_every: 1,
        checkpoint: {every: 0}, sample: null, device: cpu}
"""


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    (tmp_path / "corpus.txt").write_text(CORPUS)
    (tmp_path / "tiny.yaml").write_text(RECIPE)
    return tmp_path / "tiny.yaml"


class _Raise(Callback):
    def __init__(self, step: int, signum: int) -> None:
        self.step, self.signum = step, signum

    def on_train_batch_end(self, step: int, row: dict) -> None:
        if step == self.step:
            signal.raise_signal(self.signum)


def test_first_signal_only_sets_the_flag_and_a_second_stops_at_once() -> None:
    stop = StopRequest()
    stop.handle(signal.SIGINT, None)
    assert stop.requested and stop.signal_name == "SIGINT"
    with pytest.raises(KeyboardInterrupt):
        stop.handle(signal.SIGINT, None)
    term = StopRequest()
    term.handle(signal.SIGTERM, None)
    with pytest.raises(SystemExit) as info:
        term.handle(signal.SIGTERM, None)
    assert info.value.code == 143


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_saves_a_checkpoint_at_the_step_boundary(recipe: Path, tmp_path: Path, signum: int, code: int) -> None:
    with pytest.raises(TrainingInterrupted) as info:
        seqframe.run(recipe, out_dir=tmp_path / "r", progress=False, callbacks=[_Raise(6, signum)])
    assert info.value.exit_code == code and info.value.step == 6
    assert info.value.checkpoint == str(tmp_path / "r/checkpoints/step_00000006")
    assert CheckpointStore(tmp_path / "r/checkpoints").load_latest().step == 6


class _Spy(Callback):
    """Records the SIGINT handler during training; raises at ``fail_at``."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.handlers: list[object] = []
        self.fail_at = fail_at

    def on_train_batch_end(self, step: int, row: dict) -> None:
        self.handlers.append(signal.getsignal(signal.SIGINT))
        if step == self.fail_at:
            raise NonFiniteError("injected failure")


def test_previous_handlers_are_restored_after_training_and_after_an_error(recipe: Path, tmp_path: Path) -> None:
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    spy = _Spy()
    seqframe.run(recipe, ["train.steps=2"], out_dir=tmp_path / "a", progress=False, callbacks=[spy])
    assert spy.handlers and all(isinstance(getattr(h, "__self__", None), StopRequest) for h in spy.handlers)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    with pytest.raises(NonFiniteError):
        seqframe.run(recipe, ["train.steps=5"], out_dir=tmp_path / "b", progress=False, callbacks=[_Spy(fail_at=3)])
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_engine_installs_no_handlers_unless_asked(recipe: Path) -> None:
    from seqframe.engine import train as engine_train

    before, spy = signal.getsignal(signal.SIGINT), _Spy()
    engine_train(seqframe.build(recipe, ["train.steps=2"]), [spy])
    assert spy.handlers == [before, before]
    with signal_handlers(StopRequest(), enabled=False):
        assert signal.getsignal(signal.SIGINT) is before


def test_training_outside_the_main_thread_installs_no_handlers(recipe: Path, tmp_path: Path) -> None:
    before = signal.getsignal(signal.SIGINT)
    outcome: list[object] = []

    def work() -> None:
        try:
            outcome.append(seqframe.run(recipe, ["train.steps=3"], out_dir=tmp_path / "r", progress=False).step)
        except BaseException as exc:  # reported below, not lost in the thread
            outcome.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(60)
    assert outcome == [3] and signal.getsignal(signal.SIGINT) is before


def test_signal_during_a_save_lets_the_save_finish(recipe: Path, tmp_path: Path, monkeypatch) -> None:
    original = CheckpointStore._fill

    def fill_then_signal(self, folder, step, *args):
        if step == 4:
            signal.raise_signal(signal.SIGTERM)  # arrives while the checkpoint is being written
        original(self, folder, step, *args)

    monkeypatch.setattr(CheckpointStore, "_fill", fill_then_signal)
    with pytest.raises(TrainingInterrupted) as info:
        seqframe.run(recipe, ["train.checkpoint.every=4"], out_dir=tmp_path / "r", progress=False)
    assert info.value.exit_code == 143 and info.value.step == 4
    assert CheckpointStore(tmp_path / "r/checkpoints").load(tmp_path / "r/checkpoints/step_00000004").step == 4
    assert not [p for p in (tmp_path / "r/checkpoints").iterdir() if p.name.startswith(".")]


def test_interrupt_without_a_run_directory_stops_without_a_checkpoint(recipe: Path) -> None:
    pipeline = seqframe.build(recipe)
    with pytest.raises(TrainingInterrupted, match="no run directory") as info:
        seqframe.train(pipeline, progress=False, callbacks=[_Raise(2, signal.SIGINT)])
    assert info.value.checkpoint is None and info.value.step == 2


def _spawn(recipe: Path, out: Path, *overrides: str) -> subprocess.Popen[str]:
    env = {**os.environ, "SEQFRAME_DISABLE_PLUGIN_AUTOLOAD": "1", "OMP_NUM_THREADS": "2"}
    command = [sys.executable, "-m", "seqframe", "run", str(recipe), *overrides, "--out", str(out), "--quiet"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _wait_for_rows(process: subprocess.Popen[str], metrics: Path, rows: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"training ended early: {process.communicate()}")
        if metrics.is_file() and len(metrics.read_text().splitlines()) >= rows:
            return
        time.sleep(0.05)
    process.kill()
    raise AssertionError("no metrics rows in time")


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_cli_process_stops_cleanly_on_a_signal_and_resumes_exactly(
    recipe: Path, tmp_path: Path, signum: int, code: int
) -> None:
    out = tmp_path / "run"
    process = _spawn(recipe, out, "train.steps=1000000")
    _wait_for_rows(process, out / "metrics.jsonl", 3)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == code, stderr
    assert "checkpoint saved to" in stderr and "resume with: seqframe run" in stderr and "--resume" in stderr
    assert "Traceback" not in stderr and stdout == ""
    stopped = json.loads((out / "checkpoints/latest.json").read_text())["step"]
    assert stopped >= 3
    if signum == signal.SIGTERM:
        return  # the SIGINT case checks the resumed numbers
    total = stopped + 3
    with pytest.warns(UserWarning, match=f"train.steps: 1000000 -> {total}"):
        seqframe.run(recipe, [f"train.steps={total}"], out_dir=out, progress=False, resume=True)
    seqframe.run(recipe, [f"train.steps={total}"], out_dir=tmp_path / "straight", progress=False)
    rows = [
        [json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines()]
        for d in (out, tmp_path / "straight")
    ]
    resumed = [(r["step"], r["loss"]) for r in rows[0] if r["split"] == "train"]
    straight = [(r["step"], r["loss"]) for r in rows[1] if r["split"] == "train"]
    assert [s for s, _ in resumed] == [s for s, _ in straight] == list(range(1, total + 1))
    assert all(abs(a - b) <= 1e-6 for (_, a), (_, b) in zip(resumed, straight))


def test_second_signal_does_not_leave_a_broken_checkpoint(tmp_path: Path, monkeypatch) -> None:
    import torch

    store = CheckpointStore(tmp_path / "ckpt")
    model = torch.nn.Linear(2, 2)
    store.save(1, model, {"step": 1})
    original = files.write_file

    def interrupted(path, data, **options):
        if Path(path).name == "state.pt":
            raise KeyboardInterrupt  # a second Ctrl-C in the middle of writing
        return original(path, data, **options)

    monkeypatch.setattr(files, "write_file", interrupted)
    with pytest.raises(KeyboardInterrupt):
        store.save(2, model, {"step": 2})
    assert store.load_latest().step == 1 and [p.name for p in store.root.iterdir() if p.is_dir()] == ["step_00000001"]
