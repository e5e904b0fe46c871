"""Fixtures of the run-directory tests: a tiny recipe and a finished run of it, a tree
fingerprint, the training rows of a run, and a private mount namespace (for a read-only
folder or a small tmpfs that go away with the process)."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

CORPUS = (
    "It was the best of times, it was the worst of times,\nit was the age of wisdom, it was the age of foolishness.\n"
) * 7
RECIPE = """\
task: {name: language_modelling, seq_len: 8}
data: {name: text_files, paths: [corpus.txt], valid_fraction: 0.1, test_fraction: 0.1}
tokenizer: {name: char}
model:
  embedding_dim: 8
  topology: {name: stacked, cell: gru, hidden_size: 12, num_layers: 1}
  head: {name: linear}
train:
  steps: 8
  batch_size: 4
  seed: 3
  optimizer: {name: adam, lr: 0.01}
  eval_every: 4
  log_every: 1
  checkpoint: {every: 4, keep_last: 2}
  sample: {max_tokens: 5}
  device: cpu
"""


def _make_recipe(folder: Path) -> Path:
    """``tiny.yaml`` and its ``corpus.txt`` in ``folder``."""
    (folder / "corpus.txt").write_text(CORPUS)
    (folder / "tiny.yaml").write_text(RECIPE)
    return folder / "tiny.yaml"


def _tree(root: Path) -> dict[str, str]:
    """Every entry under ``root``: the sha256 of a file's bytes, a link's target, or 'folder'."""
    out = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if path.is_symlink():
            out[key] = "link:" + os.readlink(path)
        elif path.is_file():
            out[key] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            out[key] = "folder"
    return out


def _train_rows(run: Path) -> list[tuple[int, float]]:
    """``(step, loss)`` of the training rows of ``metrics.jsonl``."""
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["loss"]) for r in rows if r["split"] == "train"]


def _env() -> dict[str, str]:
    """The environment of a ``python -m seqframe`` child (as the suite's own)."""
    return {**os.environ, "SEQFRAME_DISABLE_PLUGIN_AUTOLOAD": "1", "OMP_NUM_THREADS": "2"}


@functools.lru_cache(maxsize=1)
def _can_mount() -> bool:
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    with tempfile.TemporaryDirectory() as folder:
        probe = subprocess.run(
            [unshare, "-rm", "sh", "-c", 'mount -t tmpfs -o size=64k tmpfs "$1"', "sh", folder],
            capture_output=True,
            timeout=30,
        )
    return probe.returncode == 0


def _in_private_mounts(script: str, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run the shell ``script`` (``$1``... are ``args``; ``$PY`` is this Python) in a new
    user and mount namespace, where it may mount a tmpfs or remount a folder read-only:
    such mounts vanish with it. Skips the test where namespaces are not allowed."""
    if not _can_mount():
        pytest.skip("needs `unshare -rm` (user and mount namespaces) to mount a tmpfs or a read-only folder")
    return subprocess.run(
        ["unshare", "-rm", "sh", "-c", script, "sh", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**_env(), "PY": sys.executable},
    )


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    """``tiny.yaml`` (8 steps, a checkpoint every 4) and its ``corpus.txt`` in ``tmp_path``."""
    return _make_recipe(tmp_path)


@pytest.fixture
def finished(recipe: Path, tmp_path: Path) -> Path:
    """A finished 4-step run of ``recipe`` in ``tmp_path / "r"``."""
    import seqframe

    seqframe.run(recipe, ["train.steps=4"], out_dir=tmp_path / "r", progress=False)
    return tmp_path / "r"


@pytest.fixture
def tree() -> Callable[[Path], dict[str, str]]:
    """Fingerprint of a folder: every entry with the sha256 of a file, a link's target, or 'folder'."""
    return _tree


@pytest.fixture
def train_rows() -> Callable[[Path], list[tuple[int, float]]]:
    """``(step, loss)`` of the training rows of a run's ``metrics.jsonl``."""
    return _train_rows


@pytest.fixture
def child_env() -> dict[str, str]:
    """The environment of a ``python -m seqframe`` child process."""
    return _env()


@pytest.fixture
def private_mounts() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Runs a shell script in its own user and mount namespace (see ``_in_private_mounts``)."""
    return _in_private_mounts
