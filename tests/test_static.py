"""Static checks over the source: the layer table of STYLE.md and the security rules
(no unsafe YAML loaders, no pickle, every torch.load with weights_only=True)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "seqframe"

# layer of each module (by dotted-name prefix) -> the layers it may import
LAYERS = {
    "seqframe.errors": 0, "seqframe.types": 0, "seqframe.interfaces": 0, "seqframe.hookspecs": 0,
    "seqframe.pipeline": 0, "seqframe.cache": 0, "seqframe.version": 0, "seqframe.environment": 0, "seqframe.files": 0, "seqframe.devices": 0, "seqframe.optim": 0,
    "seqframe.rnn": 0.5, "seqframe.plugins": 1, "seqframe.registry": 1,
    "seqframe.builtin": 2, "seqframe.recipe": 3, "seqframe.engine": 4, "seqframe.api": 5,
    "seqframe.rnn_builder": 5, "seqframe.runs": 5, "seqframe.testing": 5, "seqframe.cli": 6, "seqframe.__main__": 6,
}
ALLOWED = {
    0: {0}, 0.5: {0, 0.5}, 1: {0, 1}, 2: {0, 0.5}, 3: {0, 1, 3}, 4: {0, 4},
    5: {0, 0.5, 1, 2, 3, 4, 5}, 6: {5, 6},
}
EXCEPTIONS = {
    ("seqframe.plugins", "seqframe.builtin"),  # the BUILTIN_PLUGINS tuple of module names
    ("seqframe.cli", "seqframe.errors"),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> float | None:
    best = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len, default=None)
    return LAYERS[best] if best else None


def _imports(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module == "seqframe":
            names |= {f"seqframe.{a.name}" for a in node.names}  # from seqframe import api
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {n for n in names if n == "seqframe" or n.startswith("seqframe.")}


SOURCES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_imports_only_lower_layers(path: Path) -> None:
    module = _module_name(path)
    layer = _layer(module)
    if layer is None:
        assert module == "seqframe", f"{module} is in no layer of the table"
        return
    for imported in _imports(ast.parse(path.read_text())):
        target = _layer(imported)
        package = module if layer is None else ".".join(module.split(".")[:2])
        if (package, imported) in EXCEPTIONS or (module.split(".")[:2] == imported.split(".")[:2]):
            continue
        assert target in ALLOWED[layer], f"{module} (layer {layer}) imports {imported} (layer {target})"


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
        assert name not in {"yaml.load", "yaml.full_load", "yaml.unsafe_load", "pickle.load", "pickle.loads"}, \
            f"{path}:{call.lineno}: {name} can run code"
        if name == "torch.load":
            kw = {k.arg: k.value for k in call.keywords}
            assert isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value is True, \
                f"{path}:{call.lineno}: torch.load without weights_only=True"
    assert "yaml.Loader" not in path.read_text() and "yaml.UnsafeLoader" not in path.read_text()
