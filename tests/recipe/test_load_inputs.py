"""Recipe files and overrides that are not plain text files: control characters, devices,
FIFOs, folders. Each is a RecipeError naming the file (and line and column), never a hang
or a YAML traceback."""

from __future__ import annotations

import contextlib
import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from seqframe.errors import RecipeError
from seqframe.recipe import load_recipe, parse_recipe

RECIPE = "task: {name: language_modelling}\ndata: {name: pydoc_topics}\n"


@contextlib.contextmanager
def no_hang(seconds: int = 10) -> Iterator[None]:
    """Fail (instead of waiting forever) when the block does not finish in time."""

    def expired(signum: int, frame: object) -> None:
        raise AssertionError(f"still running after {seconds} s: it hangs")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("char", ["\x01", "\x1b", "\x7f", "\ufffe"])
def test_control_character_in_a_comment_names_file_line_and_column(tmp_path: Path, char: str) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(RECIPE + f"# a note {char} here\n", encoding="utf-8")
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    assert str(info.value).startswith(f"{path}:3:10: character U+{ord(char):04X} is not allowed")


def test_control_character_in_a_value_of_parsed_text() -> None:
    with pytest.raises(RecipeError, match=r"<string>:2:19: character U\+0000"):
        parse_recipe(RECIPE.replace("pydoc_topics", "pydoc\x00topics"))


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("train.device=cp\x01u", "character U+0001 is not allowed in an override"),
        ("train.dev\x1bice=cpu", "character U+001B is not allowed in a key"),
        ("train.device=\udcff", "character U+DCFF is not allowed in an override"),  # undecodable argv byte
    ],
)
def test_control_character_in_an_override(tmp_path: Path, override: str, expected: str) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(RECIPE, encoding="utf-8")
    with pytest.raises(RecipeError, match=re.escape(expected)) as info:
        load_recipe(path, [override])
    assert "\x01" not in str(info.value) and "\x1b" not in str(info.value)  # shown escaped


@pytest.mark.parametrize(("path", "kind"), [("/dev/zero", "a character device"), ("/dev/null", "a character device")])
def test_a_device_is_not_read(path: str, kind: str) -> None:
    if not os.path.exists(path):
        pytest.skip(f"no {path} here")
    with no_hang(), pytest.raises(RecipeError, match=f"{path}: expected a recipe file, got {kind}"):
        load_recipe(path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "recipe.yaml"
    os.mkfifo(fifo)
    with no_hang(), pytest.raises(RecipeError, match="expected a recipe file, got a FIFO"):
        load_recipe(fifo)


def test_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match=f"{tmp_path}: "):
        load_recipe(tmp_path)
