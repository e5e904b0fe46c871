"""No network needed: a recipe on local or embedded data trains, evaluates and predicts with the network
cut off (every socket connection raises)."""

from __future__ import annotations

import socket

import pytest

import seqframe

TINY = [
    "model.topology.hidden_size=8",
    "model.embedding_dim=4",
    "task.seq_len=8",
    "train.batch_size=2",
    "train.steps=2",
    "train.eval_every=0",
    "train.sample.max_tokens=3",
]


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    attempts: list[tuple] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise OSError("network access attempted during an offline test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


def test_embedded_recipe_trains_and_predicts_without_network(tmp_path, no_network) -> None:
    result = seqframe.run("lm", TINY, out_dir=tmp_path / "run", progress=False)
    assert result.sample is not None
    assert seqframe.predict(tmp_path / "run", ["The "], max_tokens=3)
    assert seqframe.api.evaluate(tmp_path / "run", split="test")["loss"] > 0
    assert no_network == []


def test_local_file_recipe_trains_without_network(tmp_path, no_network) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("a small corpus of my own words, written for this test.\n" * 40, encoding="utf-8")
    seqframe.run(
        "lm",
        [*TINY, "data.name=text_files", f"data.paths=[{corpus}]", "~data.test_fraction"],
        out_dir=tmp_path / "run",
        progress=False,
    )
    assert no_network == []
