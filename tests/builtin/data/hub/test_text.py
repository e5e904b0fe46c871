"""``huggingface``: Hub datasets by id, config, split and column, with a stand-in for
``datasets.load_dataset`` (no network), and offline mode in a subprocess (a dataset that is
not cached fails fast, naming it and the offline switch)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import datasets
import pytest
from datasets.exceptions import DatasetNotFoundError

from seqframe.builtin.data.hub.text import HuggingFaceSource
from seqframe.errors import DataError

ROWS = {"train": [f"train row {i}" for i in range(20)], "validation": ["valid row"], "test": ["test row", " "]}


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Replace ``datasets.load_dataset`` with a Hub stand-in; returns the calls it got."""
    seen: list[dict[str, Any]] = []

    def load_dataset(path: str, name: str | None = None, **options: Any) -> datasets.Dataset:
        seen.append({"path": path, "name": name, **options})
        split = options["split"]
        if split not in ROWS:
            raise ValueError(f'Unknown split "{split}". Should be one of {list(ROWS)}.')
        return datasets.Dataset.from_dict({"text": ROWS[split], "label": list(range(len(ROWS[split])))})

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return seen


def test_single_split_is_cut_by_seed(calls: list[dict[str, Any]]) -> None:
    data = HuggingFaceSource("someone/corpus", config="small", revision="v1", valid_fraction=0.1, test_fraction=0.1)
    splits = {name: data.texts(name) for name in ("train", "valid", "test")}
    assert sorted(sum(splits.values(), [])) == sorted(ROWS["train"])
    assert (len(splits["valid"]), len(splits["test"])) == (2, 2)
    again = HuggingFaceSource("someone/corpus", config="small", revision="v1", valid_fraction=0.1, test_fraction=0.1)
    assert again.texts("valid") == splits["valid"]
    assert HuggingFaceSource("someone/corpus", valid_fraction=0.1, seed=7).texts("valid") != splits["valid"]
    assert calls[0] == {"path": "someone/corpus", "name": "small", "split": "train", "revision": "v1"}
    assert len([c for c in calls if c["revision"] == "v1"]) == 2  # one load per source, not per split


def test_never_asks_for_remote_code(calls: list[dict[str, Any]]) -> None:
    HuggingFaceSource("someone/corpus").texts("train")
    assert not any("trust_remote_code" in call for call in calls)


def test_split_mapping_loads_each_split_when_first_asked(calls: list[dict[str, Any]]) -> None:
    data = HuggingFaceSource("someone/corpus", split={"train": "train", "valid": "validation"})
    assert data.texts("valid") == ["valid row"]
    assert [c["split"] for c in calls] == ["validation"]
    assert data.texts("train") == ROWS["train"] and data.texts("test") == []


def test_blank_rows_are_dropped_and_counted(calls: list[dict[str, Any]]) -> None:
    data = HuggingFaceSource("someone/corpus", split={"train": "train", "test": "test"})
    with pytest.warns(UserWarning, match="dropped 1 empty examples"):
        assert data.texts("test") == ["test row"]
    assert data.stats["dropped_empty"] == 1


def test_missing_column_suggests(calls: list[dict[str, Any]]) -> None:
    with pytest.raises(DataError, match=r"data\.column: 'txt' is not a column .*did you mean 'text'"):
        HuggingFaceSource("someone/corpus", column="txt").texts("train")


def test_non_text_column_is_a_data_error(calls: list[dict[str, Any]]) -> None:
    with pytest.raises(DataError, match=r"data\.column: column .label. of .someone/corpus. holds int, expected text"):
        HuggingFaceSource("someone/corpus", column="label").texts("train")


def test_unknown_split_is_reported_at_data_split(calls: list[dict[str, Any]]) -> None:
    with pytest.raises(DataError, match=r"data\.split: 'dev'"):
        HuggingFaceSource("someone/corpus", split="dev").texts("train")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            DatasetNotFoundError("Dataset 'someone/nothing' doesn't exist on the Hub"),
            "no dataset 'someone/nothing' on the Hub",
        ),
        (ConnectionError("Couldn't reach 'someone/nothing' on the Hub (LocalEntryNotFoundError)"), "could not reach"),
    ],
)
def test_library_errors_are_translated(monkeypatch: pytest.MonkeyPatch, error: Exception, expected: str) -> None:
    def load_dataset(*_: Any, **__: Any) -> None:
        raise error

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    with pytest.raises(DataError, match=expected):
        HuggingFaceSource("someone/nothing").texts("train")


@pytest.mark.parametrize("path", ["https://example.com/data.csv", "/abs/dir", "../up", "a/b/c", ""])
def test_path_must_be_a_hub_id(path: str) -> None:
    with pytest.raises(ValueError, match="Hub dataset id"):
        HuggingFaceSource(path)


@pytest.mark.parametrize("split", [{"valid": "validation"}, {"train": "train", "dev": "dev"}, {"train": ""}, 3])
def test_invalid_split_option_is_rejected(split: Any) -> None:
    with pytest.raises(ValueError, match="split"):
        HuggingFaceSource("someone/corpus", split=split)


def test_offline_uncached_dataset_fails_fast_with_how_to_fix(tmp_path: Path) -> None:
    script = textwrap.dedent("""
        import socket, sys

        def blocked(*args, **kwargs):
            raise OSError("network blocked by the test")

        socket.socket.connect = blocked
        from seqframe.builtin.data.hub.text import HuggingFaceSource
        from seqframe.errors import DataError

        try:
            HuggingFaceSource("seqframe-tests/never-cached", config="tiny").texts("train")
        except DataError as exc:
            print(exc)
            sys.exit(0)
        sys.exit("no DataError")
    """)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    message = done.stdout
    assert "'seqframe-tests/never-cached'" in message and "offline mode is on" in message
    assert "HF_HUB_OFFLINE=1" in message and "pre-cache" in message
