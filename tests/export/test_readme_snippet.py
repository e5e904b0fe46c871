"""The README's standalone snippet (onnxruntime and the tokenizer file, no seqframe import)
runs on a fresh export and prints exactly what ``seqframe predict --temperature 0`` prints."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import seqframe

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
SNIPPETS = re.findall(r"```py\n(.*?)```", README, flags=re.S)
BLOCK_SEQFRAME = "import sys; sys.modules['seqframe'] = None\n"  # any import of seqframe fails


def test_the_readme_has_one_standalone_snippet_that_never_imports_seqframe() -> None:
    assert len(SNIPPETS) == 1 and "seqframe" not in SNIPPETS[0].replace("runs/lm", "")


@pytest.mark.slow
def test_the_standalone_snippet_greedily_continues_as_seqframe_predict(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "lm"
    seqframe.run(
        "lm",
        [
            "model.topology.hidden_size=16",
            "model.embedding_dim=8",
            "task.seq_len=16",
            "train.batch_size=4",
            "train.steps=30",
            "train.eval_every=0",
            "train.sample=null",
        ],
        out_dir=run,
        progress=False,
    )
    seqframe.api.export(run, "onnx")
    expected = "The " + seqframe.predict(seqframe.load_run(run), ["The "], temperature=0, max_tokens=100)[0]
    done = subprocess.run(
        [sys.executable, "-c", BLOCK_SEQFRAME + SNIPPETS[0]], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == expected + "\n"
