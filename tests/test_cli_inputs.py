"""User mistakes at the command line end in one line and exit 2, never a traceback: bad
predict options, empty or closed stdin, a file in a format the task does not read, a
device that does not exist, too few rows per process, a text too short for one batch,
and Ctrl-C at any moment of start-up (exit 130, quietly)."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from seqframe import api
from seqframe.cli import main

TINY = [
    "model.topology.hidden_size=8",
    "model.embedding_dim=4",
    "train.batch_size=4",
    "train.steps=2",
    "train.eval_every=0",
    "model.topology.num_layers=1",
]
REPO = Path(__file__).resolve().parents[1]


def _train(tmp_path_factory: pytest.TempPathFactory, recipe: str, *extra: str) -> str:
    out = tmp_path_factory.mktemp(recipe) / "run"
    assert main(["run", recipe, *TINY, *extra, "--out", str(out), "--quiet"]) == 0
    return str(out)


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _train(tmp_path_factory, "lm", "task.seq_len=8", "train.sample.max_tokens=2")


@pytest.fixture(scope="module")
def translation_run(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _train(tmp_path_factory, "translate", "model.decoder.hidden_size=8", "task.eval_decode=2")


@pytest.fixture(scope="module")
def classification_run(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _train(tmp_path_factory, "many-to-one")


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--temperature", "nan", "--temperature: expected a finite number >= 0 (0: greedy), got nan"),
        ("--temperature", "-1", "--temperature: expected a finite number >= 0 (0: greedy), got -1.0"),
        ("--top-k", "-5", "--top-k: expected an integer >= 1, got -5"),
        ("--top-k", "0", "--top-k: expected an integer >= 1, got 0"),
        ("--top-p", "2", "--top-p: expected a number in (0, 1], got 2.0"),
        ("--top-p", "nan", "--top-p: expected a number in (0, 1], got nan"),
        ("--max-tokens", "-1", "--max-tokens: expected an integer in [1, 100000], got -1"),
        ("--max-tokens", "1099511627776", "--max-tokens: expected an integer in [1, 100000], got 1099511627776"),
        ("--seed", "99999999999999999999", "--seed: expected an integer in [0, 2**32)"),
    ],
)
def test_predict_option_out_of_range_is_one_line_naming_the_option(
    lm_run: str, capsys: pytest.CaptureFixture[str], option: str, value: str, expected: str
) -> None:
    assert main(["predict", lm_run, "The ", option, value]) == 2
    assert expected in one_line_error(capsys)


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [("--beam", "0", "an integer >= 1"), ("--max-tokens", "-3", "an integer in [1, 100000]")],
)
def test_translation_predict_option_out_of_range(
    translation_run: str, capsys: pytest.CaptureFixture[str], option: str, value: str, expected: str
) -> None:
    assert main(["predict", translation_run, "one", option, value]) == 2
    assert f"{option}: expected {expected}, got {value}" in one_line_error(capsys)


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("task.max_len=1099511627776", "task.max_len: translation: max_len must be an int in [1, 100000]"),
        ("train.sample.max_tokens=100001", "train.sample.max_tokens: expected a value <= 100000, got 100001"),
    ],
)
def test_a_generation_bound_past_max_tokens_is_refused(
    capsys: pytest.CaptureFixture[str], override: str, expected: str
) -> None:
    assert main(["validate", "translate", override]) == 2  # never a decode that runs for days
    assert expected in one_line_error(capsys)


@pytest.mark.parametrize("command", ["predict", "eval"])
def test_bad_device_names_the_device_option(lm_run: str, capsys: pytest.CaptureFixture[str], command: str) -> None:
    words = [command, lm_run, *(["The "] if command == "predict" else []), "--device", "bogus"]
    assert main(words) == 2
    err = one_line_error(capsys)
    assert "--device: expected auto, cpu" in err and "got 'bogus'" in err and "train.device" not in err


def test_predict_with_empty_stdin_says_where_inputs_come_from(
    lm_run: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(["predict", lm_run]) == 2
    assert "predict: stdin was empty; give inputs as arguments or as lines on stdin" in one_line_error(capsys)


def test_predict_with_stdin_closed(
    lm_run: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", None)  # what Python gives a process started with fd 0 closed
    assert main(["predict", lm_run]) == 2
    assert "predict: stdin is closed and no inputs were given" in one_line_error(capsys)


@pytest.mark.slow
def test_predict_from_dev_null_and_closed_stdin_in_a_real_process(lm_run: str) -> None:
    for stdin in ("</dev/null", "<&-"):
        done = subprocess.run(
            ["bash", "-c", f'"$0" -m seqframe predict "$1" {stdin}', sys.executable, lm_run],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 2 and "Traceback" not in done.stderr, (stdin, done.stderr)
        assert done.stderr.startswith("error: predict: stdin"), done.stderr


@pytest.mark.parametrize(
    "name, content, expected",
    [
        (  # a plain text file: the formats the task reads
            "text.txt",
            "vierundzwanzig\n",
            [
                "{path}: task 'classification' reads JSON Lines (.jsonl, one object per line), CSV",
                "with the fields text, label; name the file by its format (.jsonl, .csv, .tsv)",
            ],
        ),
        (  # a label the model never saw: the file that holds it
            "held_out.jsonl",
            '{"text": "zwei", "label": "de"}\n{"text": "dos", "label": "xx"}\n',
            ["error: {path}: task 'classification': labels the model was not trained on: 'xx'"],
        ),
    ],
)
def test_eval_data_file_on_a_classification_run_names_the_file_and_the_problem(
    classification_run: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    content: str,
    expected: list[str],
) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    assert main(["eval", classification_run, "--data", str(path)]) == 2
    err = one_line_error(capsys)
    for fragment in expected:
        assert fragment.format(path=path) in err, err


def test_nproc_larger_than_the_batch_is_refused_before_any_worker_starts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(api, "launch", lambda *a: pytest.fail("workers were launched"))
    assert main(["run", "lm", "train.batch_size=1", "--nproc", "2"]) == 2
    err = one_line_error(capsys)
    assert "override 'train.batch_size=1': train.batch_size: 1 is smaller than the 2 processes" in err


def test_text_too_short_for_one_batch_is_an_error_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", "lm", *TINY, "task.seq_len=8", "train.batch_size=100000"]) == 0
    capsys.readouterr()
    assert main(["run", "lm", *TINY, "task.seq_len=8", "train.batch_size=100000", "--out", str(tmp_path / "r")]) == 2
    assert "too few for batch_size 100000 x seq_len 8; lower them or add text" in one_line_error(capsys)


@pytest.mark.parametrize("path", ["/dev/zero", "fifo"])
def test_validate_on_a_device_or_fifo_exits_2_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], path: str
) -> None:
    if path == "fifo":
        path = str(tmp_path / "recipe.yaml")
        os.mkfifo(path)
    assert main(["validate", path]) == 2
    assert "expected a recipe file, got a" in one_line_error(capsys)


def test_control_character_in_an_override_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "lm", "train.device=c\x01pu"]) == 2
    assert "character U+0001 is not allowed in an override" in one_line_error(capsys)


# --- Ctrl-C during start-up ------------------------------------------------------------------

_INTERRUPTED_IMPORT = textwrap.dedent("""
    import sys

    class Interrupt:  # Ctrl-C arriving while torch is being imported
        def find_spec(self, name, path=None, target=None):
            if name == "torch":
                raise KeyboardInterrupt
            return None

    sys.meta_path.insert(0, Interrupt())
    from seqframe.cli import main  # what the installed `seqframe` script does
    sys.exit(main())
""")


def test_ctrl_c_while_torch_is_imported_exits_130_quietly(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _INTERRUPTED_IMPORT, "validate", "lm"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 130, done.stderr
    assert done.stderr == "interrupted\n"


@pytest.mark.slow
def test_ctrl_c_at_any_moment_of_start_up_exits_130_without_a_traceback(tmp_path: Path) -> None:
    for delay in (0.3, 0.8, 1.5):
        process = subprocess.Popen(
            [sys.executable, "-m", "seqframe", "validate", "lm"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=120)
        assert "Traceback" not in err, (delay, err)
        # 0: it had finished; -SIGINT: the signal came before the interpreter set up its own
        # handler (a loaded machine), so the OS ended it silently, before any seqframe code
        assert process.returncode in (0, 130, -signal.SIGINT), (delay, process.returncode, err)
        assert process.returncode != 130 or err == "interrupted\n", err
        assert process.returncode != -signal.SIGINT or err == "", err
