"""docs/python-api.md and examples: every Python block of the page runs, in order, in one
session (as a reader would paste them), in a fresh folder."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[1] / "docs" / "python-api.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), flags=re.S)


def test_the_page_has_examples_of_every_way_in() -> None:
    code = "\n".join(_blocks())
    for needle in (
        "seqframe.run(",
        "seqframe.assemble(",
        "seqframe.train(",
        "to_recipe()",
        "seqframe.load_run(",
        "training_step(",
        "pipeline.batches(",
        "seqframe.build_rnn(",
        "evaluate(",
    ):
        assert needle in code, needle


@pytest.mark.slow
def test_every_python_block_of_the_page_runs_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    session: dict[str, object] = {"__name__": "python_api_doc"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for index, code in enumerate(_blocks()):
            exec(compile(code, f"docs/python-api.md python block {index}", "exec"), session)
    assert (tmp_path / "runs" / "doc-assembled" / "recipe.yaml").is_file()
    assert (tmp_path / "runs" / "doc-own-loop" / "model.safetensors").is_file()
    assert not (tmp_path / "runs" / "doc-objects" / "recipe.yaml").exists()
