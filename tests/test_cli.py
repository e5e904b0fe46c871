"""The command line: exit codes, messages without tracebacks, the listed commands."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from seqframe import api
from seqframe.cli import main
from seqframe.errors import TrainingInterrupted

TINY = [
    "model.topology.hidden_size=16",
    "model.embedding_dim=8",
    "task.seq_len=16",
    "train.batch_size=4",
    "train.steps=2",
    "train.eval_every=0",
    "train.sample.max_tokens=5",
    "model.topology.num_layers=1",
]


def test_run_trains_and_prints_a_sample(tmp_path, capsys) -> None:
    assert main(["run", "lm", *TINY, "--out", str(tmp_path / "r"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "validation: loss" in out and "bpc" in out and "sample:\nThe " in out


def test_quiet_prints_only_the_final_summary(tmp_path, capsys) -> None:
    assert (
        main(["run", "lm", *TINY, "train.steps=4", "train.eval_every=2", "--out", str(tmp_path / "r"), "--quiet"]) == 0
    )
    captured = capsys.readouterr()
    assert captured.err == ""
    lines = captured.out.splitlines()
    assert lines[0].startswith("validation: loss") and lines[1] == f"run directory: {tmp_path / 'r'}"
    assert lines[2] == "sample:" and lines[3].startswith("The ") and len(lines) == 4  # no per-evaluation lines


def test_without_quiet_each_evaluation_is_reported(tmp_path, capsys) -> None:
    assert main(["run", "lm", *TINY, "train.steps=4", "train.eval_every=2", "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "step 2: valid loss" in out and "step 4: valid loss" in out


def test_run_resume_continues_in_the_same_folder(tmp_path, capsys) -> None:
    out, every = str(tmp_path / "r"), "train.log_every=1"
    assert main(["run", "lm", *TINY, every, "--out", out, "--quiet"]) == 0
    assert main(["run", "lm", *TINY, every, "train.steps=3", "--out", out, "--quiet"]) == 2
    assert "--resume" in capsys.readouterr().err
    with pytest.warns(UserWarning, match="train.steps: 2 -> 3"):
        assert main(["run", "lm", *TINY, every, "train.steps=3", "--out", out, "--quiet", "--resume"]) == 0
    steps = [
        json.loads(line)["step"]
        for line in (tmp_path / "r/metrics.jsonl").read_text().splitlines()
        if json.loads(line)["split"] == "train"
    ]
    assert steps == [1, 2, 3]


def test_changed_model_on_resume_exits_2_with_the_diff(tmp_path, capsys) -> None:
    out = str(tmp_path / "r")
    assert main(["run", "lm", *TINY, "--out", out, "--quiet"]) == 0
    assert main(["run", "lm", *TINY, "model.topology.hidden_size=24", "--out", out, "--quiet", "--resume"]) == 2
    assert "model.topology.hidden_size: 16 -> 24" in capsys.readouterr().err


@pytest.mark.parametrize(("signum", "code"), [(2, 130), (15, 143)])
def test_interrupted_run_exits_128_plus_signal_with_a_resume_hint(monkeypatch, capsys, signum, code) -> None:
    def interrupted(*args, **kwargs):
        raise TrainingInterrupted("SIGX", signum, 7, "/runs/a b/checkpoints/step_00000007")

    monkeypatch.setattr(api, "run", interrupted)
    assert main(["run", "lm", "train.steps=9", "--out", "/runs/a b"]) == code
    err = capsys.readouterr().err
    assert "checkpoint saved to /runs/a b/checkpoints/step_00000007" in err
    assert "resume with: seqframe run lm train.steps=9 --out '/runs/a b' --resume" in err


def test_eval_reports_loss_perplexity_and_bits(tmp_path, capsys) -> None:
    assert main(["run", "lm", *TINY, "--out", str(tmp_path / "r"), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("valid split:")
    for label in ("loss (nats per target)", "perplexity", "bits per token", "bits per character"):
        assert label in out
    assert main(["eval", str(tmp_path / "r"), "--split", "test", "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == {"loss", "ppl", "bits_per_token", "bpc"}
    (tmp_path / "text.txt").write_text("The end of the story.\n" * 10)
    assert main(["eval", str(tmp_path / "r"), "--data", str(tmp_path / "text.txt")]) == 0
    assert capsys.readouterr().out.startswith(str(tmp_path / "text.txt"))


def test_eval_of_a_folder_that_is_not_a_run_exits_2(tmp_path, capsys) -> None:
    assert main(["eval", str(tmp_path)]) == 2
    assert "no recipe.yaml" in capsys.readouterr().err


def test_recipe_error_exits_2_without_traceback(tmp_path, capsys) -> None:
    code = main(["run", "lm", "model.topology.cell=lstn", "train.step=3", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2
    assert "did you mean 'lstm'" in err and "did you mean 'steps'" in err
    assert "Traceback" not in err
    assert not (tmp_path / "r").exists()  # nothing written for a wrong recipe


def test_traceback_flag_shows_the_traceback(capsys) -> None:
    assert main(["--traceback", "validate", "lm", "model.topology.cell=lstn"]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_validate_prints_the_resolved_recipe(capsys) -> None:
    assert main(["validate", "lm", "train.steps=7", "--print"]) == 0
    assert "steps: 7" in capsys.readouterr().out


def test_plugins_json_lists_builtin_components(capsys) -> None:
    assert main(["plugins", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    names = {(c["kind"], c["name"]) for c in payload["components"]}
    assert {("cell", "elman"), ("cell", "lstm"), ("cell", "gru"), ("topology", "stacked")} <= names
    builtin = next(p for p in payload["plugins"] if p["name"] == "builtin.cells")
    assert builtin["distribution"] == "seqframe" and builtin["hooks"] == ["seqframe_cells"]


def test_plugins_check_runs_the_conformance_checks(capsys) -> None:
    assert main(["plugins", "check", "elman"]) == 0
    out = capsys.readouterr().out
    assert "all checks passed" in out and "pass  padding_invariance" in out
    assert "time loop: torch's fused RNN_TANH kernel" in out


def test_plugins_check_unknown_cell_exits_2(capsys) -> None:
    assert main(["plugins", "check", "lstmm"]) == 2
    assert "did you mean 'lstm'" in capsys.readouterr().err


def test_predict_reads_prompts_from_stdin(tmp_path, monkeypatch, capsys) -> None:
    assert main(["run", "lm", *TINY, "--out", str(tmp_path / "r"), "--quiet"]) == 0
    capsys.readouterr()
    monkeypatch.setattr(sys, "stdin", __import__("io").StringIO("The \nA\n"))
    assert main(["predict", str(tmp_path / "r"), "--max-tokens", "4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("The ") and any(line.startswith("A") for line in lines)


def test_recipes_lists_the_shipped_recipes(capsys) -> None:
    assert main(["recipes"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert "lm" in names and "lm-indrnn" in names


@pytest.mark.slow
def test_python_dash_m_seqframe_works() -> None:
    done = subprocess.run([sys.executable, "-m", "seqframe", "recipes"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "lm" in done.stdout


def test_recipes_copy_writes_an_editable_copy_that_validates(tmp_path, capsys) -> None:
    assert main(["recipes", "copy", "lm", str(tmp_path)]) == 0
    copied = tmp_path / "lm.yaml"
    assert copied.read_text().startswith("# Character-level")
    assert main(["validate", str(copied)]) == 0
    assert main(["recipes", "copy", "lm", str(copied)]) == 2  # never overwrites silently
    assert "already exists" in capsys.readouterr().err
    assert main(["recipes", "copy", "lmm", str(tmp_path / "x.yaml")]) == 2
    assert "did you mean 'lm'" in capsys.readouterr().err


def test_overrides_may_follow_options(monkeypatch) -> None:
    seen = {}
    real = api.validate

    def fake_validate(recipe, overrides):
        seen["overrides"] = list(overrides)
        return real(recipe, overrides)

    monkeypatch.setattr(api, "validate", fake_validate)
    assert main(["validate", "lm", "train.steps=5", "--print", "train.seed=3"]) == 0
    assert seen["overrides"] == ["train.steps=5", "train.seed=3"]
    with pytest.raises(SystemExit):
        main(["validate", "lm", "--print", "--bogus"])
