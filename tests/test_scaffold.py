"""``seqframe new-plugin``: the package it writes is installable as written, its own tests
pass, and ``seqframe run`` trains with the new component, for every kind, with no edit.

"Installed" the way ``pip install -e`` leaves a package (no pip and no network in tests):
the package folder on the import path plus a ``.dist-info`` folder whose
``entry_points.txt`` is read from the generated ``pyproject.toml``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from seqframe.cli import main
from seqframe.cli.scaffold import KINDS, render_plugin

NAMES = {"cell": "leaky_ring", "task": "first_word", "tokenizer": "bytes_lower", "data": "sums"}
RUN = {
    "cell": "model.topology.cell=leaky_ring",
    "task": "task=first_word",
    "tokenizer": "tokenizer=bytes_lower",
    "data": "data=sums",
}
TINY = [
    "train.steps=2",
    "train.eval_every=0",
    "train.batch_size=4",
    "model.topology.hidden_size=8",
    "model.topology.num_layers=1",
    "model.embedding_dim=4",
    "train.sample.max_tokens=5",
]


def _install(package: Path, site: Path) -> None:
    """What ``pip install -e package`` leaves behind: metadata with the declared entry points."""
    project = tomllib.loads((package / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    points = "".join(f"{name} = {target}\n" for name, target in project["entry-points"]["seqframe"].items())
    (info / "entry_points.txt").write_text(f"[seqframe]\n{points}")


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One generated and installed package per kind, written by the command line."""
    root = tmp_path_factory.mktemp("plugins")
    out = {}
    for kind, name in NAMES.items():
        assert main(["new-plugin", name, "--kind", kind, "--dir", str(root / name)]) == 0
        _install(root / name, root / "site" / kind)
        out[kind] = root / name
    return out


def test_the_package_has_the_entry_point_a_module_tests_and_a_readme(packages: dict[str, Path]) -> None:
    package = packages["cell"]
    project = tomllib.loads((package / "pyproject.toml").read_text())["project"]
    assert project["name"] == "seqframe-leaky-ring"
    assert project["entry-points"]["seqframe"] == {"leaky_ring": "seqframe_leaky_ring.plugin"}
    assert (package / "seqframe_leaky_ring" / "plugin.py").is_file()
    assert "check_cell(LeakyRingCell" in (package / "tests" / "test_leaky_ring.py").read_text()
    assert "seqframe run lm model.topology.cell=leaky_ring" in (package / "README.md").read_text()


def test_every_kind_renders_a_module_that_compiles() -> None:
    for kind in KINDS:
        for path, text in render_plugin("probe", kind).items():
            if path.endswith(".py"):
                compile(text, path, "exec")


@pytest.mark.slow
def test_the_generated_tests_pass(packages: dict[str, Path], tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEQFRAME_")}
    env["PYTHONPATH"] = os.pathsep.join([*map(str, packages.values()), env.get("PYTHONPATH", "")])
    env["SEQFRAME_CACHE_DIR"] = str(tmp_path / "cache")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--import-mode=importlib",
            "-c",
            str(tmp_path / "pytest.ini"),
            *(str(p / "tests") for p in packages.values()),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "13 passed" in done.stdout


@pytest.mark.parametrize("kind", list(KINDS))
def test_seqframe_run_trains_with_the_new_component_by_name(
    kind: str, packages: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for path in (packages[kind], packages[kind].parent / "site" / kind):
        monkeypatch.syspath_prepend(str(path))
    monkeypatch.delenv("SEQFRAME_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("SEQFRAME_DISABLE_PLUGINS", raising=False)
    module = f"seqframe_{NAMES[kind]}"
    try:
        assert main(["run", "lm", RUN[kind], *TINY, "--out", str(tmp_path / "run")]) == 0
    finally:  # forget the module, so later tests see the name as free
        for name in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
            del sys.modules[name]
    run_json = (tmp_path / "run" / "run.json").read_text()
    assert f'"distribution": "seqframe-{NAMES[kind].replace("_", "-")}"' in run_json


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["new-plugin", "Leaky-RNN"], "invalid name 'Leaky-RNN'; expected lowercase letters"),
        (["new-plugin", "lstm"], "'lstm' is already a built-in cell; choose another name"),
        (["new-plugin", "char", "--kind", "tokenizer"], "'char' is already a built-in tokenizer"),
    ],
)
def test_a_bad_name_exits_2_with_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_an_existing_folder_is_refused_and_left_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    assert main(["new-plugin", "fresh_ring", "--dir", str(tmp_path / "mine")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already exists and is not an empty folder" in err
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["notes.txt"]
