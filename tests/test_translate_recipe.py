"""The shipped translation recipes: a tiny end-to-end run of ``translate`` (train, predict,
reload), a shared vocabulary without a ``target_tokenizer`` section, recipe errors for the
decoder, and ``multi30k`` without its data (the Multi30k files are optional here)."""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import seqframe
from seqframe.engine import Callback
from seqframe.errors import DataError, RecipeError, TrainingInterrupted

TINY = [
    "model.embedding_dim=8",
    "model.topology.hidden_size=8",
    "model.decoder.hidden_size=8",
    "train.batch_size=8",
    "train.steps=3",
    "train.eval_every=0",
    "task.eval_decode=5",
    "data.max_number=300",
    "data.valid_size=20",
    "data.test_size=20",
]
MULTI30K = Path(__file__).resolve().parents[2] / "shared" / "data" / "multi30k"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> seqframe.api.RunResult:
    return seqframe.run("translate", TINY, out_dir=tmp_path_factory.mktemp("runs") / "tr", progress=False)


def test_tiny_translate_run_reports_translation_metrics(finished_run) -> None:
    final = finished_run.final_eval
    assert final is not None and {"loss", "ppl", "bleu", "chrf", "exact_match"} <= set(final)
    assert (finished_run.out_dir / "target_tokenizer.json").is_file()


def test_predict_from_the_run_directory_returns_translations(finished_run) -> None:
    out = seqframe.predict(finished_run.out_dir, ["twenty-four", "one hundred"], beam=2)
    assert len(out) == 2 and all(isinstance(text, str) for text in out)


def test_a_reloaded_run_translates_like_the_trained_pipeline(finished_run) -> None:
    loaded = seqframe.load_run(finished_run.out_dir)
    inputs = ["twenty-four", "seven", "three hundred and one"]
    assert seqframe.predict(loaded, inputs, beam=1) == seqframe.predict(finished_run.pipeline, inputs, beam=1)
    assert json.loads((finished_run.out_dir / "target_tokenizer.json").read_text())["kind"] == "char"


class _InterruptAt(Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, step: int, row: dict) -> None:
        if step == self.step:
            signal.raise_signal(signal.SIGINT)


def test_an_interrupted_and_resumed_run_equals_an_uninterrupted_one(tmp_path: Path) -> None:
    overrides = [*TINY, "train.steps=6", "model.dropout=0.2"]
    seqframe.run("translate", overrides, out_dir=tmp_path / "straight", progress=False)
    with pytest.raises(TrainingInterrupted):
        seqframe.run("translate", overrides, out_dir=tmp_path / "resumed", progress=False, callbacks=[_InterruptAt(3)])
    seqframe.run("translate", overrides, out_dir=tmp_path / "resumed", progress=False, resume=True)
    a, b = (load_file(str(tmp_path / run / "model.safetensors")) for run in ("straight", "resumed"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_without_a_target_tokenizer_section_one_vocabulary_covers_both_sides() -> None:
    pipeline = seqframe.build("translate", [*TINY, "~target_tokenizer"])
    assert pipeline.target_tokenizer is None
    symbols = set(pipeline.tokenizer.symbols)
    assert {"ß", "z", "-"} <= symbols  # German target letters and English source punctuation
    assert pipeline.model.tgt_embedding.num_embeddings == pipeline.tokenizer.vocab_size
    assert isinstance(seqframe.predict(pipeline, ["five"], beam=1)[0], str)


def test_a_missing_decoder_is_a_recipe_error_naming_model_decoder() -> None:
    with pytest.raises(RecipeError, match=r"needs model\.decoder"):
        seqframe.api.validate("translate", ["~model.decoder"])


@pytest.mark.parametrize("override", ["model.decoder.bidirectional=true", "model.decoder.name=bidirectional"])
def test_a_bidirectional_decoder_is_a_recipe_error(override: str) -> None:
    with pytest.raises(RecipeError, match=r"model\.decoder\.(bidirectional|name).*cannot be bidirectional"):
        seqframe.api.validate("translate", [override])


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("model.tie_target_embeddings=true", "model.tie_target_embeddings"),  # embedding 8, decoder 16
        ("model.attention=bogus", "model.attention"),
    ],
)
def test_a_model_key_the_task_refuses_is_named_in_the_error(override: str, key: str) -> None:
    with pytest.raises(RecipeError, match=rf"^[^\n]*: {re.escape(key)}: Seq2Seq: ") as caught:
        seqframe.build("translate", [*TINY, "model.decoder.hidden_size=16", override])
    assert len(str(caught.value).splitlines()) == 1


def test_input_feeding_without_attention_is_refused_at_its_key() -> None:
    with pytest.raises(RecipeError, match=r": model\.input_feeding: Seq2Seq: input_feeding .* needs attention"):
        seqframe.build("translate", [*TINY, "model.attention=none", "model.input_feeding=true"])


def test_multi30k_without_its_files_fails_naming_the_file(tmp_path: Path) -> None:
    missing = str(tmp_path / "nowhere" / "train.en.gz")
    with pytest.raises(DataError, match="source_path"):
        seqframe.build("multi30k", [f"data.source_path={missing}"])


@pytest.mark.skipif(not (MULTI30K / "train.en.gz").is_file(), reason="Multi30k files not present")
def test_multi30k_trains_two_tiny_steps_when_its_files_are_present(tmp_path: Path) -> None:
    paths = [
        f"data.{key}={MULTI30K / name}"
        for key, name in (
            ("source_path", "train.en.gz"),
            ("target_path", "train.de.gz"),
            ("valid_source_path", "val.en.gz"),
            ("valid_target_path", "val.de.gz"),
            ("test_source_path", "test_2016_flickr.en.gz"),
            ("test_target_path", "test_2016_flickr.de.gz"),
        )
    ]
    tiny = [
        "tokenizer.vocab_size=300",
        "tokenizer.input_sentence_size=2000",
        "target_tokenizer.vocab_size=300",
        "target_tokenizer.input_sentence_size=2000",
        "model.embedding_dim=8",
        "model.topology.hidden_size=8",
        "model.decoder.hidden_size=8",
        "train.batch_size=4",
        "train.steps=2",
        "train.eval_every=0",
        "task.eval_decode=3",
        "task.max_len=10",
    ]
    result = seqframe.run("multi30k", [*paths, *tiny], out_dir=tmp_path / "run", progress=False)
    assert result.step == 2 and "bleu" in result.final_eval
