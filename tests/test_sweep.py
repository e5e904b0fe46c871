"""``seqframe sweep``: the spec (swept and fixed keys, seeds, one-line errors), runs as normal
run directories, aggregation over seeds into results.json / results.md / plots, and resuming:
finished runs are skipped, interrupted ones continue."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

import seqframe
from seqframe.api.sweep_results import mean_std, run_status
from seqframe.api.sweep_spec import parse_sweep, split_values
from seqframe.cli import main
from seqframe.engine import Callback
from seqframe.errors import SeqframeError, TrainingInterrupted

TINY = [
    "data.length=4",
    "data.size=32",
    "data.valid_size=8",
    "data.test_size=4",
    "train.steps=4",
    "train.eval_every=2",
    "train.log_every=1",
    "model.topology.hidden_size=4",
    "train.batch_size=8",
    "train.checkpoint.every=2",
]


def test_values_split_on_top_level_commas_only() -> None:
    assert split_values("elman,gru") == ["elman", "gru"]
    assert split_values("{name: lstm, proj_size: 2},gru") == ["{name: lstm, proj_size: 2}", "gru"]
    assert split_values("[a,b],'c,d'") == ["[a,b]", "'c,d'"]


def test_listed_values_are_swept_and_single_values_fixed() -> None:
    plan = parse_sweep(["model.topology.cell=elman,gru", "data.length=5,10", "train.steps=3", "~train.sample"], seeds=2)
    assert plan.swept == ("model.topology.cell", "data.length")
    assert plan.fixed == ("train.steps=3", "~train.sample")
    assert [s.slug for s in plan.settings] == [
        "cell=elman__length=5",
        "cell=elman__length=10",
        "cell=gru__length=5",
        "cell=gru__length=10",
    ]
    assert plan.overrides(plan.settings[1], 1) == [
        "train.steps=3",
        "~train.sample",
        "model.topology.cell=elman",
        "data.length=10",
        "train.seed=1",
    ]
    assert plan.settings[1].parsed() == {"model.topology.cell": "elman", "data.length": 10}


def test_a_mapping_of_python_values_is_a_sweep_too() -> None:
    plan = parse_sweep({"train.optimizer.lr": [1e-3, 0.01], "model.topology.cell": ["gru"]})
    assert plan.swept == ("train.optimizer.lr",) and plan.fixed == ("model.topology.cell=gru",)
    assert [s.parsed()["train.optimizer.lr"] for s in plan.settings] == [1e-3, 0.01]


def test_a_fixed_seed_names_the_single_run() -> None:
    plan = parse_sweep(["train.seed=7"])
    assert plan.seeds == (7,) and plan.overrides(plan.settings[0], 7) == ["train.seed=7"]


@pytest.mark.parametrize(
    "words, seeds, message",
    [
        (["model.topology.cell"], 1, "is not KEY=VALUE or KEY=v1,v2"),
        (["a.b=1,,2"], 1, "empty value for 'a.b'"),
        (["a.b=1,1"], 1, "a value of 'a.b' is listed twice"),
        (["a.b=1", "a.b=2,3"], 1, "'a.b' is given twice"),
        (["9x=1"], 1, "is not a dotted recipe key"),
        (["train.seed=1,2"], 3, "train.seed is given and --seeds 3"),
        ([], 0, "--seeds: expected a number of seeds >= 1, got 0"),
    ],
)
def test_bad_sweep_specs_are_one_line_errors(words: list[str], seeds: int, message: str) -> None:
    with pytest.raises(SeqframeError, match=message) as info:
        parse_sweep(words, seeds)
    assert "\n" not in str(info.value) and str(info.value).startswith("sweep: ")


def test_bad_sweep_on_the_command_line_exits_2_with_one_line(tmp_path: Path, capsys) -> None:
    assert main(["sweep", "adding", "model.topology.cell=elman,,gru", "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "empty value" in err
    assert main(["sweep", "adding", "model.topology.cel=elman,gru", "--out", str(tmp_path / "s")]) == 2
    assert "model.topology.cel" in capsys.readouterr().err
    assert main(["sweep", "adding", "--jobs", "0"]) == 2
    assert main(["sweep", "adding", "--seeds", "2", "train.seed=1,2"]) == 2  # words after an option are read too
    assert "train.seed is given and --seeds 2" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()  # nothing written before the spec is known to be good


def test_mean_and_sample_std() -> None:
    assert mean_std([1.0, 3.0]) == (2.0, pytest.approx(2**0.5))
    assert mean_std([5.0]) == (5.0, None)


class _SignalAt(Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, step: int, row: dict) -> None:
        if step == self.step:
            signal.raise_signal(signal.SIGINT)


def test_sweep_trains_aggregates_and_resumes(tmp_path: Path, capsys) -> None:
    out = tmp_path / "sweep"
    # one run of the sweep was interrupted earlier: the sweep continues it rather than starting again
    seed1 = out / "cell=gru" / "seed-1"
    with pytest.raises(TrainingInterrupted):
        seqframe.run(
            "adding",
            [*TINY, "model.topology.cell=gru", "train.seed=1"],
            out_dir=seed1,
            progress=False,
            callbacks=[_SignalAt(2)],
        )
    assert run_status(seed1) == "interrupted" and run_status(out / "nothing") == "new"
    result = seqframe.sweep("adding", ["model.topology.cell=elman,gru", *TINY], seeds=2, out_dir=out)
    printed = capsys.readouterr().out
    assert "0 finished, 4 to train" in printed and "cell=gru/seed-1: resumed" in printed
    assert [s.slug for s in result.settings] == ["cell=elman", "cell=gru"]
    for setting in result.settings:
        assert setting.finished == 2 and all(run_status(out / r.run_dir) == "finished" for r in setting.runs)
        losses = [r.metrics["loss"] for r in setting.runs]
        assert setting.mean["loss"] == pytest.approx(sum(losses) / 2)
        assert setting.std["loss"] == pytest.approx(mean_std(losses)[1])
        assert [step for step, _ in setting.runs[0].curve] == [2, 4]
        assert (out / "plots" / f"{setting.slug}.png").read_bytes()[:4] == b"\x89PNG"
    saved = json.loads((out / "results.json").read_text())
    assert saved["swept"] == ["model.topology.cell"] and saved["seeds"] == [0, 1]
    assert [row["values"] for row in saved["settings"]] == [
        {"model.topology.cell": "elman"},
        {"model.topology.cell": "gru"},
    ]
    assert set(saved["settings"][0]["mean"]) == {"loss", "mse", "mae", "baseline_mse"}
    table = (out / "results.md").read_text()
    assert "| cell | seeds | loss | baseline_mse | mae | mse |" in table and "| gru | 2/2 | " in table
    # the resumed run continued exactly: the same losses as a run straight through
    straight = seqframe.run(
        "adding", [*TINY, "model.topology.cell=gru", "train.seed=1"], out_dir=tmp_path / "straight", progress=False
    )
    assert result.settings[1].runs[1].metrics["loss"] == pytest.approx(straight.final_eval["loss"], rel=1e-6)
    # run again: everything is finished, nothing trains, the results are written again
    stamp = (out / "cell=elman" / "seed-0" / "model.safetensors").stat().st_mtime_ns
    again = seqframe.sweep("adding", ["model.topology.cell=elman,gru", *TINY], seeds=2, out_dir=out, metrics=["loss"])
    assert "4 finished, 0 to train" in capsys.readouterr().out
    assert (out / "cell=elman" / "seed-0" / "model.safetensors").stat().st_mtime_ns == stamp
    assert again.metrics == ["loss"] and "| cell | seeds | loss |\n" in (out / "results.md").read_text()
    # a finished run trained with other settings is never passed off as this sweep's
    with pytest.raises(SeqframeError, match=r"cell=elman/seed-0 was trained with train.steps=4, this sweep asks for 5"):
        seqframe.sweep(
            "adding",
            ["model.topology.cell=elman,gru", *[w for w in TINY if w != "train.steps=4"], "train.steps=5"],
            seeds=2,
            out_dir=out,
        )


def test_a_failing_run_is_reported_and_the_others_finish(tmp_path: Path, capsys) -> None:
    words = ["train.optimizer.lr=0.01,1e30", "train.on_nonfinite=error", *TINY]
    code = main(["sweep", "adding", *words, "--out", str(tmp_path / "s")])
    out = capsys.readouterr().out
    assert code == 1 and "lr=1e30/seed-0: failed: NonFiniteError" in out and "1 run(s) did not finish" in out
    assert "| 0.01 | 1/1 |" in (tmp_path / "s" / "results.md").read_text()


@pytest.mark.slow
def test_jobs_run_in_parallel_processes_with_the_same_results(tmp_path: Path, capsys) -> None:
    words = ["model.topology.cell=elman,gru", *TINY]
    one = seqframe.sweep("adding", words, out_dir=tmp_path / "one", jobs=1)
    two = seqframe.sweep("adding", words, out_dir=tmp_path / "two", jobs=2, threads=1)
    assert "(2 job(s) x 1 thread(s))" in capsys.readouterr().out
    assert [s.mean["loss"] for s in two.settings] == pytest.approx([s.mean["loss"] for s in one.settings], rel=1e-5)
