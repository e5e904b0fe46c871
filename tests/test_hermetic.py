"""The suite passes whatever the caller's environment holds: a sample of it runs in a
subprocess with Hugging Face offline switches, hostile ``SEQFRAME_*`` variables, torchrun's
variables and a current directory full of traps, and passes without touching any of it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
SAMPLE = [
    "builtin/data/hub/test_text.py",  # failed under HF_*_OFFLINE=1 before conftest cleared them
    "builtin/data/hub/test_examples.py",
    "test_plugins.py",  # reads SEQFRAME_DISABLE_PLUGINS / SEQFRAME_STRICT_PLUGINS
    "test_registry.py",
    "recipe/test_validate.py",  # needs the built-in cells a hostile SEQFRAME_DISABLE_PLUGINS blocks
    "test_cache.py",
]


@pytest.mark.slow
def test_a_sample_of_the_suite_passes_in_a_hostile_environment(tmp_path: Path) -> None:
    cwd = tmp_path / "elsewhere"
    (cwd / "seqframe").mkdir(parents=True)  # a folder that could shadow the package
    (cwd / "runs").mkdir()
    user_cache, user_hf = tmp_path / "user-cache", tmp_path / "user-hf"
    env = {
        **os.environ,
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(user_hf),
        "HF_ENDPOINT": "http://127.0.0.1:9",
        "SEQFRAME_DISABLE_PLUGINS": "builtin.cells,builtin.topologies",
        "SEQFRAME_STRICT_PLUGINS": "1",
        "SEQFRAME_TRACE_PLUGINS": "1",
        "SEQFRAME_CACHE_DIR": str(user_cache),
        "SEQFRAME_COMPILE_BACKEND": "nonsense",
        "RANK": "1",
        "WORLD_SIZE": "2",
        "LOCAL_RANK": "1",
    }
    env.pop("SEQFRAME_DISABLE_PLUGIN_AUTOLOAD", None)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", *(str(TESTS / path) for path in SAMPLE)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert sorted(p.name for p in cwd.iterdir()) == ["runs", "seqframe"] and not any((cwd / "runs").iterdir())
    assert not user_cache.exists() and not user_hf.exists()  # the caller's caches are never read or filled
