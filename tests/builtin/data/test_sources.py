"""What every structured source shares: registration, the split contract and field shapes."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from seqframe.builtin import datasets
from seqframe.interfaces import DataSource
from seqframe.plugins import load_plugin_manager
from seqframe.registry import Registry

NAMES = {
    "number_translation": datasets.NumberTranslationSource,
    "number_language_id": datasets.NumberLanguageIdSource,
    "number_language_features": datasets.NumberLanguageFeaturesSource,
    "number_spelling": datasets.NumberSpellingSource,
    "capitalisation": datasets.CapitalisationSource,
    "tagged_files": datasets.TaggedFilesSource,
    "parallel_files": datasets.ParallelFilesSource,
    "labelled_files": datasets.LabelledFilesSource,
}
FILE_SOURCES = ("tagged_files", "parallel_files", "labelled_files")


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.from_plugin_manager(load_plugin_manager(entry_points=False))


@pytest.mark.parametrize("name", sorted(NAMES))
def test_structured_source_is_registered(registry: Registry, name: str) -> None:
    assert registry.get("dataset", name).factory is NAMES[name]


@pytest.mark.parametrize("name", FILE_SOURCES)
def test_file_sources_take_base_dir_from_the_builder(name: str) -> None:
    assert "base_dir" in inspect.signature(NAMES[name]).parameters


def small_sources(tmp_path: Path) -> dict[str, object]:
    (tmp_path / "t.jsonl").write_text('{"text": "ab", "tags": ["U", "L"]}\n', encoding="utf-8")
    (tmp_path / "s.txt").write_text("one\n", encoding="utf-8")
    (tmp_path / "d.txt").write_text("eins\n", encoding="utf-8")
    (tmp_path / "l.csv").write_text("text,label\nhi,a\n", encoding="utf-8")
    base, none = {"base_dir": str(tmp_path)}, {"valid_fraction": 0.0, "test_fraction": 0.0}
    numbers = {"max_number": 100, "valid_size": 16, "test_size": 16}
    return {
        "number_translation": datasets.NumberTranslationSource(**numbers),
        "number_language_id": datasets.NumberLanguageIdSource(size=64, **numbers),
        "number_language_features": datasets.NumberLanguageFeaturesSource(size=64, **numbers),
        "number_spelling": datasets.NumberSpellingSource(**numbers),
        "capitalisation": datasets.CapitalisationSource(),
        "tagged_files": datasets.TaggedFilesSource("t.jsonl", **base, **none),
        "parallel_files": datasets.ParallelFilesSource("s.txt", "d.txt", **base, **none),
        "labelled_files": datasets.LabelledFilesSource("l.csv", **base, **none),
    }


FIELDS = {
    "number_translation": {"source", "target"},
    "number_language_id": {"text", "label"},
    "number_language_features": {"features", "label", "text"},
    "number_spelling": {"features", "text", "target"},
    "capitalisation": {"text", "tags"},
    "tagged_files": {"text", "tags"},
    "parallel_files": {"source", "target"},
    "labelled_files": {"text", "label"},
}


def test_every_source_follows_the_structured_contract(tmp_path: Path) -> None:
    for name, source in small_sources(tmp_path).items():
        assert isinstance(source, DataSource), name
        for split in ("train", "valid", "test"):
            examples = source.examples(split)  # type: ignore[attr-defined]
            assert all(set(ex) == FIELDS[name] for ex in examples), name
            assert all(isinstance(text, str) for text in source.texts(split)), name
            if "target" in FIELDS[name]:
                assert source.target_texts(split) == [ex["target"] for ex in examples]  # type: ignore[attr-defined]
            if "features" in FIELDS[name]:
                assert all(len(ex["features"]) == source.feature_size for ex in examples)  # type: ignore[attr-defined]
            if "tags" in FIELDS[name]:
                assert all(len(ex["tags"]) == len(ex["text"]) for ex in examples)
        assert source.examples("train"), name  # type: ignore[attr-defined]
