"""``train.loggers``: TensorBoard scalars of every training and validation metric plus the
text sample, in the run directory's ``logs/tensorboard`` (listed in its manifest); a resumed
run logs each step once; a plugin adds a logger through ``seqframe_loggers``; unknown names
and options are recipe errors."""

from __future__ import annotations

import json
import types
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import seqframe
from seqframe.cli import main
from seqframe.errors import RecipeError
from seqframe.interfaces import Logger
from seqframe.plugins import PluginInfo, load_plugin_manager
from seqframe.registry import Registry

TINY = [
    "model.topology.hidden_size=8",
    "model.embedding_dim=4",
    "task.seq_len=8",
    "train.batch_size=2",
    "train.eval_every=4",
    "train.sample.max_tokens=5",
    "train.checkpoint.every=4",
]


def _events(run: Path) -> EventAccumulator:
    return EventAccumulator(str(run / "logs" / "tensorboard")).Reload()


def test_every_metric_and_the_sample_reach_tensorboard(tmp_path: Path) -> None:
    run = tmp_path / "lm"
    result = seqframe.run("lm", [*TINY, "train.steps=8", "train.loggers=[tensorboard]"], out_dir=run, progress=False)
    events = _events(run)
    scalars = set(events.Tags()["scalars"])
    assert {"train/loss", "train/lr", "train/grad_norm", "train/tokens_per_s"} <= scalars
    assert {"valid/loss", "valid/ppl", "valid/bits_per_token", "valid/bpc"} <= scalars
    assert [e.step for e in events.Scalars("train/loss")] == list(range(1, 9))
    assert [e.step for e in events.Scalars("valid/loss")] == [4, 8]
    assert events.Scalars("valid/loss")[-1].value == pytest.approx(result.final_eval["loss"], rel=1e-6)
    text = events.Tensors("sample/text_summary")[0].tensor_proto.string_val[0].decode()
    assert text == result.sample
    assert json.loads((run / "manifest.json").read_text())["files"]["logs"] is None


def test_a_resumed_run_logs_each_step_once(tmp_path: Path) -> None:
    class CrashAt(seqframe.engine.Callback):
        def on_train_batch_end(self, step: int, row: dict) -> None:
            if step == 6:
                raise RuntimeError("simulated crash")

    run = tmp_path / "lm"
    overrides = [*TINY, "train.steps=10", "train.loggers=[tensorboard]"]
    with pytest.raises(RuntimeError, match="simulated crash"):
        seqframe.run("lm", overrides, out_dir=run, progress=False, callbacks=[CrashAt()])  # steps 5, 6 logged
    seqframe.run("lm", overrides, out_dir=run, progress=False, resume=True)  # from the checkpoint at step 4
    events = _events(run)
    assert len(list((run / "logs" / "tensorboard").iterdir())) == 2  # one event file per session
    assert [e.step for e in events.Scalars("train/loss")] == list(range(1, 11))
    assert [e.step for e in events.Scalars("valid/loss")] == [4, 8, 10]


class Recording(Logger):
    """A plugin logger recording what it receives."""

    seen: list[tuple] = []

    def __init__(self, log_dir, tag="x"):
        self.log_dir, self.tag = Path(log_dir), tag

    def on_train_start(self, total_steps, start_step):
        self.seen.append(("start", total_steps, start_step, self.log_dir.name, self.tag))

    def on_eval_end(self, step, row):
        self.seen.append(("eval", step, sorted(row)))

    def on_sample(self, step, text):
        self.seen.append(("sample", step))

    def close(self):
        self.seen.append(("close",))


def _registry() -> Registry:
    plugin = types.ModuleType("seqframe_recording")
    plugin.seqframe_loggers = seqframe.hookimpl(lambda: {"recording": Recording})
    pm = load_plugin_manager(entry_points=False)
    pm.add_plugin(plugin, PluginInfo("recording", "seqframe_recording", "seqframe-recording", "0.1.0"))
    return Registry.from_plugin_manager(pm)


def test_a_plugin_adds_a_logger_through_the_hook(tmp_path: Path) -> None:
    Recording.seen = []
    seqframe.run(
        "lm",
        [*TINY, "train.steps=4", "train.loggers=[{name: recording, tag: y}]"],
        out_dir=tmp_path / "lm",
        progress=False,
        registry=_registry(),
    )
    assert Recording.seen[0] == ("start", 4, 0, "recording", "y")
    assert Recording.seen[1] == ("eval", 4, ["bits_per_token", "bpc", "loss", "ppl"])
    assert Recording.seen[2:] == [("sample", 4), ("close",)]
    assert (tmp_path / "lm" / "logs" / "recording").is_dir()


def test_an_unknown_logger_is_a_recipe_error_with_a_suggestion(tmp_path: Path, capsys) -> None:
    assert main(["run", "lm", *TINY, "train.steps=2", "train.loggers=[tensorbord]", "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "train.loggers[0]: unknown logger 'tensorbord'" in err and "did you mean 'tensorboard'" in err
    with pytest.raises(
        RecipeError, match=r"train.loggers\[0\].colour: unknown parameter 'colour' for logger 'tensorboard'"
    ):
        seqframe.run(
            "lm",
            [*TINY, "train.steps=2", "train.loggers=[{name: tensorboard, colour: red}]"],
            out_dir=tmp_path / "b",
            progress=False,
        )
