"""Learning-rate schedules and the metric monitor behind best checkpoints, early stopping and
reduce-on-plateau."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from seqframe.engine import LRSchedule, MetricMonitor
from seqframe.errors import RecipeError
from seqframe.pipeline import SchedulerConfig


def _schedule(total: int = 10, lr: float = 1.0, **config: object) -> LRSchedule:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    return LRSchedule(optimizer, SchedulerConfig(**config), total)  # type: ignore[arg-type]


def _rates(schedule: LRSchedule, steps: range) -> list[float]:
    """The rate of each step, as the trainer sets them (apply, then the optimizer step)."""
    out = []
    for step in steps:
        schedule.apply(step)
        out.append(schedule.optimizer.param_groups[0]["lr"])
    return out


def test_constant_keeps_the_optimizer_rate() -> None:
    assert _rates(_schedule(lr=0.3), range(1, 11)) == [0.3] * 10


def test_linear_warmup_ramps_then_holds() -> None:
    rates = _rates(_schedule(name="linear_warmup", warmup_steps=4), range(1, 7))
    assert rates == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0, 1.0])


def test_cosine_decays_to_min_lr_at_the_last_step_after_warmup() -> None:
    lrs = _rates(_schedule(total=12, name="cosine", warmup_steps=2, min_lr=0.1), range(1, 13))
    assert lrs[:2] == pytest.approx([0.5, 1.0])
    assert all(a > b for a, b in itertools.pairwise(lrs[2:]))
    assert math.isclose(lrs[-1], 0.1, rel_tol=1e-6) and math.isclose(lrs[6], 0.1 + 0.9 * 0.5, rel_tol=1e-6)


@pytest.mark.parametrize("warmup", [0, 1])
def test_cosine_without_warmup_follows_the_closed_form(warmup: int) -> None:
    lrs = _rates(_schedule(total=8, name="cosine", warmup_steps=warmup, min_lr=0.0), range(1, 9))
    expected = [0.5 * (1 + math.cos(math.pi * (s - warmup) / (8 - warmup))) for s in range(1, 9)]
    assert lrs == pytest.approx(expected, abs=1e-9)


def test_apply_sets_every_parameter_group() -> None:
    params = [torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))]
    optimizer = torch.optim.SGD([{"params": params[:1], "lr": 1.0}, {"params": params[1:], "lr": 0.1}])
    LRSchedule(optimizer, SchedulerConfig(name="linear_warmup", warmup_steps=2), 5).apply(1)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.5, 0.05])


def test_reduce_on_plateau_lowers_after_patience_and_ignores_nan() -> None:
    schedule = _schedule(name="reduce_on_plateau", factor=0.5, patience=1, min_lr=0.2)
    for loss in (2.0, 1.0, 1.5, math.nan, 1.2):  # two bad evaluations (NaN not counted) > patience 1
        schedule.observe({"loss": loss})
    assert _rates(schedule, range(3, 4)) == [0.5]
    for loss in (3.0, 3.0, 3.0, 3.0):
        schedule.observe({"loss": loss})
    assert _rates(schedule, range(4, 5)) == [0.2]  # floored at min_lr


def test_reduce_on_plateau_names_a_missing_metric() -> None:
    schedule = _schedule(name="reduce_on_plateau", metric="los")
    with pytest.raises(RecipeError, match="train.scheduler.metric: .*no metric 'los'; did you mean 'loss'"):
        schedule.observe({"loss": 1.0})


@pytest.mark.parametrize(
    "config",
    [
        {"name": "cosine", "warmup_steps": 3, "min_lr": 0.01},
        {"name": "cosine", "warmup_steps": 0, "min_lr": 0.0},
        {"name": "linear_warmup", "warmup_steps": 5},
        {"name": "reduce_on_plateau", "warmup_steps": 2, "patience": 0, "factor": 0.5},
    ],
)
def test_resume_mid_schedule_gives_identical_rates_and_weights(config: dict[str, object]) -> None:
    """Train 12 steps straight, and 5 + (checkpoint through torch.save) 7: same rates, same weights."""
    import io

    def fresh() -> tuple[torch.nn.Linear, torch.optim.Optimizer, LRSchedule]:
        torch.manual_seed(0)
        model = torch.nn.Linear(3, 1)
        optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
        return model, optimizer, LRSchedule(optimizer, SchedulerConfig(**config), 12)  # type: ignore[arg-type]

    def train(
        model: torch.nn.Linear, optimizer: torch.optim.Optimizer, schedule: LRSchedule, steps: range
    ) -> list[float]:
        rates = []
        for step in steps:
            schedule.apply(step)
            rates.append(optimizer.param_groups[0]["lr"])
            x = torch.full((4, 3), float(step))
            loss = (model(x) - 1.0).pow(2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if step % 2 == 0:
                schedule.observe({"loss": 1.0})  # never improves after the first: plateau reductions
        return rates

    model, optimizer, schedule = fresh()
    straight = train(model, optimizer, schedule, range(1, 13))
    first, optimizer_a, schedule_a = fresh()
    before = train(first, optimizer_a, schedule_a, range(1, 6))
    buffer = io.BytesIO()
    torch.save(
        {"model": first.state_dict(), "optimizer": optimizer_a.state_dict(), "schedule": schedule_a.state_dict()},
        buffer,
    )
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    second, optimizer_b, schedule_b = fresh()
    second.load_state_dict(saved["model"])
    optimizer_b.load_state_dict(saved["optimizer"])
    schedule_b.load_state_dict(saved["schedule"])
    after = train(second, optimizer_b, schedule_b, range(6, 13))
    assert before + after == straight
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), second.parameters()))


def test_monitor_modes_and_min_delta() -> None:
    low = MetricMonitor("loss", "min", min_delta=0.1)
    assert low.update({"loss": 2.0}) and not low.update({"loss": 1.95}) and low.update({"loss": 1.8})
    high = MetricMonitor("acc", "max", patience=2)
    assert high.update({"acc": 0.5}) and not high.update({"acc": 0.4}) and not high.exhausted
    assert not high.update({"acc": 0.5}) and high.exhausted


def test_monitor_ignores_nan_and_inf() -> None:
    monitor = MetricMonitor(patience=1)
    assert not monitor.update({"loss": math.nan})
    assert monitor.best is None and monitor.bad_evaluations == 0
    assert monitor.update({"loss": 3.0}) and not monitor.update({"loss": math.inf})
    assert monitor.best == 3.0 and not monitor.exhausted


def test_monitor_names_an_unknown_metric_with_a_suggestion() -> None:
    with pytest.raises(
        RecipeError,
        match=r"train.early_stopping.metric: .*no metric 'los'; did you mean 'loss'\? "
        r"\(it reports: loss, ppl\)",
    ):
        MetricMonitor("los", where="train.early_stopping.metric").update({"loss": 1.0, "ppl": 2.7})


def test_a_schedule_state_from_before_torch_schedulers_is_refused_with_a_reason() -> None:
    from seqframe.errors import CheckpointError

    legacy = {
        "name": "reduce_on_plateau",
        "scale": 0.5,
        "plateau": {"metric": "loss", "best": 1.0, "bad_evaluations": 0},
    }
    with pytest.raises(CheckpointError, match="saved by an older seqframe .* start a new run"):
        _schedule(name="reduce_on_plateau").load_state_dict(legacy)
