"""Learning-rate schedules and the metric monitor behind best checkpoints, early stopping and
reduce-on-plateau."""

from __future__ import annotations

import math

import pytest
import torch

from seqframe.engine import LRSchedule, MetricMonitor
from seqframe.errors import RecipeError
from seqframe.pipeline import SchedulerConfig


def _schedule(total: int = 10, lr: float = 1.0, **config: object) -> LRSchedule:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    return LRSchedule(optimizer, SchedulerConfig(**config), total)  # type: ignore[arg-type]


def test_constant_keeps_the_optimizer_rate() -> None:
    schedule = _schedule(lr=0.3)
    assert [schedule.lrs(s)[0] for s in (1, 5, 10)] == [0.3, 0.3, 0.3]


def test_linear_warmup_ramps_then_holds() -> None:
    schedule = _schedule(name="linear_warmup", warmup_steps=4)
    assert [schedule.lrs(s)[0] for s in range(1, 7)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]


def test_cosine_decays_to_min_lr_at_the_last_step_after_warmup() -> None:
    schedule = _schedule(total=12, name="cosine", warmup_steps=2, min_lr=0.1)
    lrs = [schedule.lrs(s)[0] for s in range(1, 13)]
    assert lrs[:2] == [0.5, 1.0]
    assert all(a > b for a, b in zip(lrs[2:], lrs[3:]))
    assert math.isclose(lrs[-1], 0.1) and math.isclose(schedule.lrs(7)[0], 0.1 + 0.9 * 0.5)


def test_apply_sets_every_parameter_group() -> None:
    params = [torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))]
    optimizer = torch.optim.SGD([{"params": params[:1], "lr": 1.0}, {"params": params[1:], "lr": 0.1}])
    LRSchedule(optimizer, SchedulerConfig(name="linear_warmup", warmup_steps=2), 5).apply(1)
    assert [g["lr"] for g in optimizer.param_groups] == [0.5, 0.05]


def test_reduce_on_plateau_lowers_after_patience_and_ignores_nan() -> None:
    schedule = _schedule(name="reduce_on_plateau", factor=0.5, patience=1, min_lr=0.2)
    for loss in (2.0, 1.0, 1.5, math.nan, 1.2):  # two bad evaluations (NaN not counted) > patience 1
        schedule.observe({"loss": loss})
    assert schedule.lrs(3) == [0.5]
    for loss in (3.0, 3.0, 3.0, 3.0):
        schedule.observe({"loss": loss})
    assert schedule.lrs(4) == [0.2]  # floored at min_lr


def test_schedule_state_round_trips() -> None:
    a = _schedule(name="reduce_on_plateau", patience=0)
    for loss in (1.0, 2.0):
        a.observe({"loss": loss})
    b = _schedule(name="reduce_on_plateau", patience=0)
    b.load_state_dict(a.state_dict())
    assert b.lrs(5) == a.lrs(5) == [0.5] and b.plateau.best == 1.0


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
    with pytest.raises(RecipeError, match=r"train.early_stopping.metric: .*no metric 'los'; did you mean 'loss'\? "
                                          r"\(it reports: loss, ppl\)"):
        MetricMonitor("los", where="train.early_stopping.metric").update({"loss": 1.0, "ppl": 2.7})
