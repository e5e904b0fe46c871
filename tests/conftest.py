"""Shared test set-up: a hermetic environment, isolation from installed plugins and a small,
polite CPU thread pool.

Runs at import time, before any test module imports seqframe, torch or ``datasets`` (which
reads its offline switches when first imported), so the suite passes whatever the caller's
environment holds:

- every ``SEQFRAME_*`` variable of the caller is removed (``SEQFRAME_DISABLE_PLUGINS``,
  ``SEQFRAME_STRICT_PLUGINS``...), then ``SEQFRAME_DISABLE_PLUGIN_AUTOLOAD=1`` keeps entry
  points of the environment out of every test and ``SEQFRAME_CACHE_DIR`` points the
  tokenizer and tokenized-data caches at a fresh folder, so the suite never reads or fills
  the user's cache;
- Hugging Face switches (``HF_HUB_OFFLINE``, ``HF_DATASETS_OFFLINE``, endpoints, tokens) are
  removed and ``HF_HOME`` points at a fresh folder: tests that want offline mode or a cache
  set them for themselves;
- torchrun's variables (``RANK``, ``WORLD_SIZE``...) are removed: the suite is not a worker;
- the tests run in a fresh empty folder, so the caller's current directory (and anything
  named ``runs/`` or ``seqframe/`` in it) changes nothing and receives nothing.

``OMP_WAIT_POLICY=PASSIVE`` stops idle OpenMP threads from spinning, which makes tiny
tensor ops many times slower when other processes share the cores.
"""

from __future__ import annotations

import atexit
import gzip
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

HOSTILE = (
    "HF_HUB_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HF_ENDPOINT",
    "HF_TOKEN",
    "HF_HUB_CACHE",
    "HF_DATASETS_CACHE",
    "HF_HUB_DISABLE_PROGRESS_BARS",
    "HF_DATASETS_TRUST_REMOTE_CODE",
    "RANK",
    "WORLD_SIZE",
    "LOCAL_RANK",
    "LOCAL_WORLD_SIZE",
    "GROUP_RANK",
    "MASTER_ADDR",
    "MASTER_PORT",
    "TORCHELASTIC_RUN_ID",
    "CUBLAS_WORKSPACE_CONFIG",
    "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD",
)
"""Variables of the caller's environment that would change what the suite does."""

for _name in list(os.environ):
    if _name in HOSTILE or _name.startswith("SEQFRAME_"):
        del os.environ[_name]
_ROOT = tempfile.mkdtemp(prefix="seqframe-tests-")
atexit.register(shutil.rmtree, _ROOT, ignore_errors=True)
os.environ["SEQFRAME_DISABLE_PLUGIN_AUTOLOAD"] = "1"
os.environ["SEQFRAME_CACHE_DIR"] = os.path.join(_ROOT, "cache")
os.environ["HF_HOME"] = os.path.join(_ROOT, "huggingface")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # read when torch loads OpenMP

import pytest  # noqa: E402
import torch  # noqa: E402  (after the environment is set)

torch.set_num_threads(2)


@pytest.fixture(autouse=True, scope="session")
def _fresh_current_directory() -> Iterator[None]:
    """Every test starts in one fresh, empty folder (set after collection, which resolves
    the command line's paths against the caller's directory)."""
    start = os.getcwd()
    os.chdir(tempfile.mkdtemp(prefix="cwd-", dir=_ROOT))
    yield
    os.chdir(start)


WriteFile = Callable[..., Path]
"""``write(name, content="") -> Path``, the type of the :func:`write` fixture."""


@pytest.fixture
def write(tmp_path: Path) -> WriteFile:
    """``write(name, content)``: a file at ``tmp_path / name`` (or at ``name`` when absolute),
    its folders made, holding ``content``: text as UTF-8, bytes as given, gzip-compressed when
    the name ends in ``.gz``. Returns the file's path."""

    def _write(name: str | Path, content: str | bytes = "") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode("utf-8") if isinstance(content, str) else content
        path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
        return path

    return _write


TaskRegistry = Callable[[str, Callable[..., object]], object]
"""``task_registry(name, factory) -> Registry``, the type of the :func:`task_registry` fixture."""


@pytest.fixture
def task_registry() -> TaskRegistry:
    """``task_registry(name, factory)``: a registry of the built-ins without entry points plus one
    plugin whose ``seqframe_tasks`` hook registers ``factory`` as task ``name``."""
    import types

    from seqframe import hookimpl
    from seqframe.plugins import PluginInfo, load_plugin_manager
    from seqframe.registry import Registry

    def _registry(name: str, factory: Callable[..., object]) -> Registry:
        module = types.ModuleType(f"plugin_{name}")
        module.seqframe_tasks = hookimpl(lambda: {name: factory})  # type: ignore[attr-defined]
        pm = load_plugin_manager(entry_points=False)
        pm.add_plugin(module, PluginInfo(name, module.__name__, f"dist-{name}", "1.0"))
        return Registry.from_plugin_manager(pm)

    return _registry
