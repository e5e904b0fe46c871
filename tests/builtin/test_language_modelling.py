"""The language-modelling task: stream batching, TBPTT carry, generation and sampling."""

from __future__ import annotations

import pytest
import torch

import seqframe
from seqframe.builtin.heads import LinearHead
from seqframe.builtin.tasks.language_modelling import LanguageModellingTask, TokenStream, sample
from seqframe.builtin.tokenizers import CharTokenizer


def _model(task: LanguageModellingTask, tokenizer: CharTokenizer) -> torch.nn.Module:
    torch.manual_seed(0)
    topology = seqframe.build_rnn("lstm", input_size=6, hidden_size=10, num_layers=2)
    return task.build_model(tokenizer=tokenizer, topology=topology, head=LinearHead, embedding_dim=6)


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
    loss, tokens, carry = task.training_step(model, next(stream), None)
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
    a = task.generate(model, tokenizer, ["abc", "k"], max_tokens=12, seed=4)
    b = task.generate(model, tokenizer, ["abc", "k"], max_tokens=12, seed=4)
    assert a == b
    greedy_batch = task.generate(model, tokenizer, ["abc", "k"], max_tokens=8, temperature=0)
    greedy_alone = [task.generate(model, tokenizer, [p], max_tokens=8, temperature=0)[0] for p in ["abc", "k"]]
    assert greedy_batch == greedy_alone  # padding a shorter prompt changes nothing


def test_empty_prompt_generates_from_the_document_boundary(tokenizer) -> None:
    task = LanguageModellingTask()
    out = task.generate(_model(task, tokenizer), tokenizer, [""], max_tokens=5)
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
        task.build_model(tokenizer=tokenizer, topology=topology, head=LinearHead, embedding_dim=4)
