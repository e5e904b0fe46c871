"""The command line fits its users' habits: --version, help with examples on every command,
shell completion, --json output, predict answering stdin line by line and at a prompt,
per-task predict options, eval --data in each task's format, readable plugin listings, and
no shadowing by a folder named seqframe/ (through subprocesses where the process matters)."""

from __future__ import annotations

import argparse
import csv
import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

import seqframe
from seqframe import api
from seqframe.cli import build_parser, main

TINY = [
    "model.topology.hidden_size=8",
    "model.embedding_dim=4",
    "train.batch_size=4",
    "train.steps=2",
    "train.eval_every=0",
    "model.topology.num_layers=1",
]


def _seqframe(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "seqframe", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env=env,
        cwd=cwd,
        input=stdin,
    )


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


# -- version, help, completion ----------------------------------------------------------------


def test_version_and_verbose_versions_in_a_real_process() -> None:
    done = _seqframe("--version")
    assert done.returncode == 0 and done.stdout == f"seqframe {seqframe.__version__}\n", done.stderr
    done = _seqframe("--version", "-v")
    assert done.returncode == 0, done.stderr
    import torch

    assert f"torch     {torch.__version__}" in done.stdout and "python    " in done.stdout
    assert "builtin.cells" in done.stdout and f"seqframe {seqframe.__version__}" in done.stdout
    assert str(Path(seqframe.__file__).resolve().parent) in done.stdout


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == 2 and "choose a command" in capsys.readouterr().err


def _commands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_every_command_has_examples_and_every_positional_has_help() -> None:
    commands = _commands()
    assert {
        "run",
        "validate",
        "recipes",
        "plugins",
        "predict",
        "eval",
        "export",
        "average",
        "serve",
        "new-plugin",
        "completion",
    } <= set(commands)
    for name, parser in commands.items():
        text = parser.format_help()
        assert "\nexamples:\n  " in text, name
        assert text.count("seqframe ") >= 2, name
        for action in parser._actions:
            if not action.option_strings:
                assert action.help, f"seqframe {name}: positional {action.dest!r} has no help"


def test_help_runs_in_a_real_process_and_shows_examples() -> None:
    done = _seqframe("run", "--help")
    assert done.returncode == 0 and "examples:\n  seqframe run recipes/lm.yaml" in done.stdout
    assert "a recipe file (recipes/lm.yaml) or a shipped recipe's name" in " ".join(done.stdout.split())


def test_bash_completion_script_completes_commands_and_options(tmp_path: Path) -> None:
    done = _seqframe("completion", "bash")
    assert done.returncode == 0, done.stderr
    script = tmp_path / "seqframe.bash"
    script.write_text(done.stdout)
    probe = (
        f'source {script}; COMP_WORDS=(seqframe pre); COMP_CWORD=1; COMP_LINE="seqframe pre"; '
        'COMP_POINT=${#COMP_LINE}; _shtab_seqframe; echo "${COMPREPLY[@]}"; '
        'COMP_WORDS=(seqframe predict --len); COMP_CWORD=2; COMP_LINE="seqframe predict --len"; '
        'COMP_POINT=${#COMP_LINE}; _shtab_seqframe; echo "${COMPREPLY[@]}"'
    )
    shell = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, timeout=60, check=False)
    assert shell.returncode == 0, shell.stderr
    assert shell.stdout.splitlines() == ["predict", "--length-penalty"], shell.stdout
    zsh, tcsh = _seqframe("completion", "zsh"), _seqframe("completion", "tcsh")
    assert zsh.returncode == 0 and "predict" in zsh.stdout and "--length-penalty" in zsh.stdout
    assert tcsh.returncode == 0 and "predict" in tcsh.stdout


# -- --json --------------------------------------------------------------------------------------


def test_recipes_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["recipes", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {r["name"] for r in listed} == set(api.shipped_recipes())
    assert all(Path(r["path"]).is_file() and r["description"] for r in listed)


def test_validate_json_lists_each_issue_with_its_line_and_suggestion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe = tmp_path / "bad.yaml"
    recipe.write_text(
        "task: language_modelling\ndata: pydoc_topics\nmodel:\n  topology:\n    cell: lstn\ntrain:\n  step: 10\n",
        encoding="utf-8",
    )
    assert main(["validate", str(recipe), "--json", "train.batch_size=abc"]) == 2
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["ok"] is False and captured.err == ""
    issues = {issue["path"]: issue for issue in report["issues"]}
    assert issues["model.topology.cell"]["suggestion"] == "lstm"
    assert issues["model.topology.cell"]["file"] == str(recipe) and issues["model.topology.cell"]["line"] == 5
    assert issues["train.step"]["suggestion"] == "steps" and issues["train.step"]["line"] == 7
    assert issues["train.batch_size"]["override"] == "train.batch_size=abc"
    assert all("unknown" in issues[k]["message"] for k in ("model.topology.cell", "train.step"))
    assert main(["validate", "lm", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (
        report["ok"] is True and report["issues"] == [] and report["resolved"]["task"]["name"] == "language_modelling"
    )


def test_run_json_prints_the_final_summary_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            ["run", "lm", *TINY, "task.seq_len=8", "train.sample.max_tokens=2", "--out", str(tmp_path / "r"), "--json"]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["run_dir"] == str(tmp_path / "r") and summary["step"] == 2
    assert summary["final_eval"]["step"] == 2 and summary["sample"].startswith("The ")
    assert summary["stopped_early"] is False and isinstance(summary["loss"], float)


def test_predict_json_one_object_per_input(lm_run: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", lm_run, "ab", 'c"d', "--json", "--max-tokens", "3", "--temperature", "0"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["input"] for r in rows] == ["ab", 'c"d'] and all(len(r["output"]) >= 1 for r in rows)


# -- predict: stdin line by line, prompt, per-task options -------------------------------------


def _read_line(stream: object, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([stream], [], [], 0.5)
        if ready:
            return stream.readline()  # type: ignore[attr-defined]
    raise AssertionError("no answer arrived")


@pytest.mark.slow
def test_predict_answers_each_stdin_line_as_it_arrives(lm_run: str) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "seqframe", "predict", lm_run, "--max-tokens", "3", "--temperature", "0"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for prompt in ("The ", "A ", "def "):  # the producer waits for each answer: a live pipe
            process.stdin.write(prompt + "\n")
            process.stdin.flush()
            assert _read_line(process.stdout, 120).startswith(prompt)
        process.stdin.close()
        assert process.wait(60) == 0, process.stderr.read()
    finally:
        process.kill()


@pytest.mark.slow
def test_predict_interactive_prompt_keeps_its_history(lm_run: str, tmp_path: Path) -> None:
    env = {**os.environ, "SEQFRAME_CACHE_DIR": str(tmp_path / "cache")}
    done = _seqframe("predict", lm_run, "-i", "--max-tokens", "2", "--temperature", "0", env=env, stdin="The \n\nA \n")
    assert done.returncode == 0, done.stderr
    answers = [line for line in done.stdout.replace("> ", "").splitlines() if line]
    assert len(answers) == 2 and answers[0].startswith("The ") and answers[1].startswith("A ")  # the blank line: none
    assert "Ctrl-D quits" in done.stderr and "Traceback" not in done.stderr
    history = (tmp_path / "cache" / "predict_history").read_text()
    assert "The " in history and "A " in history
    refused = _seqframe("predict", lm_run, "The ", "-i", env=env)
    assert refused.returncode == 2 and "-i starts a prompt" in refused.stderr


def test_predict_help_says_which_options_each_task_takes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    text = capsys.readouterr().out
    rows = {line.split()[0]: line for line in text.split("options each task takes")[1].splitlines()[1:8] if line}
    assert "--temperature" in rows["language_modelling"] and "--beam" not in rows["language_modelling"]
    assert "--beam" in rows["translation"] and "--length-penalty" in rows["translation"]
    assert rows["classification"].endswith("(none)")


def test_predict_refuses_an_option_the_task_does_not_take(
    lm_run: str, classification_run: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["predict", lm_run, "The ", "--beam", "3"]) == 2
    assert (
        "--beam: task 'language_modelling' does not take it (it takes --max-tokens, --temperature, --top-k, "
        "--top-p, --seed)"
    ) in capsys.readouterr().err
    assert main(["predict", classification_run, "zwei", "--temperature", "0.5"]) == 2
    assert "--temperature: task 'classification' does not take it (it takes no option)" in capsys.readouterr().err


def test_length_penalty_for_translation(translation_run: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", translation_run, "one", "two", "--beam", "3", "--length-penalty", "0.6"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    assert main(["predict", translation_run, "one", "--length-penalty", "-1"]) == 2
    assert "--length-penalty: expected a finite number >= 0" in capsys.readouterr().err


# -- eval --data in the task's format --------------------------------------------------------


def test_eval_data_reads_each_tasks_own_format(
    classification_run: str, lm_run: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    examples = api.load_run(classification_run, with_data=True).data.examples("valid")[:6]
    jsonl, table = tmp_path / "dev.jsonl", tmp_path / "dev.csv"
    jsonl.write_text("".join(json.dumps({"text": e["text"], "label": e["label"]}) + "\n" for e in examples))
    with table.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["label", "text"])
        writer.writeheader()
        writer.writerows({"text": e["text"], "label": e["label"]} for e in examples)
    results = []
    for path in (jsonl, table):
        assert main(["eval", classification_run, "--data", str(path), "--json"]) == 0
        results.append(json.loads(capsys.readouterr().out))
    assert results[0] == results[1] and "accuracy" in results[0]
    notes = tmp_path / "notes.md"
    notes.write_text("The quick brown fox jumps over the lazy dog. " * 4)
    assert main(["eval", lm_run, "--data", str(notes), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["bpc"] > 0


# -- plugins --------------------------------------------------------------------------------------


def test_plugins_listing_is_plain_text_in_aligned_columns(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "`" not in out and ":class:" not in out
    components = out.split("components:\n")[1].splitlines()
    starts = {line.index(" builtin.") for line in components if " builtin." in line}
    assert len(starts) == 1  # the plugin column starts at one place whatever the name's length
    assert "number_language_features" in out and "English prose shipped with CPython (pydoc_data.topics)" in out


def test_a_blocked_plugin_is_listed_as_blocked_with_the_variable_in_a_real_process() -> None:
    env = {k: v for k, v in os.environ.items() if k != "SEQFRAME_DISABLE_PLUGIN_AUTOLOAD"}
    done = _seqframe("plugins", env={**env, "SEQFRAME_DISABLE_PLUGINS": "indrnn"})
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stdout.splitlines() if line.strip().startswith("indrnn "))
    assert "[BLOCKED]" in line and "not installed" not in done.stdout
    assert "plugin 'indrnn' (seqframe-indrnn 0.1.0) is blocked by SEQFRAME_DISABLE_PLUGINS=indrnn" in done.stdout
    done = _seqframe("validate", "lm", "model.topology.cell=indrnn", env={**env, "SEQFRAME_DISABLE_PLUGINS": "indrnn"})
    assert done.returncode == 2 and "indrnn (blocked by SEQFRAME_DISABLE_PLUGINS=indrnn)" in done.stderr


# -- packaging -----------------------------------------------------------------------------------


def test_a_folder_named_seqframe_in_the_current_directory_does_not_shadow_the_package(tmp_path: Path) -> None:
    clone = tmp_path / "seqframe"  # what `git clone .../seqframe` leaves in the current directory
    (clone / "src" / "seqframe").mkdir(parents=True)
    (clone / "tests").mkdir()
    (clone / "pyproject.toml").write_text("[project]\nname = 'seqframe'\n")
    (clone / "plugins.py").write_text("raise SystemExit('the clone folder was imported')\n")
    done = _seqframe("--version", "-v", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"location  {Path(seqframe.__file__).resolve().parent}" in done.stdout
    probe = subprocess.run(
        [sys.executable, "-c", "from seqframe.plugins import PluginInfo; import seqframe; print(seqframe.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert probe.returncode == 0 and Path(probe.stdout.strip()).resolve() == Path(seqframe.__file__).resolve()
