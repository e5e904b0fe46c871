"""Built-in tokenizers: char and word."""

from __future__ import annotations

import json

import pytest

from seqframe.builtin.tokenizers import SPECIALS, CharTokenizer, WordTokenizer
from seqframe.errors import DataError
from seqframe.plugins import load_plugin_manager
from seqframe.registry import Registry

TEXT = "the cat sat on the mat.\nThe dog sat too!\n"


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.from_plugin_manager(load_plugin_manager(entry_points=False))


def fitted_char(texts: list[str] | None = None) -> CharTokenizer:
    tokenizer = CharTokenizer()
    tokenizer.fit(texts if texts is not None else [TEXT])
    return tokenizer


def test_builtin_tokenizers_are_registered(registry: Registry) -> None:
    assert registry.get("tokenizer", "char").factory is CharTokenizer
    assert registry.get("tokenizer", "word").factory is WordTokenizer


def test_char_round_trip() -> None:
    tokenizer = fitted_char()
    assert tokenizer.decode(tokenizer.encode(TEXT)) == TEXT


def test_char_vocabulary_is_the_seen_characters_plus_specials() -> None:
    assert fitted_char().vocab_size == len(SPECIALS) + len(set(TEXT))


def test_char_unknown_maps_to_unk_and_decodes_as_replacement_character() -> None:
    tokenizer = fitted_char()
    ids = tokenizer.encode("cat☃z")
    assert ids[3] == tokenizer.unk_id == 3
    assert ids[4] == tokenizer.unk_id  # 'z' never seen
    assert tokenizer.decode(ids) == "cat\N{REPLACEMENT CHARACTER}\N{REPLACEMENT CHARACTER}"


@pytest.mark.parametrize("factory", [CharTokenizer, WordTokenizer])
def test_special_ids_are_distinct_and_inside_the_vocabulary(factory: type) -> None:
    tokenizer = factory()
    tokenizer.fit([TEXT])
    specials = [tokenizer.pad_id, tokenizer.bos_id, tokenizer.eos_id, tokenizer.unk_id]
    assert sorted(specials) == [0, 1, 2, 3]
    assert all(0 <= i < tokenizer.vocab_size for i in specials)
    assert min(tokenizer.encode(TEXT)) >= len(SPECIALS)  # real symbols never collide with specials


def test_decode_drops_pad_bos_eos() -> None:
    tokenizer = fitted_char()
    ids = [tokenizer.bos_id, *tokenizer.encode("cat"), tokenizer.eos_id, tokenizer.pad_id]
    assert tokenizer.decode(ids) == "cat"


def test_char_encode_empty_text_is_empty() -> None:
    assert fitted_char().encode("") == []


@pytest.mark.parametrize("texts", [[], [""], ["", ""]])
def test_char_empty_training_text_is_a_data_error(texts: list[str]) -> None:
    with pytest.raises(DataError, match="empty"):
        CharTokenizer().fit(texts)


def test_word_whitespace_only_training_text_is_a_data_error() -> None:
    with pytest.raises(DataError):
        WordTokenizer().fit(["  \n\t "])


@pytest.mark.parametrize("factory", [CharTokenizer, WordTokenizer])
def test_encode_before_fit_raises(factory: type) -> None:
    with pytest.raises(RuntimeError, match="fit"):
        factory().encode("the cat")


@pytest.mark.parametrize(
    ("factory", "kwargs"),
    [(CharTokenizer, {}), (WordTokenizer, {"lowercase": True, "min_freq": 1})],
)
def test_state_dict_round_trips_through_json(factory: type, kwargs: dict[str, object]) -> None:
    tokenizer = factory(**kwargs)
    tokenizer.fit([TEXT])
    restored = factory()
    restored.load_state_dict(json.loads(json.dumps(tokenizer.state_dict())))
    assert restored.vocab_size == tokenizer.vocab_size
    assert restored.encode(TEXT) == tokenizer.encode(TEXT)
    assert restored.decode(tokenizer.encode(TEXT)) == tokenizer.decode(tokenizer.encode(TEXT))


def test_loading_another_kinds_state_is_a_data_error() -> None:
    with pytest.raises(DataError, match="'char'"):
        WordTokenizer().load_state_dict(fitted_char().state_dict())


def test_char_min_freq_drops_rare_characters() -> None:
    tokenizer = CharTokenizer(min_freq=2)
    tokenizer.fit(["aab"])
    assert tokenizer.symbols == ["a"]
    assert tokenizer.encode("ab") == [4, tokenizer.unk_id]


def test_word_min_freq_drops_rare_words() -> None:
    tokenizer = WordTokenizer(min_freq=2)
    tokenizer.fit([TEXT])
    assert set(tokenizer.symbols) == {"the", "sat"}
    assert tokenizer.encode("the dog") == [tokenizer.encode("the")[0], tokenizer.unk_id]


def test_word_max_vocab_keeps_most_frequent() -> None:
    tokenizer = WordTokenizer(max_vocab=2)
    tokenizer.fit(["b a a c c c"])
    assert tokenizer.symbols == ["c", "a"]
    assert tokenizer.vocab_size == len(SPECIALS) + 2


def test_word_lowercase_merges_case() -> None:
    cased, lower = WordTokenizer(), WordTokenizer(lowercase=True)
    cased.fit([TEXT])
    lower.fit([TEXT])
    assert "The" in cased.symbols and "The" not in lower.symbols
    assert lower.encode("THE") == lower.encode("the") != [lower.unk_id]
    assert cased.encode("THE") == [cased.unk_id]


def test_word_round_trip_normalises_whitespace() -> None:
    tokenizer = WordTokenizer()
    tokenizer.fit([TEXT])
    assert tokenizer.decode(tokenizer.encode("the  cat\nsat")) == "the cat sat"


@pytest.mark.parametrize(
    ("factory", "kwargs"),
    [(CharTokenizer, {"min_freq": 0}), (WordTokenizer, {"min_freq": True}), (WordTokenizer, {"max_vocab": 0})],
)
def test_invalid_options_raise_value_error(factory: type, kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        factory(**kwargs)


@pytest.mark.parametrize("factory", [CharTokenizer, WordTokenizer])
def test_encode_batch_matches_encode(factory: type) -> None:
    tokenizer = factory()
    tokenizer.fit([TEXT])
    texts = ["the cat", "", "dog ☃ zebra"]
    assert tokenizer.encode_batch(texts) == [tokenizer.encode(t) for t in texts]
