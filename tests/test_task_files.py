"""Files a user names for a task (``Task.read_file``: ``seqframe eval --data``), the plain-data
form of recipe issues (``validate --json``), and blocked plugins reported with what blocks
them."""

from __future__ import annotations

from pathlib import Path

import pytest

from seqframe.builtin.tasks.classification import ClassificationTask
from seqframe.builtin.tasks.language_modelling import LanguageModellingTask
from seqframe.builtin.tasks.tagging import TaggingTask
from seqframe.builtin.tasks.translation import TranslationTask
from seqframe.errors import DataError, PluginError, RecipeIssue, UnknownComponentError
from seqframe.plugins import load_plugin_manager
from seqframe.registry import Registry
from seqframe.runs import check_components


def test_a_language_model_reads_any_file_as_one_text(tmp_path: Path) -> None:
    path = tmp_path / "notes.md"
    path.write_text("one\ntwo\n", encoding="utf-8")
    assert LanguageModellingTask().read_file(path) == ["one\ntwo\n"]


def test_a_task_of_examples_reads_jsonl_csv_and_tsv(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"text": "good", "label": "pos"}\n\n{"text": "bad", "label": "neg"}\n')
    (tmp_path / "a.csv").write_text("text,label,extra\ngood,pos,1\nbad,neg,2\n")
    (tmp_path / "a.tsv").write_text("label\ttext\npos\tgood\n")
    task = ClassificationTask()
    assert task.read_file(tmp_path / "a.jsonl") == [{"text": "good", "label": "pos"}, {"text": "bad", "label": "neg"}]
    assert task.read_file(tmp_path / "a.csv")[1] == {"text": "bad", "label": "neg", "extra": "2"}
    assert task.read_file(tmp_path / "a.tsv") == [{"label": "pos", "text": "good"}]
    (tmp_path / "t.jsonl").write_text('{"source": "eins", "target": "one"}\n')
    assert TranslationTask().read_file(tmp_path / "t.jsonl") == [{"source": "eins", "target": "one"}]


def test_a_format_the_task_does_not_read_says_which_it_reads(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("just text\n")
    with pytest.raises(
        DataError,
        match=r"a.txt: task 'classification' reads JSON Lines .* or TSV .* with the fields "
        r"text, label; name the file by its format \(.jsonl, .csv, .tsv\)",
    ):
        ClassificationTask().read_file(path)
    (tmp_path / "a.csv").write_text("text,tags\nA b,X O\n")
    with pytest.raises(
        DataError,
        match=r"task 'tagging' reads JSON Lines \(.jsonl, one object per line\) with the "
        "fields text, tags",
    ):
        TaggingTask().read_file(tmp_path / "a.csv")


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        (
            "a.jsonl",
            '{"text": "x", "label": "y"}\n[1, 2]\n',
            r"a.jsonl:2: expected a JSON object with text, label, got list",
        ),
        ("a.jsonl", '{"text": "x"\n', r"a.jsonl:1: not a JSON object"),
        ("a.jsonl", '{"text": "x", "label": "y"}\n\n{"text": "z"}\n', r"a.jsonl:3: no field 'label' \(has: text\)"),
        ("a.csv", "text,lbl\nx,y\n", r"a.csv:1: the header names no column 'label' \(columns: text, lbl\)"),
        ("a.csv", "text,label\n", r"a.csv: no examples to evaluate"),
    ],
)
def test_a_bad_file_names_its_line(tmp_path: Path, name: str, content: str, expected: str) -> None:
    (tmp_path / name).write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=expected):
        ClassificationTask().read_file(tmp_path / name)


def test_a_file_not_in_utf8_names_its_line(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(b'{"text": "x", "label": "y"}\n{"text": "\xff"}\n')
    with pytest.raises(DataError, match=r"a.jsonl:2: not valid UTF-8"):
        ClassificationTask().read_file(tmp_path / "a.jsonl")


@pytest.mark.parametrize(
    ("location", "where"),
    [
        ("recipes/lm.yaml:12:5", {"file": "recipes/lm.yaml", "line": 12, "column": 5, "override": None}),
        ("C:/x/lm.yaml:3", {"file": "C:/x/lm.yaml", "line": 3, "column": None, "override": None}),
        ("override 'train.steps=abc'", {"file": None, "line": None, "column": None, "override": "train.steps=abc"}),
        (None, {"file": None, "line": None, "column": None, "override": None}),
    ],
)
def test_recipe_issue_as_plain_data(location: str | None, where: dict[str, object]) -> None:
    issue = RecipeIssue("model.topology.hiden_size", "unknown key", location, "hidden_size")
    assert issue.to_dict() == {
        "path": "model.topology.hiden_size",
        "message": "unknown key",
        "location": location,
        **where,
        "suggestion": "hidden_size",
    }


def test_unknown_component_carries_its_suggestion() -> None:
    registry = Registry.from_plugin_manager(load_plugin_manager(entry_points=False))
    with pytest.raises(UnknownComponentError) as caught:
        registry.get("cell", "lstn")
    assert caught.value.suggestion == "lstm"


def test_a_blocked_plugin_is_reported_as_blocked_with_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEQFRAME_DISABLE_PLUGIN_AUTOLOAD", raising=False)  # the installed seqframe-indrnn
    monkeypatch.setenv("SEQFRAME_DISABLE_PLUGINS", "indrnn")
    pm = load_plugin_manager()
    assert pm.infos["indrnn"].status == "blocked"
    assert "is blocked by SEQFRAME_DISABLE_PLUGINS=indrnn" in (pm.infos["indrnn"].error or "")
    registry = Registry.from_plugin_manager(pm)
    with pytest.raises(
        UnknownComponentError,
        match=r"blocked and were not loaded: indrnn \(blocked by "
        r"SEQFRAME_DISABLE_PLUGINS=indrnn\)",
    ):
        registry.get("cell", "indrnn")
    used = {
        "model.topology.cell": {
            "name": "indrnn",
            "plugin": "indrnn",
            "distribution": "seqframe-indrnn",
            "version": "0.1.0",
        }
    }
    with pytest.raises(
        PluginError,
        match=r"run.json: this run uses cell 'indrnn' from plugin 'indrnn' "
        r"\(seqframe-indrnn 0.1.0\), which is blocked by "
        r"SEQFRAME_DISABLE_PLUGINS=indrnn; unblock it to load the run",
    ):
        check_components(used, registry, Path("run.json"))


def test_a_run_whose_plugins_autoload_is_off_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEQFRAME_DISABLE_PLUGIN_AUTOLOAD", "1")
    registry = Registry.from_plugin_manager(load_plugin_manager())
    used = {
        "model.topology.cell": {
            "name": "indrnn",
            "plugin": "indrnn",
            "distribution": "seqframe-indrnn",
            "version": "0.1.0",
        }
    }
    with pytest.raises(
        PluginError,
        match=r"which is not loaded: SEQFRAME_DISABLE_PLUGIN_AUTOLOAD=1 turns off every "
        r"installed plugin \(install seqframe-indrnn if it is missing\)",
    ):
        check_components(used, registry, Path("run.json"))
    with pytest.raises(
        UnknownComponentError,
        match=r"installed plugins were not loaded "
        r"\(SEQFRAME_DISABLE_PLUGIN_AUTOLOAD=1\): unset it to use them",
    ):
        registry.get("cell", "indrnn")
