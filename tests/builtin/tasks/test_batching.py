"""The one bucketed batcher every built-in task uses, and the padding gather behind the
tasks' collates."""

from __future__ import annotations

import pytest
import torch

from seqframe.builtin.tasks.batching import BucketedBatches, padded, row_starts
from seqframe.errors import DataError


def test_every_task_reports_an_empty_training_split_as_a_data_error() -> None:
    with pytest.raises(DataError, match=r"^tagging: the training split has no tagged examples to batch$"):
        BucketedBatches(torch.zeros(0, dtype=torch.int64), 4, lambda rows: {}, where="tagging", what="tagged examples")


@pytest.mark.parametrize("batch_size", [0, -1, 2.0, True])
def test_a_batch_size_that_is_not_a_positive_int_is_refused(batch_size: object) -> None:
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        BucketedBatches(torch.ones(3, dtype=torch.int64), batch_size, lambda rows: {})  # type: ignore[arg-type]


def test_batches_hold_examples_of_similar_length_and_resume_exactly() -> None:
    lengths = torch.tensor([1, 9, 2, 8, 3, 7, 4, 6, 5, 10, 1, 9])
    straight = BucketedBatches(lengths, 2, lambda rows: {"rows": rows}, seed=5, bucket=6)
    first = [next(straight)["rows"] for _ in range(9)]  # past the end of the first epoch
    part = BucketedBatches(lengths, 2, lambda rows: {"rows": rows}, seed=5, bucket=6)
    for _ in range(4):
        next(part)
    resumed = BucketedBatches(lengths, 2, lambda rows: {"rows": rows}, seed=5, bucket=6)
    resumed.load_state_dict(part.state_dict())
    assert all(torch.equal(a, next(resumed)["rows"]) for a in first[4:])
    assert all(abs(int(lengths[r[0]]) - int(lengths[r[1]])) <= 3 for r in first[:6] if r.numel() == 2)


def test_padded_gathers_rows_of_a_packed_tensor_and_pads_past_each_length() -> None:
    flat = torch.tensor([1, 2, 3, 4, 5, 6])
    lengths = torch.tensor([3, 1, 2])
    out = padded(flat, row_starts(lengths), lengths, 0)
    assert out.tolist() == [[1, 2, 3], [4, 0, 0], [5, 6, 0]]


def test_padded_keeps_the_feature_dimension_of_vector_steps() -> None:
    flat = torch.arange(8.0).view(4, 2)  # 4 steps of 2 features
    lengths = torch.tensor([1, 3])
    out = padded(flat, row_starts(lengths), lengths, 0.0)
    assert out.shape == (2, 3, 2)
    assert out[0, 1:].abs().sum() == 0 and torch.equal(out[1], flat[1:])
