"""``loss.png``: drawn from training and validation rows, continued after a resume."""

from __future__ import annotations

import math

from seqframe.engine import LossPlot, render_loss_plot

PNG = b"\x89PNG\r\n\x1a\n"


def test_render_draws_a_png_and_skips_non_finite_points() -> None:
    data = render_loss_plot([(1, 3.0), (2, math.nan), (3, 2.0)], [(3, 2.5), (4, math.inf)])
    assert data[:8] == PNG and len(data) > 1000


def test_render_of_no_points_is_still_a_png() -> None:
    assert render_loss_plot([], [])[:8] == PNG


def test_plot_continues_the_curves_of_a_resumed_run(tmp_path) -> None:
    history = [
        {"step": 1, "split": "train", "loss": 3.0},
        {"step": 2, "split": "valid", "loss": 2.9},
        {"step": 2, "split": "train", "loss": None},
    ]
    plot = LossPlot(tmp_path / "loss.png", log_every=2, history=history)
    plot.on_train_batch_end(3, {"loss": 2.5})  # not a logged step
    plot.on_train_batch_end(4, {"loss": 2.0})
    assert not (tmp_path / "loss.png").exists()
    plot.on_eval_end(4, {"loss": 2.2, "ppl": 9.0})
    assert plot.train == [(1, 3.0), (4, 2.0)] and plot.valid == [(2, 2.9), (4, 2.2)]
    assert (tmp_path / "loss.png").read_bytes()[:8] == PNG
