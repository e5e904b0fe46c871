"""The sentencepiece tokenizer: training, special ids, round trips, saved state, model files,
and library errors translated into recipe terms (a vocabulary the corpus cannot give,
missing or corrupt model files)."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
import sentencepiece as spm

from seqframe.builtin.subword import SentencePieceTokenizer
from seqframe.errors import DataError
from seqframe.plugins import load_plugin_manager
from seqframe.recipe import build_pipeline, load_recipe
from seqframe.registry import Registry

WORDS = [
    "river",
    "stone",
    "light",
    "garden",
    "window",
    "paper",
    "quiet",
    "morning",
    "letter",
    "bridge",
    "candle",
    "harbour",
    "meadow",
    "lantern",
    "orchard",
    "pebble",
    "thunder",
    "silver",
    "marble",
    "cottage",
    "whisper",
    "journey",
    "shadow",
    "crystal",
    "forest",
]
CORPUS = ["\n".join(" ".join(WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(6)) for i in range(40))]
TINY = ["the cat sat on the mat.\nThe dog sat too!\na b c\nhello world\n"]


def trained(**options: Any) -> SentencePieceTokenizer:
    tokenizer = SentencePieceTokenizer(**{"vocab_size": 50, **options})
    tokenizer.fit(CORPUS)
    return tokenizer


@pytest.fixture(scope="module")
def unigram() -> SentencePieceTokenizer:
    return trained()


def forbid_training(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(**_: Any) -> None:
        raise AssertionError("sentencepiece training was called")

    monkeypatch.setattr(spm.SentencePieceTrainer, "train", fail)


def test_sentencepiece_is_registered() -> None:
    registry = Registry.from_plugin_manager(load_plugin_manager(entry_points=False))
    assert registry.get("tokenizer", "sentencepiece").factory is SentencePieceTokenizer


@pytest.mark.parametrize("model_type", ["unigram", "bpe"])
def test_round_trip_keeps_newlines_and_spacing(model_type: str) -> None:
    tokenizer = trained(model_type=model_type)
    text = "river stone\nlight  garden\n\nwindow "
    assert tokenizer.decode(tokenizer.encode(text)) == text
    assert tokenizer.vocab_size == 50


def test_pieces_are_subwords_not_characters(unigram: SentencePieceTokenizer) -> None:
    assert len(unigram.encode("river stone light")) < len("river stone light")


def test_special_ids_are_seqframes_distinct_and_inside_the_vocabulary(unigram: SentencePieceTokenizer) -> None:
    assert [unigram.pad_id, unigram.bos_id, unigram.eos_id, unigram.unk_id] == [0, 1, 2, 3]
    assert unigram.vocab_size > 3
    ids = unigram.encode(CORPUS[0])
    assert min(ids) > unigram.unk_id  # text never encodes to pad, bos or eos (or unk here)


def test_unknown_characters_become_unk_and_decode_as_replacement(unigram: SentencePieceTokenizer) -> None:
    ids = unigram.encode("river ☃")
    assert unigram.unk_id in ids
    assert unigram.decode(ids) == "river \N{REPLACEMENT CHARACTER}"


def test_empty_text_encodes_to_nothing(unigram: SentencePieceTokenizer) -> None:
    assert unigram.encode("") == []


def test_decode_drops_pad_bos_eos_and_out_of_range_ids(unigram: SentencePieceTokenizer) -> None:
    ids = [unigram.bos_id, *unigram.encode("river"), unigram.eos_id, unigram.pad_id, 10_000]
    assert unigram.decode(ids) == "river"


def test_encode_batch_matches_encode(unigram: SentencePieceTokenizer) -> None:
    texts = ["river stone", "", "garden ☃"]
    assert unigram.encode_batch(texts) == [unigram.encode(t) for t in texts]


def test_training_is_deterministic() -> None:
    assert trained().state_dict() == trained().state_dict()


def test_state_round_trips_through_json_without_training(
    unigram: SentencePieceTokenizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    forbid_training(monkeypatch)
    restored = SentencePieceTokenizer()
    restored.load_state_dict(json.loads(json.dumps(unigram.state_dict())))
    assert restored.vocab_size == unigram.vocab_size
    assert restored.encode(CORPUS[0]) == unigram.encode(CORPUS[0])


@pytest.mark.parametrize(
    "state",
    [
        {"kind": "char", "symbols": ["a"]},
        {"kind": "sentencepiece", "model_proto": "not base64!"},
        {"kind": "sentencepiece", "model_proto": base64.b64encode(b"junk").decode()},
    ],
)
def test_damaged_or_foreign_state_is_a_data_error(state: dict[str, Any]) -> None:
    with pytest.raises(DataError):
        SentencePieceTokenizer().load_state_dict(state)


# --- what the corpus cannot give ---------------------------------------------------------------


def test_vocabulary_too_large_names_the_option_and_the_maximum() -> None:
    with pytest.raises(DataError) as info:
        SentencePieceTokenizer(vocab_size=5000).fit(TINY)
    message = str(info.value)
    match = re.search(r"tokenizer\.vocab_size=5000 is too large for this corpus \(max (\d+)\)", message)
    assert match and "tokenizer.hard_vocab_limit: false" in message
    soft = SentencePieceTokenizer(vocab_size=5000, hard_vocab_limit=False)
    soft.fit(TINY)
    assert soft.vocab_size == int(match.group(1))


def test_vocabulary_smaller_than_the_characters_names_the_number_needed() -> None:
    with pytest.raises(DataError) as info:
        SentencePieceTokenizer(vocab_size=10).fit(TINY)
    match = re.search(r"tokenizer\.vocab_size=10 is smaller than the (\d+) required characters", str(info.value))
    assert match and int(match.group(1)) > 10
    assert "character_coverage" in str(info.value)
    SentencePieceTokenizer(vocab_size=int(match.group(1)), hard_vocab_limit=False).fit(TINY)  # enough


@pytest.mark.parametrize("texts", [[], [""], [" \n\n\t\n"]])
def test_empty_corpus_is_caught_before_sentencepiece(texts: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    forbid_training(monkeypatch)
    with pytest.raises(DataError, match="empty"):
        SentencePieceTokenizer().fit(texts)


def test_lines_over_max_sentence_length_are_skipped_with_a_warning() -> None:
    tokenizer = SentencePieceTokenizer(vocab_size=30, hard_vocab_limit=False, max_sentence_length=20)
    with pytest.warns(UserWarning, match="skipped 1 training lines"):
        tokenizer.fit(["short line here\n" + "long " * 10])
    with pytest.raises(DataError, match="max_sentence_length=3"):
        SentencePieceTokenizer(max_sentence_length=3).fit(["long line"])


def test_input_sentence_size_caps_the_lines_trained_on(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []
    train = spm.SentencePieceTrainer.train

    def spy(**options: Any) -> None:
        lines = list(options["sentence_iterator"])
        seen.append(lines)
        train(**{**options, "sentence_iterator": iter(lines)})

    monkeypatch.setattr(spm.SentencePieceTrainer, "train", spy)
    first, second = (
        trained(input_sentence_size=10, hard_vocab_limit=False),
        trained(input_sentence_size=10, hard_vocab_limit=False),
    )
    assert len(seen[0]) == 10 and seen[0] == seen[1]  # a fixed sample
    assert first.state_dict() == second.state_dict()


# --- model files: special ids, missing or corrupt ------------------------------------------------


def model_file(tmp_path: Path, tokenizer: SentencePieceTokenizer) -> Path:
    path = tmp_path / "pieces.model"
    path.write_bytes(base64.b64decode(tokenizer.state_dict()["model_proto"]))
    return path


def test_model_path_loads_an_existing_model_relative_to_base_dir(
    tmp_path: Path, unigram: SentencePieceTokenizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    model_file(tmp_path, unigram)
    forbid_training(monkeypatch)
    monkeypatch.chdir(tmp_path.parent)
    tokenizer = SentencePieceTokenizer(model_path="pieces.model", base_dir=str(tmp_path))
    assert tokenizer.is_fitted
    tokenizer.fit(["ignored"])
    assert tokenizer.encode(CORPUS[0]) == unigram.encode(CORPUS[0])
    assert tokenizer.state_dict() == unigram.state_dict()


def test_model_path_is_read_lazily_so_a_saved_state_needs_no_file(
    tmp_path: Path, unigram: SentencePieceTokenizer
) -> None:
    tokenizer = SentencePieceTokenizer(model_path=str(tmp_path / "moved-away.model"))
    tokenizer.load_state_dict(unigram.state_dict())
    assert tokenizer.encode("river") == unigram.encode("river")


@pytest.mark.parametrize("content", [None, b"", b"garbage \x00\x01 not a model"])
def test_missing_or_corrupt_model_file_names_the_path_and_option(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "pieces.model"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError) as info:
        SentencePieceTokenizer(model_path=str(path)).fit([])
    assert "tokenizer.model_path" in str(info.value) and str(path) in str(info.value)


def test_model_without_padding_gets_a_valid_distinct_pad_id(tmp_path: Path) -> None:
    buffer = io.BytesIO()  # sentencepiece's defaults: unk 0, bos 1, eos 2, pad disabled (-1)
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS[0].split("\n")), model_writer=buffer, vocab_size=40, minloglevel=2
    )
    path = tmp_path / "default.model"
    path.write_bytes(buffer.getvalue())
    tokenizer = SentencePieceTokenizer(model_path=str(path))
    specials = [tokenizer.pad_id, tokenizer.bos_id, tokenizer.eos_id, tokenizer.unk_id]
    assert len(set(specials)) == 4 and all(0 <= i < tokenizer.vocab_size for i in specials)
    assert tokenizer.pad_id == 40 and tokenizer.vocab_size == 41
    assert tokenizer.decode([*tokenizer.encode("river"), tokenizer.pad_id]) == "river"


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"model_type": "word"}, "model_type"),
        ({"vocab_size": 3}, "vocab_size"),
        ({"character_coverage": 0.0}, "character_coverage"),
        ({"input_sentence_size": 0}, "input_sentence_size"),
        ({"max_sentence_length": True}, "max_sentence_length"),
        ({"model_path": ""}, "model_path"),
    ],
)
def test_invalid_options_raise_value_error(options: dict[str, Any], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        SentencePieceTokenizer(**options)


def test_recipe_with_too_large_vocabulary_fails_in_recipe_terms(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEQFRAME_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "corpus.txt").write_text(TINY[0] * 3, encoding="utf-8")
    (tmp_path / "lm.yaml").write_text(
        "task: {name: language_modelling, seq_len: 4}\n"
        "data: {name: text_files, paths: [corpus.txt], valid_fraction: 0.0, test_fraction: 0.0}\n"
        "tokenizer: {name: sentencepiece, vocab_size: 5000}\n"
        "model: {embedding_dim: 4, topology: {name: stacked, cell: gru, hidden_size: 4}}\n",
        encoding="utf-8",
    )
    registry = Registry.from_plugin_manager(load_plugin_manager(entry_points=False))
    with pytest.raises(DataError, match=r"tokenizer\.vocab_size=5000 is too large"):
        build_pipeline(load_recipe(tmp_path / "lm.yaml"), registry)
    pipeline = build_pipeline(load_recipe(tmp_path / "lm.yaml", ["tokenizer.hard_vocab_limit=false"]), registry)
    assert pipeline.model.embedding.num_embeddings == pipeline.tokenizer.vocab_size


def test_encode_before_fit_raises() -> None:
    tokenizer = SentencePieceTokenizer()
    assert not tokenizer.is_fitted and tokenizer.vocab_size == 4  # the specials, as for char and word
    with pytest.raises(RuntimeError, match="fit"):
        tokenizer.encode("river")
