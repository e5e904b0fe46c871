"""The language-modelling task: stream batching, TBPTT carry, generation and sampling."""

from __future__ import annotations

import pytest
import torch

import seqframe
from seqframe.builtin.heads import LinearHead
from seqframe.builtin.tasks.language_modelling import LanguageModellingTask, TokenStream, sample
from seqframe.builtin.tokenizers import CharTokenizer
from seqframe.interfaces import ModelParts, Tokenizers


def _model(task: LanguageModellingTask, tokenizer: CharTokenizer) -> torch.nn.Module:
    torch.manual_seed(0)
    topology = seqframe.build_rnn("lstm", input_size=6, hidden_size=10, num_layers=2)
    return task.build_model(ModelParts(Tokenizers(tokenizer), topology, LinearHead, 6))


@pytest.fixture
def tokenizer() -> CharTokenizer:
    tok = CharTokenizer()
    tok.fit(["abcdefghij klmnop."])
    return tok


def test_stream_windows_are_contiguous_and_targets_shifted_by_one() -> None:
    ids = torch.arange(1000)
    stream = TokenStream(ids, batch_size=4, seq_len=10)
    first, second = next(stream), next(stream)
    assert torch.equal(first["targets"][:, :-1], first["inputs"][:, 1:])
    assert torch.equal(second["inputs"][:, 0], first["inputs"][:, -1] + 1)  # next window continues each row
    assert first["reset"] and not second["reset"]


def test_stream_resumes_exactly_from_its_state() -> None:
    ids = torch.arange(500)
    straight = TokenStream(ids, batch_size=3, seq_len=7, seed=5)
    batches = [next(straight) for _ in range(60)]  # crosses several epochs
    resumed = TokenStream(ids, batch_size=3, seq_len=7, seed=5)
    for _ in range(25):
        next(resumed)
    state = resumed.state_dict()
    fresh = TokenStream(ids, batch_size=3, seq_len=7, seed=5)
    fresh.load_state_dict(state)
    for expected in batches[25:]:
        assert torch.equal(next(fresh)["inputs"], expected["inputs"])


def test_stream_with_too_little_text_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="too few for batch_size"):
        TokenStream(torch.arange(20), batch_size=4, seq_len=10)


def test_training_step_carries_a_detached_state(tokenizer) -> None:
    task = LanguageModellingTask(seq_len=5)
    model = _model(task, tokenizer)
    stream = TokenStream(torch.randint(4, tokenizer.vocab_size, (400,)), batch_size=2, seq_len=5)
    _loss, tokens, carry = task.training_step(model, next(stream), None)
    assert tokens == 10 and carry is not None and all(not s.requires_grad for s in carry)
    batch = next(stream)
    carried, _, _ = task.training_step(model, batch, carry)
    reset, _, _ = task.training_step(model, {**batch, "reset": True}, carry)
    assert torch.isfinite(carried) and not torch.equal(carried, reset)  # the carry is used


def test_generation_steps_equal_rerunning_the_whole_prefix(tokenizer) -> None:
    task = LanguageModellingTask()
    model = _model(task, tokenizer).eval()
    ids = torch.tensor([[2, 5, 6, 7, 8, 9]])
    full, _ = model(ids)
    logits, state = model(ids[:, :3])
    steps = [logits[:, -1]]
    for t in range(3, 6):
        logits, state = model(ids[:, t : t + 1], None, state)
        steps.append(logits[:, -1])
    torch.testing.assert_close(torch.stack(steps[:-1], 1), full[:, 2:5], atol=1e-5, rtol=1e-5)


def test_same_seed_gives_the_same_text_and_batched_equals_single(tokenizer) -> None:
    task = LanguageModellingTask()
    model = _model(task, tokenizer)
    a = task.predict(model, Tokenizers(tokenizer), ["abc", "k"], max_tokens=12, seed=4)
    b = task.predict(model, Tokenizers(tokenizer), ["abc", "k"], max_tokens=12, seed=4)
    assert a == b
    greedy_batch = task.predict(model, Tokenizers(tokenizer), ["abc", "k"], max_tokens=8, temperature=0)
    greedy_alone = [
        task.predict(model, Tokenizers(tokenizer), [p], max_tokens=8, temperature=0)[0] for p in ["abc", "k"]
    ]
    assert greedy_batch == greedy_alone  # padding a shorter prompt changes nothing


@pytest.mark.parametrize("max_tokens", [-1, 100_001, 2**40])
def test_a_generation_length_past_the_bound_is_refused_before_decoding(tokenizer, max_tokens: int) -> None:
    task = LanguageModellingTask(seq_len=4)
    with pytest.raises(ValueError, match=r"max_tokens must be an int in \[0, 100000\]"):
        task.predict(_model(task, tokenizer), Tokenizers(tokenizer), ["abc"], max_tokens=max_tokens)


def test_empty_prompt_generates_from_the_document_boundary(tokenizer) -> None:
    task = LanguageModellingTask()
    out = task.predict(_model(task, tokenizer), Tokenizers(tokenizer), [""], max_tokens=5)
    assert isinstance(out[0], str)


def test_sampling_controls() -> None:
    logits = torch.tensor([[0.0, 1.0, 5.0, 2.0]])
    generator = torch.Generator().manual_seed(0)
    assert sample(logits, 0.0, None, None, generator).item() == 2
    draws = {sample(logits, 1.0, 2, None, generator).item() for _ in range(200)}
    assert draws == {2, 3}  # top_k=2 keeps the two most likely
    draws = {sample(logits, 1.0, None, 0.5, generator).item() for _ in range(100)}
    assert draws == {2}  # the top token alone holds > 0.5 of the mass


def test_language_model_rejects_a_bidirectional_topology(tokenizer) -> None:
    task = LanguageModellingTask()
    topology = seqframe.build_rnn("gru", input_size=4, hidden_size=4, bidirectional=True)
    with pytest.raises(ValueError, match="cannot read ahead"):
        task.build_model(ModelParts(Tokenizers(tokenizer), topology, LinearHead, 4))


def test_split_sentences_drops_empty_lines_and_chunks_long_ones() -> None:
    from seqframe.builtin.tasks.language_modelling.batching import split_sentences

    ids = torch.tensor([5, 6, 2, 2, 7, 8, 9, 10, 11, 2, 12])
    parts = [p.tolist() for p in split_sentences(ids, eos_id=2, max_len=4)]
    assert parts == [[5, 6, 2], [7, 8, 9, 10], [11, 2], [12]]


def test_sentence_mode_encodes_each_non_empty_line(tokenizer) -> None:
    task = LanguageModellingTask(mode="sentences")
    ids = task.encode(Tokenizers(tokenizer), ["ab\n\n  \nc\n", "d"])
    assert ids.tolist() == [*tokenizer.encode("ab"), 2, *tokenizer.encode("c"), 2, *tokenizer.encode("d"), 2]


def test_sentence_batches_bucket_by_length_and_resume() -> None:
    from seqframe.builtin.tasks.language_modelling.batching import sentence_batches

    generator = torch.Generator().manual_seed(0)
    sentences = [
        torch.randint(4, 20, (int(n),), generator=generator) for n in torch.randint(2, 60, (400,), generator=generator)
    ]
    batches = sentence_batches(sentences, batch_size=8, bos_id=1, pad_id=0, seed=3, bucket=10)
    seen = [next(batches) for _ in range(80)]  # more than one epoch (50 batches)
    padding = sum(int((b["inputs"] == 0).sum()) for b in seen) / sum(b["inputs"].numel() for b in seen)
    assert padding < 0.10
    assert all(int(b["inputs"][0, 0]) == 1 for b in seen)
    resumed = sentence_batches(sentences, batch_size=8, bos_id=1, pad_id=0, seed=3, bucket=10)
    resumed.load_state_dict({"epoch": 1, "index": 5})
    assert torch.equal(next(resumed)["inputs"], seen[55]["inputs"])


def test_sentence_loss_ignores_padding(tokenizer) -> None:
    from seqframe.builtin.tasks.language_modelling.batching import collate

    task = LanguageModellingTask(mode="sentences")
    model = _model(task, tokenizer).eval()
    short = torch.tensor([5, 6, 7, 2])
    alone, n_alone, _ = task.training_step(model, collate([short], 1, 0), None)
    long = torch.tensor([8, 9, 10, 11, 12, 13, 14, 2])
    both, n_both, _ = task.training_step(model, collate([short, long], 1, 0), None)
    only_long, n_long, _ = task.training_step(model, collate([long], 1, 0), None)
    assert n_both == n_alone + n_long == 12
    torch.testing.assert_close(both * n_both, alone * n_alone + only_long * n_long, atol=1e-5, rtol=1e-5)


def test_empty_sentences_are_refused_by_the_runtime(tokenizer) -> None:
    task = LanguageModellingTask(mode="sentences")
    model = _model(task, tokenizer)
    batch = {
        "inputs": torch.zeros(2, 3, dtype=torch.int64),
        "targets": torch.zeros(2, 3, dtype=torch.int64),
        "lengths": torch.tensor([1, 1]),
        "reset": True,
    }
    batch["lengths"] = torch.tensor([0, 0])
    with pytest.raises(seqframe.DataError):  # the runtime refuses empty sequences outright
        task.training_step(model, batch, None)


def test_sentence_mode_trains_and_evaluates(tokenizer) -> None:
    class Lines:
        def texts(self, split: str) -> list[str]:
            return ["\n".join("abc def ghij klm"[: 3 + i % 12] for i in range(200))]

    pipeline = seqframe.assemble(
        task=LanguageModellingTask(seq_len=32, mode="sentences"),
        tokenizer=CharTokenizer(),
        topology=seqframe.build_rnn("gru", input_size=8, hidden_size=16),
        head=LinearHead,
        embedding_dim=8,
        data=Lines(),
        train=seqframe.TrainConfig(steps=40, batch_size=8, eval_every=0, optimizer={"name": "adam", "lr": 0.02}),
    )
    result = seqframe.train(pipeline, progress=False)
    assert result.final_eval is not None and result.final_eval["loss"] < 1.5


def test_recipe_with_bidirectional_language_model_fails_validation_before_data(tmp_path) -> None:
    from seqframe.plugins import load_plugin_manager
    from seqframe.recipe import validate
    from seqframe.registry import Registry

    recipe = seqframe.load_recipe(
        "lm", ["model.topology.bidirectional=true", "data.name=text_files", f"data.paths={tmp_path / 'missing.txt'}"]
    )
    with pytest.raises(seqframe.RecipeError) as info:
        validate(recipe, Registry.from_plugin_manager(load_plugin_manager(entry_points=False)))
    assert "model.topology.bidirectional" in str(info.value) and "language_modelling" in str(info.value)
    assert "task.name" not in str(info.value)
