"""Exported models answer exactly as the torch model does: for every task (language model,
translation, one-to-many, classification, tagging, one-to-one, the text_regression plugin)
and, for the language model, every built-in cell, the indrnn plugin and a plugin cell with
``(h, c)`` of mixed widths, each exported to ONNX and to TorchScript: greedy (and beam)
outputs identical to ``--runtime torch``, logits within 1e-4, and with onnxruntime no call
into any torch module while answering."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from export_support import tiny_run

import seqframe
from seqframe.api import export, load_exported
from seqframe.registry import Registry

pytestmark = pytest.mark.slow

CASES = {  # name: (recipe, overrides, inputs, predict options)
    "lm-lstm": ("lm", [], ["The ", "a", ""], {"temperature": 0, "max_tokens": 12}),
    "lm-gru": ("lm", ["model.topology.cell=gru"], ["The ", "x"], {"temperature": 0, "max_tokens": 12}),
    "lm-elman": ("lm", ["model.topology.cell=elman"], ["The ", "x"], {"temperature": 0, "max_tokens": 12}),
    "lm-indrnn": ("lm", ["model.topology.cell=indrnn"], ["The ", "x"], {"temperature": 0, "max_tokens": 12}),
    "lm-projected": (
        "lm",
        ["model.topology.cell=projected", "model.topology.num_layers=2"],
        ["The ", "x"],
        {"temperature": 0, "max_tokens": 12},
    ),
    "translate": (
        "translate",
        ["model.topology.num_layers=2"],
        ["twenty-four", "one", "nine hundred and six"],
        {"beam": 1, "max_tokens": 15},
    ),
    "translate-beam": (
        "translate",
        ["model.topology.cell=indrnn", "model.attention=additive"],
        ["twenty-four", "seven"],
        {"beam": 3, "max_tokens": 10},
    ),
    "translate-feed": (
        "translate",
        ["model.input_feeding=true", "model.decoder.num_layers=2"],
        ["twenty-four", "seven"],
        {"beam": 3, "max_tokens": 10},
    ),
    "one-to-many": ("one-to-many", [], ["24", "7", "1999"], {"max_tokens": 12}),
    "many-to-one": (
        "many-to-one",
        ["model.topology.bidirectional=true", "model.pooling=mean"],
        ["vierundzwanzig", "tjugofyra", "x"],
        {},
    ),
    "many-to-many": ("many-to-many", [], ["the python tutorial", "a b"], {}),
    "one-to-one": ("one-to-one", [], ["quatre-vingt", "ein"], {}),
    "text-regression": ("text_regression", [], ["twenty-four", "one hundred and six"], {}),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, export_registry: Registry) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("parity")
    return {
        name: tiny_run(root / name, recipe, overrides, export_registry)
        for name, (recipe, overrides, _, _) in CASES.items()
    }


def _raw_outputs(task: str, model, pipeline, inputs: list[str]) -> list[torch.Tensor]:
    """The numbers behind the answers: logits (or log-probabilities, or values)."""
    tok = pipeline.tokenizer
    if task in ("language_modelling", "classification", "tagging", "text_regression"):
        rows = [([tok.eos_id] if task == "language_modelling" else []) + tok.encode(t) for t in inputs]
        rows = [r or [tok.unk_id] for r in rows]
        lengths = torch.tensor([len(r) for r in rows])
        ids = torch.full((len(rows), int(lengths.max())), tok.pad_id)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r)
        out = model(ids, lengths)
        if task == "language_modelling":
            logits, state = out
            return [logits[torch.arange(len(rows)), lengths - 1], *state]
        return [
            out
            if task != "tagging"
            else out.masked_fill(~(torch.arange(ids.shape[1]) < lengths[:, None]).unsqueeze(-1), 0)
        ]
    if task == "one_to_one":
        return [model(torch.tensor([_features(pipeline, t) for t in inputs]))]
    source = [torch.tensor(tok.encode(t) + [tok.eos_id]) for t in inputs] if task == "translation" else None
    if task == "translation":
        lengths = torch.tensor([s.numel() for s in source])
        src = torch.full((len(source), int(lengths.max())), tok.pad_id)
        for i, s in enumerate(source):
            src[i, : s.numel()] = s
        enc = model.encode(src, lengths)
    else:
        enc = model.encode(torch.tensor([pipeline.task.featurize(t) for t in inputs]))
    target = pipeline.tokenizers.target
    log_probs, state = model.decode_step(torch.full((len(inputs),), target.bos_id), enc.state, enc)
    return [log_probs, *state]


def _features(pipeline, text: str) -> list[float]:
    from seqframe.builtin.data.features import featurize

    return featurize(pipeline.task.feature_spec, text)


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("case", CASES)
def test_exported_model_answers_as_the_torch_model(
    case: str, fmt: str, runs: dict[str, Path], export_registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, inputs, options = CASES[case]
    run = runs[case]
    folder = export(run, fmt, registry=export_registry)
    assert folder == run / "export" / fmt and (folder / "export.json").is_file()
    torch_pipeline = seqframe.load_run(run, registry=export_registry)
    exported = load_exported(run, fmt, registry=export_registry)
    expected = seqframe.predict(torch_pipeline, inputs, **options)
    with torch.no_grad():
        reference = _raw_outputs(torch_pipeline.task.name, torch_pipeline.model, torch_pipeline, inputs)
    got_raw = _raw_outputs(exported.task.name, exported.model, exported, inputs)
    for got, want in zip(got_raw, reference, strict=True):
        torch.testing.assert_close(got.float(), want.float(), atol=1e-4, rtol=0)
    if fmt == "onnx":  # onnxruntime computes everything: no torch module is called while answering

        def refuse(self, *args, **kwargs):
            raise AssertionError(f"{type(self).__name__} was called while answering with onnxruntime")

        monkeypatch.setattr(torch.nn.Module, "__call__", refuse)
    assert seqframe.predict(exported, inputs, **options) == expected
