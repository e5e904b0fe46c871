"""The content-addressed cache: fingerprints, atomic JSON/safetensors entries, corrupt entries,
and reuse of fitted tokenizers and encoded data (also through build_pipeline)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import torch

from seqframe import cache
from seqframe.builtin.tasks.language_modelling import LanguageModellingTask
from seqframe.builtin.tokenizers import CharTokenizer
from seqframe.interfaces import PrefittedTokenizer, Tokenizers
from seqframe.plugins import load_plugin_manager
from seqframe.recipe import build_pipeline, load_recipe
from seqframe.recipe.build import _fit as fit_tokenizer
from seqframe.registry import Registry


@pytest.fixture(autouse=True)
def cache_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("SEQFRAME_CACHE_DIR", str(root))
    return root


class CountingTokenizer(CharTokenizer):
    fits = 0

    def fit(self, texts: Any) -> None:
        CountingTokenizer.fits += 1
        super().fit(texts)


class CountingTask(LanguageModellingTask):
    encodes = 0

    def encode(self, tokenizers: Tokenizers, texts: Any) -> torch.Tensor:
        CountingTask.encodes += 1
        return super().encode(tokenizers, texts)


def fitted(text: str = "the cat sat") -> CharTokenizer:
    tokenizer = CharTokenizer()
    tokenizer.fit([text])
    return tokenizer


def entries(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


# --- fingerprint ----------------------------------------------------------------------------


def test_fingerprint_is_stable_and_ignores_mapping_order() -> None:
    assert cache.fingerprint(["a"], {"x": 1, "y": 2}) == cache.fingerprint(["a"], {"y": 2, "x": 1})
    assert len(cache.fingerprint("a")) == 64


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ((["ab", "c"],), (["a", "bc"],)),
        (("1",), (1,)),
        (("ab",), ("a", "b")),
        ((b"a",), ("a",)),
    ],
)
def test_fingerprint_tells_apart_inputs_that_concatenate_alike(left: tuple[Any, ...], right: tuple[Any, ...]) -> None:
    assert cache.fingerprint(*left) != cache.fingerprint(*right)


def test_fingerprint_rejects_values_it_cannot_hash() -> None:
    with pytest.raises(TypeError, match="object"):
        cache.fingerprint({"x": object()})


def test_cache_dir_follows_the_environment(cache_root: Path) -> None:
    assert cache.cache_dir() == cache_root


# --- JSON and tensor entries ------------------------------------------------------------------


def test_json_entry_round_trips_under_the_cache_dir(cache_root: Path) -> None:
    key = cache.fingerprint("k")
    cache.save_json("tokenizers", key, {"kind": "char", "symbols": ["a"]})
    assert cache.load_json("tokenizers", key) == {"kind": "char", "symbols": ["a"]}
    assert [p.name for p in entries(cache_root)] == [f"{key}.json"]  # no temporary file left behind


def test_missing_entry_is_none_without_warning(recwarn: pytest.WarningsRecorder) -> None:
    assert cache.load_json("tokenizers", cache.fingerprint("absent")) is None
    assert cache.load_tensors("encoded", cache.fingerprint("absent")) is None
    assert not recwarn.list


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe", b'{"key": "other", "value": 1}'])
def test_corrupt_json_entry_is_ignored_with_a_warning(cache_root: Path, content: bytes) -> None:
    key = cache.fingerprint("k")
    cache.save_json("tokenizers", key, {"a": 1})
    entries(cache_root)[0].write_bytes(content)
    with pytest.warns(UserWarning, match="ignoring unreadable entry"):
        assert cache.load_json("tokenizers", key) is None


def test_tensor_entry_round_trips_with_dtype_and_metadata() -> None:
    key = cache.fingerprint("t")
    ids = torch.tensor([5, 1, 2**40], dtype=torch.int64)
    cache.save_tensors("encoded", key, {"ids": ids}, {"layout": "tensor"})
    tensors, metadata = cache.load_tensors("encoded", key)  # type: ignore[misc]
    assert torch.equal(tensors["ids"], ids) and tensors["ids"].dtype == torch.int64
    assert metadata == {"layout": "tensor"}


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_tensor_entry_is_ignored_with_a_warning(cache_root: Path, damage: str) -> None:
    key = cache.fingerprint("t")
    cache.save_tensors("encoded", key, {"ids": torch.arange(100)})
    path = entries(cache_root)[0]
    path.write_bytes(path.read_bytes()[:40] if damage == "truncate" else b"\x00" * 64)
    with pytest.warns(UserWarning, match="ignoring unreadable entry"):
        assert cache.load_tensors("encoded", key) is None


def test_unwritable_cache_only_warns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("SEQFRAME_CACHE_DIR", str(blocker))
    with pytest.warns(UserWarning, match="could not write"):
        cache.save_json("tokenizers", cache.fingerprint("k"), {"a": 1})
    with pytest.warns(UserWarning, match="could not write"):
        cache.save_tensors("encoded", cache.fingerprint("k"), {"ids": torch.arange(3)})


def test_failed_write_leaves_neither_entry_nor_temporary_file(
    cache_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*_: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.warns(UserWarning, match="disk full"):
        cache.save_json("tokenizers", cache.fingerprint("k"), {"a": 1})
    assert entries(cache_root) == []


def test_write_replaces_an_existing_entry_atomically(cache_root: Path) -> None:
    key = cache.fingerprint("k")
    cache.save_json("tokenizers", key, {"v": 1})
    cache.save_json("tokenizers", key, {"v": 2})
    assert cache.load_json("tokenizers", key) == {"v": 2}
    assert len(entries(cache_root)) == 1


# --- cached_encode --------------------------------------------------------------------------------


def test_cached_encode_does_not_encode_twice() -> None:
    CountingTask.encodes = 0
    task, tokenizer = CountingTask(seq_len=4), fitted()
    first = cache.cached_encode(task, Tokenizers(tokenizer), ["the cat", "sat"])
    second = cache.cached_encode(task, Tokenizers(tokenizer), ["the cat", "sat"])
    assert CountingTask.encodes == 1
    assert torch.equal(first, second) and second.dtype == torch.int64
    assert torch.equal(second, task.encode(Tokenizers(tokenizer), ["the cat", "sat"]))


@pytest.mark.parametrize("change", ["texts", "tokenizer", "task"])
def test_cached_encode_recomputes_when_data_tokenizer_or_task_change(change: str) -> None:
    CountingTask.encodes = 0
    cache.cached_encode(CountingTask(seq_len=4), Tokenizers(fitted()), ["the cat"])
    texts, tokenizer, task = ["the cat"], fitted(), CountingTask(seq_len=4)
    if change == "texts":
        texts = ["the cats"]
    elif change == "tokenizer":
        tokenizer = fitted("a cat sat on the hat")  # other vocabulary: other ids for the same text
    else:
        task = CountingTask(seq_len=4, mode="sentences")  # encode_settings changes
    result = cache.cached_encode(task, Tokenizers(tokenizer), texts)
    assert CountingTask.encodes == 2
    assert torch.equal(result, task.encode(Tokenizers(tokenizer), texts))


def test_cached_encode_recovers_from_a_corrupt_entry(cache_root: Path) -> None:
    CountingTask.encodes = 0
    task, tokenizer = CountingTask(), fitted()
    cache.cached_encode(task, Tokenizers(tokenizer), ["the cat"])
    entries(cache_root)[0].write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="ignoring unreadable entry"):
        result = cache.cached_encode(task, Tokenizers(tokenizer), ["the cat"])
    assert CountingTask.encodes == 2
    assert torch.equal(result, task.encode(Tokenizers(tokenizer), ["the cat"]))


def _rewrite_entry(path: Path, tensors: dict[str, torch.Tensor], keep_digest: bool) -> None:
    """Put other tensors in a cache entry, keeping its key (and, with ``keep_digest``, its
    old sha256, as a flipped byte would)."""
    from safetensors import safe_open
    from safetensors.torch import save

    with safe_open(str(path), framework="pt") as file:
        metadata = dict(file.metadata())
    if not keep_digest:
        metadata["seqframe_sha256"] = cache._tensor_digest(tensors)
    path.write_bytes(save(tensors, metadata=metadata))


@pytest.mark.parametrize("keep_digest", [True, False], ids=["flipped", "rewritten"])
def test_cached_ids_outside_the_vocabulary_are_rejected_and_rebuilt(cache_root: Path, keep_digest: bool) -> None:
    CountingTask.encodes = 0
    task, tokenizer = CountingTask(), fitted()
    good = cache.cached_encode(task, Tokenizers(tokenizer), ["the cat"])
    bad = good.clone()
    bad[1] = tokenizer.vocab_size + 1000  # would index past the embedding
    _rewrite_entry(entries(cache_root)[0], {"encoded": bad}, keep_digest)
    with pytest.warns(UserWarning, match="differ from the sha256" if keep_digest else "outside the tokenizer's vocab"):
        result = cache.cached_encode(task, Tokenizers(tokenizer), ["the cat"])
    assert CountingTask.encodes == 2 and torch.equal(result, good)
    assert torch.equal(cache.cached_encode(task, Tokenizers(tokenizer), ["the cat"]), good)  # the rebuilt entry is good
    assert CountingTask.encodes == 2


def test_a_flipped_byte_in_a_tensor_entry_is_rejected(cache_root: Path) -> None:
    key = cache.fingerprint("t")
    cache.save_tensors("encoded", key, {"ids": torch.arange(100)})
    path = entries(cache_root)[0]
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x01  # inside the tensor data, past the header
    path.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="differ from the sha256 stored with them"):
        assert cache.load_tensors("encoded", key) is None


def test_cache_entries_follow_the_umask(cache_root: Path) -> None:
    old = os.umask(0o022)
    try:
        cache.save_tensors("encoded", cache.fingerprint("t"), {"ids": torch.arange(3)})
        cache.save_json("tokenizers", cache.fingerprint("t"), {"a": 1})
    finally:
        os.umask(old)
    assert {p.stat().st_mode & 0o777 for p in entries(cache_root)} == {0o644}


def test_cached_encode_uses_encode_settings_when_the_task_defines_them() -> None:
    class Settled(CountingTask):
        def encode_settings(self) -> dict[str, Any]:
            return {}  # seq_len does not change what encode returns

    CountingTask.encodes = 0
    cache.cached_encode(Settled(seq_len=4), Tokenizers(fitted()), ["the cat"])
    cache.cached_encode(Settled(seq_len=8), Tokenizers(fitted()), ["the cat"])
    assert CountingTask.encodes == 1


# --- cached_fit -----------------------------------------------------------------------------------


def test_cached_fit_reuses_a_state_fitted_on_the_same_data() -> None:
    CountingTokenizer.fits = 0
    first, second = CountingTokenizer(), CountingTokenizer()
    cache.cached_fit(first, ["the cat sat"], {"options": {}})
    cache.cached_fit(second, ["the cat sat"], {"options": {}})
    assert CountingTokenizer.fits == 1
    assert second.state_dict() == first.state_dict()


@pytest.mark.parametrize(
    ("texts", "options"), [(["the dog sat"], {"options": {}}), (["the cat sat"], {"options": {"min_freq": 1}})]
)
def test_cached_fit_refits_when_data_or_options_change(texts: list[str], options: dict[str, Any]) -> None:
    CountingTokenizer.fits = 0
    cache.cached_fit(CountingTokenizer(), ["the cat sat"], {"options": {}})
    tokenizer = CountingTokenizer()
    cache.cached_fit(tokenizer, texts, options)
    assert CountingTokenizer.fits == 2
    assert tokenizer.symbols == sorted(set("".join(texts)))


def test_cached_fit_recovers_from_a_state_that_no_longer_loads(cache_root: Path) -> None:
    CountingTokenizer.fits = 0
    cache.cached_fit(CountingTokenizer(), ["the cat"], {})
    path = entries(cache_root)[0]
    path.write_text(path.read_text().replace('"char"', '"word"'))  # valid JSON, wrong state
    tokenizer = CountingTokenizer()
    with pytest.warns(UserWarning, match="ignoring unreadable entry"):
        cache.cached_fit(tokenizer, ["the cat"], {})
    assert CountingTokenizer.fits == 2 and tokenizer.encode("cat") != [tokenizer.unk_id] * 3


def test_a_tokenizer_that_arrives_fitted_bypasses_the_cache(cache_root: Path) -> None:
    class FromFile(CountingTokenizer):
        is_fitted = True  # like a tokenizer that loads a model file: a PrefittedTokenizer

    assert isinstance(FromFile(), PrefittedTokenizer)
    CountingTokenizer.fits = 0
    fit_tokenizer(FromFile(), ["the cat"], {})  # from a recipe: fitted, never cached
    assert CountingTokenizer.fits == 1 and entries(cache_root) == []
    fit_tokenizer(FromFile(), ["the cat"], None)  # given as an object, fitted already: left alone
    assert CountingTokenizer.fits == 1
    fit_tokenizer(CountingTokenizer(), ["the cat"], {})
    assert CountingTokenizer.fits == 2 and len(entries(cache_root)) == 1


def test_build_pipeline_fits_the_tokenizer_once_for_the_same_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "corpus.txt").write_text("the cat sat on the mat\n" * 20, encoding="utf-8")
    (tmp_path / "lm.yaml").write_text(
        "task: {name: language_modelling, seq_len: 4}\n"
        "data: {name: text_files, paths: [corpus.txt], valid_fraction: 0.1, test_fraction: 0.0}\n"
        "tokenizer: {name: char}\n"
        "model: {embedding_dim: 4, topology: {name: stacked, cell: gru, hidden_size: 4}}\n",
        encoding="utf-8",
    )
    calls: list[int] = []
    original = CharTokenizer.fit
    monkeypatch.setattr(CharTokenizer, "fit", lambda self, texts: (calls.append(1), original(self, texts))[1])
    registry = Registry.from_plugin_manager(load_plugin_manager(entry_points=False))
    first = build_pipeline(load_recipe(tmp_path / "lm.yaml"), registry)
    second = build_pipeline(load_recipe(tmp_path / "lm.yaml"), registry)
    assert len(calls) == 1
    assert second.tokenizer.state_dict() == first.tokenizer.state_dict()
    (tmp_path / "corpus.txt").write_text("a different corpus\n" * 20, encoding="utf-8")
    build_pipeline(load_recipe(tmp_path / "lm.yaml"), registry)
    assert len(calls) == 2
