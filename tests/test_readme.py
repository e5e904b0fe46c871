"""The README's promises: the two set-up commands come first, .ci/run runs them (then ruff,
mypy and lint-imports),
and every Python example in it runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def _setup_commands() -> list[str]:
    return [line for line in _blocks("bash")[0].splitlines() if line.strip()]


def test_readme_opens_with_install_and_test_commands() -> None:
    install, test = _setup_commands()
    assert "pip install" in install and "plugins/seqframe-indrnn" in install and "[test]" in install
    assert "constraints-cpu.txt" in install
    assert test.strip() == "python -m pytest"


def test_ci_runs_exactly_the_readme_commands() -> None:
    ci = [
        line.strip()
        for line in (ROOT / ".ci/run").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    for command in _setup_commands():
        assert command in ci
    tools = [
        "ruff check src tests benchmarks plugins",
        "ruff format --check src tests benchmarks plugins",
        "mypy",
        "lint-imports",
    ]
    assert ci[-len(tools) :] == tools and ci.index("python -m pytest") < ci.index(tools[0])


def test_every_plugin_package_is_installed_by_the_install_command() -> None:
    install = _setup_commands()[0]
    for package in (ROOT / "plugins").iterdir():
        if (package / "pyproject.toml").exists():
            assert f"plugins/{package.name}" in install


@pytest.mark.parametrize("index", range(len(_blocks("python"))))
def test_readme_python_example_runs(index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code = _blocks("python")[index]
    if "seqframe_mycell" in code:  # packaging snippet: the module does not exist
        pytest.skip("packaging snippet refers to an example distribution")
    exec(compile(code, f"README.md python block {index}", "exec"), {"__name__": "readme"})
