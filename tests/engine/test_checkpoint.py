"""The checkpoint store: contents (everything exact resume needs), atomic save,
corrupt/truncated/stale files, retention (never the best or the resumed-from checkpoint,
nothing outside the run directory), disk full (the previous checkpoint stays intact),
mismatched model or format, unsafe files (no pickle code runs on load)."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import pickle
import random
from pathlib import Path

import pytest
import torch
from torch import nn

from seqframe import files
from seqframe.engine import FORMAT_VERSION, CheckpointStore
from seqframe.engine.rng import capture_rng, restore_rng
from seqframe.errors import CheckpointError, NonFiniteError


def _model(hidden: int = 4) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Embedding(10, hidden), nn.Linear(hidden, 10))


def _state(step: int) -> dict:
    optimizer = torch.optim.Adam(_model().parameters())
    return {
        "step": step,
        "epoch": 0,
        "data": {"epoch": 0, "index": step},
        "carry": (torch.ones(2, 3),),
        "optimizer": optimizer.state_dict(),
        "schedule": {"scale": 1.0},
        "rng": capture_rng(),
        "best": {"metric": "loss", "best": None, "bad_evaluations": 0},
        "skips": 0,
    }


def _store(tmp_path: Path, keep_last: int | None = 2) -> CheckpointStore:
    store = CheckpointStore(tmp_path / "checkpoints", keep_last=keep_last, meta={"recipe": "train: {}\n"})
    store.prepare()
    return store


def test_checkpoint_holds_only_tensors_and_plain_values(tmp_path: Path) -> None:
    path = _store(tmp_path).save(3, _model(), _state(3), {"kind": "char"})
    assert sorted(p.name for p in path.iterdir()) == [
        "extra.json",
        "manifest.json",
        "meta.json",
        "model.safetensors",
        "state.pt",
        "tokenizer.json",
    ]
    state = torch.load(path / "state.pt", weights_only=True)
    assert set(state) == {"step", "epoch", "data", "carry", "optimizer", "schedule", "rng", "best", "skips"}
    assert torch.serialization.get_unsafe_globals_in_checkpoint(path / "state.pt") == []
    meta = json.loads((path / "meta.json").read_text())
    assert meta["format"] == FORMAT_VERSION and meta["step"] == 3 and meta["torch"] == torch.__version__
    manifest = json.loads((path / "manifest.json").read_text())
    for name, info in manifest["files"].items():
        assert hashlib.sha256((path / name).read_bytes()).hexdigest() == info["sha256"]


def test_rng_state_round_trips_through_a_checkpoint(tmp_path: Path) -> None:
    random.seed(5)
    torch.manual_seed(5)
    state = _state(1)
    expected = (random.random(), float(torch.rand(())))
    store = _store(tmp_path)
    store.save(1, _model(), state)
    random.seed(99)
    torch.manual_seed(99)
    restore_rng(store.load_latest().state["rng"])
    assert (random.random(), float(torch.rand(()))) == expected


def test_latest_pointer_names_only_complete_checkpoints(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.save(1, _model(), _state(1))
    store.save(2, _model(), _state(2))
    assert json.loads((store.root / "latest.json").read_text()) == {"step": 2, "path": "step_00000002"}
    assert store.load_latest().step == 2


def test_failed_write_keeps_the_previous_checkpoint_as_latest(tmp_path: Path, monkeypatch) -> None:
    store = _store(tmp_path)
    store.save(1, _model(), _state(1))
    original = files.write_file

    def fail_halfway(path: Path, data: files.Payload, **options: bool) -> str:
        if Path(path).name == "tokenizer.json":
            raise RuntimeError("crash in the middle of a save")
        return original(path, data, **options)

    monkeypatch.setattr(files, "write_file", fail_halfway)
    with pytest.raises(RuntimeError):
        store.save(2, _model(), _state(2))
    assert store.latest_name() == "step_00000001" and store.load_latest().step == 1
    assert sorted(p.name for p in store.root.iterdir()) == ["latest.json", "step_00000001"]


def test_disk_full_is_a_checkpoint_error_with_path_and_errno(tmp_path: Path, monkeypatch) -> None:
    store = _store(tmp_path)
    store.save(1, _model(), _state(1))

    original = files.write_file

    def no_space(path: Path, data: files.Payload, **options: bool) -> str:
        if Path(path).name == "state.pt":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return original(path, data, **options)

    monkeypatch.setattr(files, "write_file", no_space)
    with pytest.raises(CheckpointError) as info:
        store.save(2, _model(), _state(2))
    message = str(info.value)
    assert "step_00000002/state.pt: No space left on device (errno ENOSPC)" in message  # the file that failed
    assert "step_00000001 is intact" in message
    assert store.load_latest().step == 1 and not [p for p in store.root.iterdir() if p.name.startswith(".")]


def test_truncated_file_is_a_clear_error_naming_the_checkpoint(tmp_path: Path) -> None:
    store = _store(tmp_path)
    path = store.save(4, _model(), _state(4))
    state = path / "state.pt"
    state.write_bytes(state.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match=r"step_00000004 is corrupt: state.pt is missing, truncated or modified"):
        store.load(path)


def test_missing_manifest_means_incomplete(tmp_path: Path) -> None:
    store = _store(tmp_path)
    path = store.save(4, _model(), _state(4))
    (path / "manifest.json").unlink()
    with pytest.raises(CheckpointError, match="step_00000004 is incomplete: no manifest.json"):
        store.load(path)


def test_resume_falls_back_past_broken_checkpoints_and_stale_temp_folders_go(tmp_path: Path) -> None:
    store = _store(tmp_path, keep_last=None)
    store.save(5, _model(), _state(5))
    broken = store.save(9, _model(), _state(9))
    (broken / "model.safetensors").write_bytes(b"garbage")
    stale = store.root / ".tmp-step_00000012-x1y2"
    stale.mkdir()
    (stale / "state.pt").write_bytes(b"half")
    assert store.prepare() == [stale] and not stale.exists()
    with pytest.warns(UserWarning, match="step_00000009 is corrupt.*resuming from the older step_00000005"):
        assert store.load_latest().step == 5


def test_no_usable_checkpoint_lists_the_reasons(tmp_path: Path) -> None:
    store = _store(tmp_path)
    path = store.save(2, _model(), _state(2))
    (path / "manifest.json").unlink()
    with pytest.raises(CheckpointError, match=r"no complete checkpoint to resume from: .*no manifest.json"):
        store.load_latest()


def test_keep_last_keeps_the_newest_and_the_best_ordered_by_step(tmp_path: Path) -> None:
    store = _store(tmp_path, keep_last=2)
    for step in (8, 9):
        store.save(step, _model(), _state(step))
    store.mark_best(store.path_for(8), "loss", 1.5)
    for step in (10, 11, 12):
        store.save(step, _model(), _state(step))
    (store.root / "notes.txt").write_text("mine")
    store.prune()
    names = sorted(p.name for p in store.root.iterdir())
    assert names == ["best.json", "latest.json", "notes.txt", "step_00000008", "step_00000011", "step_00000012"]


def test_retention_keeps_the_checkpoint_resumed_from(tmp_path: Path) -> None:
    store = _store(tmp_path, keep_last=1)
    store.save(3, _model(), _state(3))
    store.protected.add(store.load_latest().path.name)
    for step in (4, 5):
        store.save(step, _model(), _state(step))
    assert [s for s, _ in store.checkpoints()] == [3, 5]


def test_retention_never_follows_a_symlink_out_of_the_run(tmp_path: Path) -> None:
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "data.txt").write_text("keep me")
    store = _store(tmp_path, keep_last=1)
    (store.root / "step_00000001").symlink_to(outside, target_is_directory=True)
    for step in (2, 3, 4):
        store.save(step, _model(), _state(step))
    assert (outside / "data.txt").read_text() == "keep me"
    assert (store.root / "step_00000001").is_symlink()
    assert [s for s, _ in store.checkpoints()] == [4]


def test_clear_removes_only_the_stores_own_entries(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.save(1, _model(), _state(1))
    (store.root / "README").write_text("mine")
    store.clear()
    assert sorted(p.name for p in store.root.iterdir()) == ["README"]


def test_checkpoint_with_non_finite_parameters_is_never_written(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.save(1, _model(), _state(1))
    model = _model()
    with torch.no_grad():
        model[1].bias[0] = float("nan")
    with pytest.raises(NonFiniteError, match="step 2: parameter '1.bias' is NaN or infinite; checkpoint not written"):
        store.save(2, model, _state(2))
    assert [s for s, _ in store.checkpoints()] == [1] and store.latest_name() == "step_00000001"


def test_loading_into_a_differently_shaped_model_lists_the_mismatches(tmp_path: Path) -> None:
    checkpoint = _store(tmp_path).save(1, _model(hidden=4), _state(1))
    loaded = CheckpointStore(checkpoint.parent).load(checkpoint)
    with pytest.raises(
        CheckpointError,
        match=r"0.weight: file \[10, 4\] vs model \[10, 6\]; 1.weight: file \[10, 4\] "
        r"vs model \[10, 6\]",
    ):
        loaded.load_weights(_model(hidden=6))


def test_loading_misses_and_extra_keys_are_listed(tmp_path: Path) -> None:
    checkpoint = _store(tmp_path).save(1, _model(), _state(1))
    bigger = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 10), nn.Linear(10, 10))
    with pytest.raises(CheckpointError, match=r"missing keys: \['2.bias', '2.weight'\]"):
        CheckpointStore(checkpoint.parent).load(checkpoint).load_weights(bigger)


def test_newer_format_version_is_refused_stating_both_versions(tmp_path: Path) -> None:
    store = _store(tmp_path)
    path = store.save(1, _model(), _state(1))
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["format"] = FORMAT_VERSION + 1
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(
        CheckpointError,
        match=f"format version {FORMAT_VERSION + 1}, but this seqframe reads format version {FORMAT_VERSION}",
    ):
        store.load_latest()  # not skipped as "corrupt": upgrading is the fix


class _Payload:
    def __reduce__(self):
        return (os.system, (f"touch {SENTINEL}",))


SENTINEL = Path("/tmp/seqframe-pickle-sentinel")


def test_a_pickle_that_runs_code_is_refused_even_with_a_valid_manifest(tmp_path: Path) -> None:
    SENTINEL.unlink(missing_ok=True)
    store = _store(tmp_path)
    path = store.save(1, _model(), _state(1))
    torch.save({"step": 1, "evil": _Payload()}, path / "state.pt", pickle_module=pickle)
    manifest = json.loads((path / "manifest.json").read_text())
    data = (path / "state.pt").read_bytes()
    manifest["files"]["state.pt"] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="refused to load.*never unpickles code"):
        store.load(path)
    assert not SENTINEL.exists()


def test_checkpoint_folders_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = _store(tmp_path).save(1, _model(), _state(1))
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o755
    assert {f.name: f.stat().st_mode & 0o777 for f in path.iterdir()} == {f.name: 0o644 for f in path.iterdir()}
    assert (tmp_path / "checkpoints/latest.json").stat().st_mode & 0o777 == 0o644
