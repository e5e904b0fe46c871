"""Fault injection with real processes: SIGKILL at seeded moments of checkpoint writing,
then --resume trains exactly as an uninterrupted run (saves are atomic, a half-written
checkpoint is passed over); a full disk (a small tmpfs) stops the run with one line naming
the file and keeps the last checkpoint;
a reader while training neither fails nor disturbs it (readers never write); a second
writer is refused while the first trains on (one writer per run directory)."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import seqframe
from seqframe.engine import CheckpointStore, RunDir

pytestmark = pytest.mark.slow

KILLER = """\
import os, signal, sys
from seqframe.engine.checkpoint import CheckpointStore

kill_at, seen, inside = int(os.environ["SEQFRAME_TEST_KILL_AT"]), [0], [False]

def counted(function):
    def call(*args, **kwargs):
        if inside[0]:
            seen[0] += 1
            if seen[0] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
        return function(*args, **kwargs)
    return call

os.fsync, os.rename, os.replace = counted(os.fsync), counted(os.rename), counted(os.replace)
save = CheckpointStore.save

def traced(self, *args, **kwargs):
    inside[0] = True
    try:
        return save(self, *args, **kwargs)
    finally:
        inside[0] = False

CheckpointStore.save = traced
from seqframe.cli import main
sys.exit(main(sys.argv[1:]))
"""
"""``python -c KILLER run ...``: SIGKILLs itself at the N-th fsync/rename/replace made while
saving a checkpoint (N from ``SEQFRAME_TEST_KILL_AT``)."""


def _events_per_save(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    """How many fsync/rename/replace calls one checkpoint save makes (measured here)."""
    calls = []
    for name in ("fsync", "rename", "replace"):
        real = getattr(os, name)
        monkeypatch.setattr(os, name, lambda *a, _real=real, **k: calls.append(1) or _real(*a, **k))
    model = torch.nn.Linear(2, 2)
    CheckpointStore(tmp_path / "probe").save(1, model, {"optimizer": torch.optim.Adam(model.parameters()).state_dict()})
    monkeypatch.undo()
    return len(calls)


def _straight(recipe: Path, tmp_path: Path, overrides: list[str]) -> Path:
    seqframe.run(recipe, overrides, out_dir=tmp_path / "straight", progress=False)
    return tmp_path / "straight"


def test_sigkill_during_checkpoint_writes_then_resume_equals_an_uninterrupted_run(
    recipe: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, child_env: dict[str, str], train_rows
) -> None:
    overrides = ["train.checkpoint.every=2"]  # saves at steps 2, 4, 6 and 8
    per_save = _events_per_save(tmp_path, monkeypatch)
    moments = sorted(random.Random(2024).sample(range(per_save + 1, 4 * per_save + 1), 4))  # in saves 2 to 4
    expected = train_rows(_straight(recipe, tmp_path, overrides))
    for moment in moments:
        out = tmp_path / f"killed-{moment}"
        killed = subprocess.run(
            [sys.executable, "-c", KILLER, "run", str(recipe), *overrides, "--out", str(out), "--quiet"],
            env={**child_env, "SEQFRAME_TEST_KILL_AT": str(moment)},
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert killed.returncode == -signal.SIGKILL, (moment, killed.stderr[-2000:])
        assert (out / ".lock").exists()  # the killed writer could not release it
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            seqframe.run(recipe, overrides, out_dir=out, progress=False, resume=True)
        assert any("taking over the lock of PID" in str(w.message) for w in caught)
        resumed = train_rows(out)
        assert [s for s, _ in resumed] == list(range(1, 9)), moment
        assert all(abs(a - b) <= 1e-6 for (_, a), (_, b) in zip(resumed, expected)), moment
        leftovers = [p.name for p in (out / "checkpoints").iterdir() if p.name.startswith(".")]
        assert leftovers == [] and not (out / ".lock").exists() and RunDir.open_reader(out).finished


def test_a_full_disk_stops_the_run_naming_the_file_and_keeps_the_last_checkpoint(
    recipe: Path, tmp_path: Path, private_mounts, train_rows
) -> None:
    script = (
        'mount -t tmpfs -o size=160k tmpfs "$1" && '
        '"$PY" -m seqframe run "$3" train.checkpoint.every=2 --out "$1/run" --quiet; code=$?; '
        'cp -a "$1/run" "$2/"; exit $code'
    )
    (tmp_path / "disk").mkdir()
    (tmp_path / "copy").mkdir()
    done = private_mounts(script, str(tmp_path / "disk"), str(tmp_path / "copy"), str(recipe))
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "No space left on device" in errors[0] and f"{tmp_path / 'disk'}/run/" in errors[0]
    run = tmp_path / "copy/run"
    checkpoint = CheckpointStore(run / "checkpoints").load_latest()  # the last complete one loads
    assert checkpoint.step in (2, 4, 6)
    assert not (run / ".lock").exists()  # the writer stopped cleanly and released it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seqframe.run(recipe, ["train.checkpoint.every=2"], out_dir=run, progress=False, resume=True)
    expected = train_rows(_straight(recipe, tmp_path, ["train.checkpoint.every=2"]))
    assert [s for s, _ in train_rows(run)] == list(range(1, 9))
    assert all(abs(a - b) <= 1e-6 for (_, a), (_, b) in zip(train_rows(run), expected))


def _spawn(recipe: Path, out: Path, env: dict[str, str], *overrides: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "seqframe", "run", str(recipe), *overrides, "--out", str(out), "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _wait_for(process: subprocess.Popen[str], ready: Callable[[], bool], what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if process.poll() is not None:
            raise AssertionError(f"training ended before {what}: {process.communicate()}")
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"no {what} in time")


def test_a_reader_while_training_neither_fails_nor_disturbs_the_writer(
    recipe: Path, tmp_path: Path, child_env: dict[str, str], train_rows
) -> None:
    out = tmp_path / "r"
    process = _spawn(
        recipe, out, child_env, "train.steps=150", "train.checkpoint.every=1", "train.eval_every=0", "train.sample=null"
    )
    _wait_for(process, lambda: (out / "checkpoints/latest.json").exists(), "a first checkpoint")
    reads = 0
    while process.poll() is None:
        pipeline = seqframe.load_run(out)  # the newest complete checkpoint, then the final weights
        assert seqframe.predict(pipeline, ["It "], max_tokens=2, seed=0)
        reads += 1
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0 and "Traceback" not in stderr, stderr
    assert reads >= 2
    assert [s for s, _ in train_rows(out)] == list(range(1, 151))
    assert RunDir.open_reader(out).finished and not [
        p for p in (out / "checkpoints").iterdir() if p.name.startswith(".")
    ]


def test_a_second_writer_is_refused_while_the_first_trains_on(
    recipe: Path, tmp_path: Path, child_env: dict[str, str], train_rows
) -> None:
    out = tmp_path / "r"
    endless = ["train.steps=1000000", "train.checkpoint.every=3", "train.eval_every=0"]
    first = _spawn(recipe, out, child_env, *endless)
    _wait_for(first, lambda: (out / "checkpoints/latest.json").exists(), "a first checkpoint")
    holder = f"PID {first.pid} on host {socket.gethostname()!r}, started "
    for second in (["--resume", *endless], ["--overwrite"]):  # each would run for ever if it were let in
        done = subprocess.run(
            [sys.executable, "-m", "seqframe", "run", str(recipe), *second, "--out", str(out), "--quiet"],
            capture_output=True,
            text=True,
            env=child_env,
            timeout=120,
        )
        assert done.returncode == 2 and holder in done.stderr and "Traceback" not in done.stderr, done.stderr
    first.send_signal(signal.SIGINT)
    _, stderr = first.communicate(timeout=60)
    assert first.returncode == 130, stderr
    steps = [s for s, _ in train_rows(out)]
    assert steps == list(range(1, len(steps) + 1))  # one writer: no row twice, none lost
    assert not (out / ".lock").exists()
    assert json.loads((out / "checkpoints/latest.json").read_text())["step"] == steps[-1]
