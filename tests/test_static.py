"""Static checks over the source: the security rules (no unsafe YAML loaders, no pickle,
every torch.load with weights_only=True) and the size of modules. The layer table is
checked by import-linter (`lint-imports`, contracts in pyproject.toml), run by .ci/run."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "seqframe"

SOURCES = sorted(PACKAGE.rglob("*.py"))


def _calls(tree: ast.AST) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)]


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_unsafe_deserialisation(path: Path) -> None:
    tree = ast.parse(path.read_text())
    for call in _calls(tree):
        name = _dotted(call.func)
        assert name not in {"yaml.load", "yaml.full_load", "yaml.unsafe_load", "pickle.load", "pickle.loads"}, (
            f"{path}:{call.lineno}: {name} can run code"
        )
        if name == "torch.load":
            kw = {k.arg: k.value for k in call.keywords}
            assert isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value is True, (
                f"{path}:{call.lineno}: torch.load without weights_only=True"
            )
    assert "yaml.Loader" not in path.read_text() and "yaml.UnsafeLoader" not in path.read_text()


MAX_LINES = 400
"""No module may grow past this (the project's rule: aim for 300 lines, split past 400)."""


def test_no_module_is_over_the_size_limit() -> None:
    sizes = {
        path.relative_to(PACKAGE).as_posix(): len(path.read_text(encoding="utf-8").splitlines()) for path in SOURCES
    }
    offenders = sorted(f"{name} ({lines} lines)" for name, lines in sizes.items() if lines > MAX_LINES)
    assert not offenders, f"modules over {MAX_LINES} lines; split them: {', '.join(offenders)}"
