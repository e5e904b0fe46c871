"""Run-directory mistakes through the command line: each exits 2 with one line naming the
file, and no traceback (unusable --out folders, read-only checkpoints, recipe copies onto
missing folders or broken links, hand-damaged run and checkpoint files)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

import seqframe
from seqframe.cli import main
from seqframe.engine import Callback
from seqframe.errors import TrainingInterrupted


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def _reseal(folder: Path, manifest: str, name: str) -> None:
    """List ``name``'s current checksum in ``folder/manifest`` (a deliberate edit, so the
    damage inside the file is what gets reported)."""
    listing = json.loads((folder / manifest).read_text())
    data = (folder / name).read_bytes()
    listing["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    (folder / manifest).write_text(json.dumps(listing))


class _StopAt(Callback):
    def on_train_batch_end(self, step: int, row: dict) -> None:
        if step == 4:
            signal.raise_signal(signal.SIGTERM)


@pytest.fixture
def interrupted(recipe: Path, tmp_path: Path) -> Path:
    """A run stopped after its step-4 checkpoint: it is read back from that checkpoint."""
    with pytest.raises(TrainingInterrupted):
        seqframe.run(recipe, out_dir=tmp_path / "r", progress=False, callbacks=[_StopAt()])
    return tmp_path / "r"


# --- --out that cannot be a run directory -----------------------------------------------------


def test_out_that_cannot_be_created_exits_2(recipe: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(recipe), "--out", "/proc/1/nope", "--quiet"]) == 2
    assert "/proc/1/nope: cannot create the run directory" in _one_error_line(capsys)


@pytest.mark.parametrize("under", ["", "run"])
def test_out_through_a_symlink_loop_exits_2(
    recipe: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], under: str
) -> None:
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    out = tmp_path / "loop" / under if under else tmp_path / "loop"
    assert main(["run", str(recipe), "--out", str(out), "--quiet"]) == 2
    assert f"{out}: cannot use it as a run directory (Too many levels of symbolic links)" in _one_error_line(capsys)


def test_resume_with_read_only_checkpoints_exits_2_and_changes_nothing(
    finished: Path, tree, private_mounts, capsys: pytest.CaptureFixture[str]
) -> None:
    before = tree(finished)
    command = [
        "run",
        str(finished.parent / "tiny.yaml"),
        "train.steps=6",
        "--out",
        str(finished),
        "--resume",
        "--quiet",
    ]
    if os.geteuid() != 0:  # permissions stop anyone but root
        (finished / "checkpoints").chmod(0o555)
        try:
            assert main(command) == 2
        finally:
            (finished / "checkpoints").chmod(0o755)
        line = _one_error_line(capsys)
    else:  # root ignores permissions: make the folder a read-only mount
        done = private_mounts(
            'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && "$PY" -m seqframe "$@"',
            str(finished / "checkpoints"),
            *command,
        )
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        line = done.stderr.strip()
        assert len(line.splitlines()) == 1
    assert "checkpoints: not writable" in line
    assert tree(finished) == before


# --- recipes copy ---------------------------------------------------------------------------------


def test_recipes_copy_into_a_missing_folder_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["recipes", "copy", "lm", str(tmp_path / "missing/dir/x.yaml")]) == 2
    assert "missing/dir/x.yaml: could not write it (No such file or directory" in _one_error_line(capsys)


def test_recipes_copy_does_not_replace_a_broken_symlink_without_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    link = tmp_path / "my.yaml"
    link.symlink_to(tmp_path / "nowhere.yaml")
    assert main(["recipes", "copy", "lm", str(link)]) == 2
    assert "my.yaml: already exists (a symbolic link)" in _one_error_line(capsys)
    assert link.is_symlink() and not (tmp_path / "nowhere.yaml").exists()
    assert main(["recipes", "copy", "lm", str(link), "--overwrite"]) == 0
    assert not link.is_symlink() and link.read_text().startswith("#") and not (tmp_path / "nowhere.yaml").exists()


# --- hand-damaged run files -----------------------------------------------------------------------

FINISHED_DAMAGE: dict[str, tuple[str, Callable[[dict], object], str]] = {
    "run.json is a list": ("run.json", lambda _: [1, 2], "run.json: expected a JSON object, got list"),
    "components is a string": (
        "run.json",
        lambda meta: {**meta, "components": "x"},
        "run.json: 'components' must map each recipe key",
    ),
    "tokenizer.json is a list": ("tokenizer.json", lambda _: [], "tokenizer.json: expected a JSON object, got list"),
    "tokenizer.json lost its keys": ("tokenizer.json", lambda _: {}, "the saved tokenizer or task state does not load"),
}


@pytest.mark.parametrize("case", FINISHED_DAMAGE)
@pytest.mark.parametrize("resealed", [False, True], ids=["checksum", "content"])
def test_a_damaged_run_file_exits_2_naming_it(
    finished: Path, capsys: pytest.CaptureFixture[str], case: str, resealed: bool
) -> None:
    name, damage, message = FINISHED_DAMAGE[case]
    (finished / name).write_text(json.dumps(damage(json.loads((finished / name).read_text()))))
    if resealed:
        _reseal(finished, "manifest.json", name)
    for command in (["predict", str(finished), "It "], ["eval", str(finished)]):
        assert main(command) == 2
        line = _one_error_line(capsys)
        assert (message if resealed else f"{name}: its size or sha256 differs from manifest.json") in line, line


def test_a_run_manifest_without_the_final_files_exits_2(finished: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = json.loads((finished / "manifest.json").read_text())
    del manifest["files"]["model.safetensors"]
    (finished / "manifest.json").write_text(json.dumps(manifest))
    assert main(["predict", str(finished), "It "]) == 2
    assert "manifest.json: does not list model.safetensors" in _one_error_line(capsys)


def test_a_checkpoint_manifest_without_the_expected_files_exits_2(
    interrupted: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = interrupted / "checkpoints/step_00000004"
    (checkpoint / "manifest.json").write_text(json.dumps({"format": 1, "files": {}}))
    assert main(["predict", str(interrupted), "It "]) == 2
    line = _one_error_line(capsys)
    assert "step_00000004/manifest.json: does not list model.safetensors, state.pt" in line


def test_a_checkpoint_meta_without_step_exits_2(interrupted: Path, capsys: pytest.CaptureFixture[str]) -> None:
    checkpoint = interrupted / "checkpoints/step_00000004"
    meta = json.loads((checkpoint / "meta.json").read_text())
    del meta["step"]
    (checkpoint / "meta.json").write_text(json.dumps(meta))
    _reseal(checkpoint, "manifest.json", "meta.json")
    for command in (
        ["predict", str(interrupted), "It "],
        ["run", str(interrupted.parent / "tiny.yaml"), "--out", str(interrupted), "--resume", "--quiet"],
    ):
        assert main(command) == 2
        assert "step_00000004/meta.json: no integer 'step' (got '(absent)')" in _one_error_line(capsys)
