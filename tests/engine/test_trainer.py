"""The training loop: finite losses that go down, metrics rows, device choice; NaN/inf
handling, clipping (a non-finite norm is caught), determinism (two seeded runs are
bitwise equal), schedules, early stopping, best checkpoint,
quiet mode and the loss plot."""

from __future__ import annotations

import json
import math
import sys

import pytest
import torch
from safetensors.torch import load_file

import seqframe
from seqframe.builtin.heads import LinearHead
from seqframe.builtin.tasks.language_modelling import LanguageModellingTask
from seqframe.builtin.tokenizers import CharTokenizer
from seqframe.engine import CheckpointStore, MetricsWriter, resolve_device
from seqframe.engine.callbacks import Callback
from seqframe.errors import NonFiniteError, RecipeError

TEXT = "the cat sat on the mat and the dog sat on the log. " * 60


class _Texts:
    def texts(self, split: str) -> list[str]:
        return [TEXT] if split == "train" else [TEXT[:400]]


def _pipeline(steps: int = 30, **train: object) -> seqframe.Pipeline:
    torch.manual_seed(0)
    return seqframe.assemble(
        task=LanguageModellingTask(seq_len=16),
        tokenizer=CharTokenizer(),
        topology=seqframe.build_rnn("lstm", input_size=8, hidden_size=32),
        head=LinearHead,
        embedding_dim=8,
        data=_Texts(),
        train=seqframe.TrainConfig(
            **{
                "steps": steps,
                "batch_size": 4,
                "eval_every": 0,
                "log_every": 5,  # type: ignore[arg-type]
                "optimizer": {"name": "adam", "lr": 1e-2},
                **train,
            }
        ),
    )


def test_training_lowers_the_validation_loss() -> None:
    pipeline = _pipeline(steps=1)
    first = seqframe.train(pipeline, progress=False).final_eval
    pipeline = _pipeline(steps=60)
    last = seqframe.train(pipeline, progress=False).final_eval
    assert first is not None and last is not None
    assert last["loss"] < first["loss"] - 0.5
    assert math.isclose(last["bits_per_token"], last["loss"] / math.log(2))


def test_metrics_file_has_train_and_valid_rows(tmp_path) -> None:
    pipeline = _pipeline(steps=10)
    seqframe.train(pipeline, tmp_path / "run", progress=False)
    rows = [json.loads(line) for line in (tmp_path / "run/metrics.jsonl").read_text().splitlines()]
    train_rows = [r for r in rows if r["split"] == "train"]
    assert [r["step"] for r in train_rows] == [1, 5, 10]
    assert all(math.isfinite(r["loss"]) and r["tokens_per_s"] > 0 for r in train_rows)
    assert rows[-1]["split"] == "valid" and rows[-1]["step"] == 10 and "bpc" in rows[-1]


def test_nan_loss_stops_the_run_naming_the_step() -> None:
    pipeline = _pipeline(steps=10)

    class Poison(Callback):
        def on_train_batch_end(self, step, row):
            if step == 3:
                with torch.no_grad():
                    for p in pipeline.model.parameters():
                        p.fill_(float("nan"))

    with pytest.raises(NonFiniteError, match="step 4"):
        seqframe.train(pipeline, progress=False, callbacks=[Poison()])


@pytest.mark.skipif(sys.version_info < (3, 11), reason="exception notes are Python 3.11+ (3.10 warns instead)")
def test_a_failing_on_train_end_neither_hides_the_error_that_stopped_training_nor_skips_other_callbacks() -> None:
    pipeline = _pipeline(steps=10)
    ended = []

    class Poison(Callback):
        def on_train_batch_end(self, step, row):
            if step == 2:
                with torch.no_grad():
                    for p in pipeline.model.parameters():
                        p.fill_(float("nan"))

    class BrokenEnd(Callback):
        def on_train_end(self, step):
            raise RuntimeError("logger closed twice")

    class Records(Callback):
        def on_train_end(self, step):
            ended.append(step)

    with pytest.raises(NonFiniteError, match="step 3") as info:
        seqframe.train(pipeline, progress=False, callbacks=[Poison(), BrokenEnd(), Records()])
    assert ended == [2]
    assert any("RuntimeError in on_train_end: logger closed twice" in note for note in info.value.__notes__)


def test_a_failing_on_train_end_after_a_clean_run_is_raised_after_every_callback_ran() -> None:
    ended = []

    class BrokenEnd(Callback):
        def on_train_end(self, step):
            raise RuntimeError("upload failed")

    class Records(Callback):
        def on_train_end(self, step):
            ended.append(step)

    with pytest.raises(RuntimeError, match="upload failed"):
        seqframe.train(_pipeline(steps=3), progress=False, callbacks=[BrokenEnd(), Records()])
    assert ended == [3]


def test_same_seed_gives_identical_losses(tmp_path) -> None:
    losses = []
    for run in ("a", "b"):
        seqframe.train(_pipeline(steps=8), tmp_path / run, progress=False)
        rows = (tmp_path / run / "metrics.jsonl").read_text()
        losses.append([json.loads(r)["loss"] for r in rows.splitlines()])
    assert losses[0] == losses[1]


def test_metrics_writer_appends_one_json_object_per_line(tmp_path) -> None:
    writer = MetricsWriter(tmp_path / "m.jsonl", log_every=2)
    for step in range(1, 5):
        writer.on_train_batch_end(step, {"loss": float(step)})
    writer.on_train_end(4)
    assert [json.loads(line)["step"] for line in (tmp_path / "m.jsonl").read_text().splitlines()] == [1, 2, 4]


def test_auto_device_is_cpu_without_cuda() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_device_without_cuda_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_training_runs_on_cuda() -> None:
    result = seqframe.train(_pipeline(steps=3, device="cuda"), progress=False)
    assert math.isfinite(result.loss)


class _PoisonedTask(LanguageModellingTask):
    """Language modelling whose loss (or only its gradient) turns non-finite at some calls."""

    def __init__(self, bad_calls: set[int], gradient_only: bool = False) -> None:
        super().__init__(seq_len=16)
        self.bad_calls, self.gradient_only, self.calls = bad_calls, gradient_only, 0

    def training_step(self, model, batch, carry):
        loss, tokens, carry = super().training_step(model, batch, carry)
        self.calls += 1
        if self.calls in self.bad_calls:
            weight = next(model.parameters())
            if self.gradient_only:  # the value stays finite, d/dx sqrt(x) at 0 is inf, times 0 is NaN
                loss = loss + torch.sqrt(weight.sum() * 0.0)
            else:
                loss = loss * float("nan")
        return loss, tokens, carry


def _poisoned(bad_calls: set[int], gradient_only: bool = False, steps: int = 6, **train: object) -> seqframe.Pipeline:
    pipeline = _pipeline(steps=steps, **train)
    pipeline.task = _PoisonedTask(bad_calls, gradient_only)
    return pipeline


class _Snapshots(Callback):
    def __init__(self, pipeline: seqframe.Pipeline) -> None:
        self.pipeline, self.params, self.rows = pipeline, {}, {}

    def on_train_batch_end(self, step, row):
        self.params[step] = [p.detach().clone() for p in self.pipeline.model.parameters()]
        self.rows[step] = dict(row)


def test_nan_loss_with_error_policy_keeps_the_last_finite_checkpoint(tmp_path) -> None:
    pipeline = _poisoned({3}, checkpoint={"every": 1, "keep_last": 5})
    with pytest.raises(
        NonFiniteError,
        match=r"step 3 \(epoch 0, batch 2\): the loss is nan; training stopped before "
        r"the optimizer step and the last checkpoint is .*step_00000002",
    ):
        seqframe.train(pipeline, tmp_path / "run", progress=False)
    store = CheckpointStore(tmp_path / "run/checkpoints")
    latest = store.load_latest()
    assert latest.step == 2 and [s for s, _ in store.checkpoints()] == [1, 2]
    weights = load_file(str(latest.path / "model.safetensors"))
    assert all(torch.isfinite(t).all() for t in weights.values())


def test_skip_policy_leaves_parameters_unchanged_and_carries_on(tmp_path) -> None:
    pipeline = _poisoned({3}, on_nonfinite="skip", log_every=1)
    snapshots = _Snapshots(pipeline)
    with pytest.warns(UserWarning, match="1 non-finite step"):
        result = seqframe.train(pipeline, tmp_path / "run", progress=False, callbacks=[snapshots])
    assert all(torch.equal(a, b) for a, b in zip(snapshots.params[2], snapshots.params[3]))
    assert not all(torch.equal(a, b) for a, b in zip(snapshots.params[3], snapshots.params[4]))
    assert result.step == 6 and result.skipped_steps == 1 and math.isfinite(result.loss)
    rows = {
        r["step"]: r
        for r in map(json.loads, (tmp_path / "run/metrics.jsonl").read_text().splitlines())
        if r["split"] == "train"
    }
    assert rows[3]["skipped"] is True and rows[3]["loss"] is None  # strict JSON, no NaN literal
    assert "skipped" not in rows[4]


def test_too_many_consecutive_skips_stop_the_run() -> None:
    pipeline = _poisoned({2, 3, 4, 5}, on_nonfinite="skip", max_consecutive_skips=3)
    with pytest.raises(
        NonFiniteError, match=r"step 5 .*4 non-finite steps in a row exceed train.max_consecutive_skips \(3\)"
    ):
        seqframe.train(pipeline, progress=False)


def test_nan_gradient_with_a_finite_loss_is_caught_before_the_step() -> None:
    pipeline = _poisoned({2}, gradient_only=True, max_grad_norm=1.0)
    snapshots = _Snapshots(pipeline)
    with pytest.raises(NonFiniteError, match="step 2 .*the gradient norm is nan"):
        seqframe.train(pipeline, progress=False, callbacks=[snapshots])
    assert list(snapshots.params) == [1]


class _ScaledTask(LanguageModellingTask):
    def training_step(self, model, batch, carry):
        loss, tokens, carry = super().training_step(model, batch, carry)
        return loss * 1e4, tokens, carry


def test_huge_gradients_are_clipped_to_max_grad_norm_and_the_norm_is_logged() -> None:
    pipeline = _pipeline(steps=3, max_grad_norm=0.5)
    pipeline.task = _ScaledTask(seq_len=16)
    norms = []

    class AfterClip(Callback):
        def on_train_batch_end(self, step, row):
            grads = [p.grad for p in pipeline.model.parameters() if p.grad is not None]
            norms.append((row["grad_norm"], float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])))))

    seqframe.train(pipeline, progress=False, callbacks=[AfterClip()])
    assert all(logged > 100 and clipped <= 0.5 * (1 + 1e-5) for logged, clipped in norms)


def test_deterministic_mode_is_on_during_training_and_restored_after() -> None:
    seen = []

    class Probe(Callback):
        def on_train_batch_end(self, step, row):
            seen.append(torch.are_deterministic_algorithms_enabled())

    runs = []
    for _ in range(2):
        pipeline = _pipeline(steps=4, deterministic=True)
        result = seqframe.train(pipeline, progress=False, callbacks=[Probe()])
        runs.append(
            ([e["loss"] for e in result.evaluations], [p.detach().clone() for p in pipeline.model.parameters()])
        )
        assert result.deterministic
    assert seen == [True] * 8 and not torch.are_deterministic_algorithms_enabled()
    assert runs[0][0] == runs[1][0] and all(torch.equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))


def test_schedule_sets_the_logged_learning_rate() -> None:
    pipeline = _pipeline(steps=6, scheduler={"name": "cosine", "warmup_steps": 2, "min_lr": 1e-3})
    snapshots = _Snapshots(pipeline)
    seqframe.train(pipeline, progress=False, callbacks=[snapshots])
    lrs = [snapshots.rows[s]["lr"] for s in range(1, 7)]
    assert lrs[:2] == pytest.approx([5e-3, 1e-2]) and math.isclose(lrs[-1], 1e-3) and lrs[2] > lrs[3] > lrs[4] > lrs[5]


def test_early_stopping_ends_the_run_when_the_metric_stops_improving(tmp_path) -> None:
    # mode max on a falling loss: never improves after the first evaluation
    pipeline = _pipeline(steps=40, eval_every=2, early_stopping={"metric": "loss", "mode": "max", "patience": 2})
    result = seqframe.train(pipeline, tmp_path / "run", progress=False)
    assert result.stopped_early and result.step == 6 and [e["step"] for e in result.evaluations] == [2, 4, 6]
    assert json.loads((tmp_path / "run/run.json").read_text())["stopped_early"] is True
    assert json.loads((tmp_path / "run/checkpoints/latest.json").read_text())["step"] == 6


def test_early_stopping_on_an_unknown_metric_is_a_recipe_error() -> None:
    pipeline = _pipeline(steps=4, eval_every=2, early_stopping={"metric": "bcp"})
    with pytest.raises(RecipeError, match="no metric 'bcp'; did you mean 'bpc'"):
        seqframe.train(pipeline, progress=False)


def test_best_checkpoint_follows_the_lowest_validation_loss(tmp_path) -> None:
    pipeline = _pipeline(steps=8, eval_every=2, checkpoint={"every": 0, "keep_last": 1})
    result = seqframe.train(pipeline, tmp_path / "run", progress=False)
    best = json.loads((tmp_path / "run/checkpoints/best.json").read_text())
    lowest = min(result.evaluations, key=lambda e: e["loss"])
    assert best["step"] == lowest["step"] and best["value"] == lowest["loss"] and best["metric"] == "loss"
    kept = sorted(p.name for p in (tmp_path / "run/checkpoints").glob("step_*"))
    assert kept == sorted({best["path"], "step_00000008"})


def test_quiet_progress_bar_prints_nothing(capsys) -> None:
    seqframe.train(_pipeline(steps=4, eval_every=2), progress=False)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_progress_bar_prints_a_line_per_evaluation(capsys) -> None:
    seqframe.train(_pipeline(steps=4, eval_every=2), progress=True)
    out = capsys.readouterr().out
    assert "step 2: valid loss" in out and "step 4: valid loss" in out


def test_loss_plot_is_written_as_a_png_in_the_run_directory(tmp_path) -> None:
    seqframe.train(_pipeline(steps=4, eval_every=2), tmp_path / "run", progress=False)
    assert (tmp_path / "run/loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.endswith(".tmp")]


def test_batch_without_target_tokens_takes_no_optimizer_step() -> None:
    pipeline = _pipeline(steps=3)
    task = pipeline.task
    real_step = task.training_step

    def empty_second_batch(model, batch, carry):
        loss, tokens, carry = real_step(model, batch, carry)
        return (loss * 0, 0, carry) if empty_second_batch.calls == 1 else (loss, tokens, carry)

    def counting(model, batch, carry):
        try:
            return empty_second_batch(model, batch, carry)
        finally:
            empty_second_batch.calls += 1

    empty_second_batch.calls = 0
    task.training_step = counting
    before = {}

    class Snapshot(Callback):
        def on_train_batch_end(self, step, row):
            before[step] = [p.detach().clone() for p in pipeline.model.parameters()]

    result = seqframe.train(pipeline, progress=False, callbacks=[Snapshot()])
    assert result.empty_batches == 1
    assert all(torch.equal(a, b) for a, b in zip(before[1], before[2]))  # step 2 changed nothing
    assert not all(torch.equal(a, b) for a, b in zip(before[2], before[3]))
