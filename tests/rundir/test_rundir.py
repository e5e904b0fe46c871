"""The run directory (RunDir): readers never write, not even to tidy a damaged run, one
writer at a time, a refused resume (mismatched model, changed recipe) changes nothing,
--overwrite deletes only what seqframe wrote, nothing is written through a symbolic link,
everything read back is verified against the manifest, files follow the umask."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import signal
import socket
import warnings
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import seqframe
from seqframe import files
from seqframe.cli import main
from seqframe.engine import Callback, CheckpointStore, MetricsWriter, RunDir
from seqframe.errors import CheckpointError, DataError, RecipeError, TrainingInterrupted


class _StopAt(Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, step: int, row: dict) -> None:
        if step == self.step:
            signal.raise_signal(signal.SIGTERM)


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


# --- readers never write ----------------------------------------------------------------------


def test_readers_never_change_a_run_directory_nor_a_live_writers_temporary_folder(
    recipe: Path, tmp_path: Path, tree
) -> None:
    with pytest.raises(TrainingInterrupted):
        seqframe.run(recipe, out_dir=tmp_path / "r", progress=False, callbacks=[_StopAt(6)])
    live = tmp_path / "r/checkpoints/.tmp-step_00000008-live"  # what a writer is assembling right now
    live.mkdir()
    (live / "state.pt").write_bytes(b"half written")
    before = tree(tmp_path / "r")
    pipeline = seqframe.load_run(tmp_path / "r")
    assert seqframe.predict(tmp_path / "r", ["It "], max_tokens=3, seed=0)
    assert seqframe.api.evaluate(tmp_path / "r", split="test")["loss"] > 0
    assert tree(tmp_path / "r") == before and (live / "state.pt").read_bytes() == b"half written"
    assert pipeline.model.training is False


def test_a_run_on_a_read_only_filesystem_can_be_read(recipe: Path, tmp_path: Path, private_mounts) -> None:
    with pytest.raises(TrainingInterrupted):  # read back from its checkpoint, beside a killed save's leftovers
        seqframe.run(recipe, out_dir=tmp_path / "r", progress=False, callbacks=[_StopAt(6)])
    (tmp_path / "r/checkpoints/.tmp-step_00000008-killed").mkdir()
    script = (
        'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && '
        '"$PY" -m seqframe predict "$1" "It " --max-tokens 3 && "$PY" -m seqframe eval "$1" --json'
    )
    done = private_mounts(script, str(tmp_path / "r"))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and json.loads(done.stdout.splitlines()[-1])["loss"] > 0


# --- one writer ---------------------------------------------------------------------------------


def test_a_second_writer_exits_2_naming_the_holder(finished: Path, capsys: pytest.CaptureFixture[str], tree) -> None:
    before = tree(finished)
    with RunDir.open_writer(finished, resume=True):
        assert (
            main(
                [
                    "run",
                    str(finished.parent / "tiny.yaml"),
                    "train.steps=8",
                    "--out",
                    str(finished),
                    "--resume",
                    "--quiet",
                ]
            )
            == 2
        )
    line = _error_line(capsys)
    assert "another seqframe process is writing this run directory" in line
    assert f"PID {os.getpid()} on host {socket.gethostname()!r}, started " in line
    assert tree(finished) == before


class _LockProbe(Callback):
    """Records, during training, whether the run's lock is held and by whom."""

    def __init__(self, run: Path) -> None:
        self.run = run
        self.seen: list[tuple[bool, int]] = []

    def on_train_batch_end(self, step: int, row: dict) -> None:
        fd = os.open(self.run / ".lock", os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            held = False
        except BlockingIOError:
            held = True
        finally:
            os.close(fd)
        self.seen.append((held, json.loads((self.run / ".lock").read_text())["pid"]))


def test_the_writer_holds_the_lock_for_the_whole_run_and_removes_it_after(recipe: Path, tmp_path: Path) -> None:
    probe = _LockProbe(tmp_path / "r")
    seqframe.run(recipe, out_dir=tmp_path / "r", progress=False, callbacks=[probe])
    assert probe.seen == [(True, os.getpid())] * 8
    assert not (tmp_path / "r/.lock").exists()
    with pytest.raises(TrainingInterrupted):
        seqframe.run(
            recipe,
            ["train.steps=12"],
            out_dir=tmp_path / "r",
            progress=False,
            resume=True,
            allow_recipe_change=True,
            callbacks=[_StopAt(10)],
        )
    assert not (tmp_path / "r/.lock").exists()


def test_a_lock_left_by_a_killed_writer_is_taken_over_with_a_warning(finished: Path) -> None:
    (finished / ".lock").write_text(json.dumps({"pid": 999999999, "host": "gone", "started": "2020-01-01 00:00:00"}))
    with pytest.warns(UserWarning, match=r"taking over the lock of PID 999999999 on host 'gone', started 2020-01-01"):
        result = seqframe.run(
            finished.parent / "tiny.yaml", ["train.steps=6"], out_dir=finished, progress=False, resume=True
        )
    assert result.step == 6 and not (finished / ".lock").exists()


# --- a refused resume changes nothing -----------------------------------------------------------


REFUSALS = {
    "model changed": (["model.topology.hidden_size=16"], False, RecipeError, "hidden_size: 12 -> 16"),
    "model changed, allowed": (["model.topology.hidden_size=16"], True, CheckpointError, "shape mismatches"),
    "optimizer kind, allowed": (
        ["train.optimizer.name=sgd"],
        True,
        CheckpointError,
        "optimizer state was written by 'adam' and the recipe now asks for 'sgd'",
    ),
    "data changed": ([], False, CheckpointError, "training data changed since this checkpoint"),
    "tokenizer changed, allowed": (["tokenizer.name=word"], True, DataError, "saved tokenizer is 'char', not 'word'"),
    "run.log is a link": ([], False, CheckpointError, "run.log: is a symbolic link"),
    "stale lock and model changed": (["model.topology.hidden_size=16"], False, RecipeError, "hidden_size"),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_a_refused_resume_leaves_the_run_directory_byte_identical(
    finished: Path, tmp_path: Path, case: str, tree
) -> None:
    overrides, allow, error, message = REFUSALS[case]
    outside = tmp_path / "elsewhere.log"
    outside.write_text("not seqframe's")
    if case == "data changed":
        (tmp_path / "corpus.txt").write_text((tmp_path / "corpus.txt").read_text().replace("wisdom", "wizdom"))
    if case == "run.log is a link":
        (finished / "run.log").unlink()
        (finished / "run.log").symlink_to(outside)
    if case.startswith("stale lock"):
        (finished / ".lock").write_text('{"pid": 999999999, "host": "gone", "started": "then"}')
    before = tree(finished)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(error, match=message):
            seqframe.run(
                tmp_path / "tiny.yaml",
                ["train.steps=8", *overrides],
                out_dir=finished,
                progress=False,
                resume=True,
                allow_recipe_change=allow,
            )
    assert tree(finished) == before and outside.read_text() == "not seqframe's"


def test_an_optimizer_kind_change_exits_2_without_a_traceback(
    finished: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "run",
            str(finished.parent / "tiny.yaml"),
            "train.steps=8",
            "train.optimizer.name=sgd",
            "--out",
            str(finished),
            "--resume",
            "--allow-recipe-change",
            "--quiet",
        ]
    )
    assert code == 2
    line = _error_line(capsys)
    assert "state.pt: the optimizer state was written by 'adam' and the recipe now asks for 'sgd'" in line


def test_resuming_a_pipeline_with_another_vocabulary_is_refused_before_writing(
    finished: Path, tmp_path: Path, tree
) -> None:
    pipeline = seqframe.build(tmp_path / "tiny.yaml", ["train.steps=6"])
    pipeline.tokenizer.fit(["a different text, a different vocabulary: XYZ"])
    before = tree(finished)
    with pytest.raises(CheckpointError, match="tokenizer.json: the tokenizer's vocabulary differs"):
        seqframe.train(pipeline, finished, progress=False, resume=True)
    assert tree(finished) == before


def test_changed_data_resumes_with_a_warning_when_allowed(finished: Path, tmp_path: Path) -> None:
    (tmp_path / "corpus.txt").write_text((tmp_path / "corpus.txt").read_text().replace("wisdom", "wizdom"))
    with pytest.warns(UserWarning, match="training data changed since this checkpoint"):
        result = seqframe.run(
            tmp_path / "tiny.yaml",
            ["train.steps=6"],
            out_dir=finished,
            progress=False,
            resume=True,
            allow_recipe_change=True,
        )
    assert result.step == 6


# --- --overwrite deletes only what seqframe wrote -----------------------------------------------


def test_overwrite_refuses_a_folder_holding_the_recipe_being_run(
    recipe: Path, tmp_path: Path, tree, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "recipe.yaml").write_text("# my commented recipe\n" + (tmp_path / "tiny.yaml").read_text())
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "mine": true}\n')
    before = tree(tmp_path)
    assert main(["run", str(tmp_path / "recipe.yaml"), "--out", str(tmp_path), "--overwrite", "--quiet"]) == 2
    assert "holds the recipe being run" in _error_line(capsys) and tree(tmp_path) == before


def test_overwrite_refuses_files_seqframe_did_not_write_and_names_them(
    recipe: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], tree
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "metrics.jsonl").write_text('{"step": 1, "mine": true}\n')
    before = tree(out)
    assert main(["run", str(recipe), "--out", str(out), "--overwrite", "--quiet"]) == 2
    line = _error_line(capsys)
    assert (
        "files it did not write (there is no manifest.json listing what seqframe wrote): 'metrics.jsonl', "
        "'notes.txt'" in line
    )
    assert tree(out) == before


# --- nothing is written through a symbolic link -------------------------------------------------


@pytest.mark.parametrize("name", ["run.log", "metrics.jsonl", "recipe.yaml", "loss.png", "manifest.json"])
def test_resume_refuses_a_run_file_that_is_a_symbolic_link(finished: Path, tmp_path: Path, name: str) -> None:
    outside = tmp_path / "outside"
    outside.write_bytes(b"someone else's")
    (finished / name).unlink()
    (finished / name).symlink_to(outside)
    with pytest.raises(CheckpointError, match=f"{name}: is a symbolic link"):
        seqframe.run(tmp_path / "tiny.yaml", ["train.steps=6"], out_dir=finished, progress=False, resume=True)
    assert outside.read_bytes() == b"someone else's" and (finished / name).is_symlink()


def test_resume_refuses_a_checkpoints_folder_that_is_a_symbolic_link(finished: Path, tmp_path: Path, tree) -> None:
    (finished / "checkpoints").rename(tmp_path / "moved")
    (finished / "checkpoints").symlink_to(tmp_path / "moved", target_is_directory=True)
    before = tree(tmp_path / "moved")
    with pytest.raises(CheckpointError, match="checkpoints: is a symbolic link"):
        seqframe.run(tmp_path / "tiny.yaml", ["train.steps=6"], out_dir=finished, progress=False, resume=True)
    assert tree(tmp_path / "moved") == before


def test_appending_and_replacing_never_follow_a_link(tmp_path: Path) -> None:
    target = tmp_path / "target.txt"
    target.write_text("keep")
    (tmp_path / "metrics.jsonl").symlink_to(target)
    writer = MetricsWriter(tmp_path / "metrics.jsonl", 1)
    with pytest.raises(CheckpointError, match=r"metrics.jsonl: could not write .*errno ELOOP"):
        writer.on_train_batch_end(1, {"loss": 1.0})
    (tmp_path / "loss.png").symlink_to(target)
    files.write_file(tmp_path / "loss.png", b"png")
    assert target.read_text() == "keep" and not (tmp_path / "loss.png").is_symlink()


# --- verified read-back and modes ---------------------------------------------------------------


def test_a_finished_run_lists_every_file_it_wrote_with_its_checksum(finished: Path) -> None:
    manifest = json.loads((finished / "manifest.json").read_text())
    assert manifest["complete"] is True and manifest["writer"] == "seqframe"
    listed = {name for name, info in manifest["files"].items() if info is not None}
    assert listed == {
        "recipe.yaml",
        "metrics.jsonl",
        "model.safetensors",
        "tokenizer.json",
        "run.json",
        "sample.txt",
        "loss.png",
        "run.log",
    }
    for name in listed:
        assert manifest["files"][name]["sha256"] == files.sha256_file(finished / name)
    assert manifest["files"]["checkpoints"] is None and not (finished / ".lock").exists()


@pytest.mark.parametrize("name", ["model.safetensors", "tokenizer.json", "recipe.yaml", "run.json"])
def test_a_flipped_byte_in_a_run_file_is_refused_naming_it(
    finished: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    data = bytearray((finished / name).read_bytes())
    data[len(data) // 2] ^= 0x01
    (finished / name).write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=f"{name}: its size or sha256 differs from manifest.json"):
        seqframe.load_run(finished)
    assert main(["predict", str(finished), "It "]) == 2
    assert f"{name}: its size or sha256 differs" in _error_line(capsys)


def test_every_file_follows_the_umask(recipe: Path, tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        seqframe.run(recipe, ["train.steps=4"], out_dir=tmp_path / "r", progress=False)
    finally:
        os.umask(old)
    modes = {str(p.relative_to(tmp_path / "r")): p.stat().st_mode & 0o777 for p in (tmp_path / "r").rglob("*")}
    assert {k for k, m in modes.items() if m not in (0o640, 0o750)} == set(), modes
    assert modes["model.safetensors"] == modes["checkpoints/step_00000004/model.safetensors"] == 0o640


# --- disk full, at each write site ---------------------------------------------------------------


def _no_space_at(monkeypatch: pytest.MonkeyPatch, name: str, after: int = 0) -> None:
    """The ``after+1``-th write of a file called ``name`` fails with ENOSPC (every write path)."""
    write, append, calls = files.write_file, files.open_append, {"n": 0}

    def failing(path: str | os.PathLike[str]) -> None:
        if Path(path).name == name:
            calls["n"] += 1
            if calls["n"] > after:
                raise OSError(errno.ENOSPC, "No space left on device", str(path))

    def write_file(path: str | os.PathLike[str], data: files.Payload, **options: bool) -> str:
        failing(path)
        return write(path, data, **options)

    class Full:
        def __init__(self, path: str | os.PathLike[str]) -> None:
            self.path, self.handle = path, append(path)

        def write(self, text: str) -> int:
            failing(self.path)
            return self.handle.write(text)

        def flush(self) -> None:
            self.handle.flush()

        def close(self) -> None:
            self.handle.close()

    monkeypatch.setattr(files, "write_file", write_file)
    monkeypatch.setattr("seqframe.engine.callbacks.open_append", Full)
    monkeypatch.setattr("seqframe.engine.plot.write_file", write_file)


@pytest.mark.parametrize(
    "name",
    [
        "recipe.yaml",
        "tokenizer.json",
        "manifest.json",
        "metrics.jsonl",
        "state.pt",
        "latest.json",
        "model.safetensors",
        "run.json",
        "sample.txt",
    ],
)
def test_disk_full_at_any_write_names_that_file_and_keeps_the_last_checkpoint(
    recipe: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    train_rows,
) -> None:
    after = {"state.pt": 1, "latest.json": 1, "metrics.jsonl": 5}.get(name, 0)  # the second save; step 6
    _no_space_at(monkeypatch, name, after)
    assert main(["run", str(recipe), "--out", str(tmp_path / "r"), "--quiet"]) == 2
    line = _error_line(capsys)
    assert f"{name}: " in line and "No space left on device" in line and "ENOSPC" in line, line
    monkeypatch.undo()
    if (tmp_path / "r/checkpoints/step_00000004").is_dir():  # what survived loads, and resumes to the end
        assert seqframe.load_run(tmp_path / "r").model is not None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert seqframe.run(recipe, out_dir=tmp_path / "r", progress=False, resume=True).step == 8
        assert [s for s, _ in train_rows(tmp_path / "r")] == list(range(1, 9))


def test_disk_full_during_the_final_saves_names_latest_json_not_the_plot(
    recipe: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _no_space_at(monkeypatch, "latest.json", after=1)  # the final checkpoint's pointer...
    _no_space_at(monkeypatch, "loss.png", after=1)  # ...and the final plot fail
    with pytest.warns(UserWarning, match="loss.png: could not write the loss plot"):
        assert main(["run", str(recipe), "--out", str(tmp_path / "r"), "--quiet"]) == 2
    line = _error_line(capsys)
    assert "checkpoints/latest.json: No space left on device" in line and "step_00000008 itself is complete" in line
    monkeypatch.undo()
    assert CheckpointStore(tmp_path / "r/checkpoints").load_latest().step == 8  # complete, found without latest.json
    loaded = seqframe.load_run(tmp_path / "r").model.state_dict()
    saved = load_file(str(tmp_path / "r/checkpoints/step_00000008/model.safetensors"))
    assert all(torch.equal(loaded[k], v) for k, v in saved.items())
