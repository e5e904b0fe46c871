"""The SEQFRAME_* switches are parsed in one place, alike for every reader."""

from __future__ import annotations

import pytest

from seqframe.environment import env_flag, env_names


@pytest.mark.parametrize("value", ["1", "true", "YES", " on "])
def test_a_flag_is_on_for_every_true_spelling(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("SEQFRAME_STRICT_PLUGINS", value)
    assert env_flag("SEQFRAME_STRICT_PLUGINS")


@pytest.mark.parametrize("value", ["0", "false", "", "maybe"])
def test_a_flag_is_off_otherwise(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("SEQFRAME_STRICT_PLUGINS", value)
    assert not env_flag("SEQFRAME_STRICT_PLUGINS")


def test_names_are_split_on_commas_and_stripped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEQFRAME_DISABLE_PLUGINS", " indrnn, ,other ")
    assert env_names("SEQFRAME_DISABLE_PLUGINS") == ["indrnn", "other"]


def test_the_version_has_one_home_that_needs_no_package_import() -> None:
    import importlib.metadata

    import seqframe
    from seqframe.version import __version__

    assert seqframe.__version__ == __version__ == importlib.metadata.version("seqframe")


def test_build_rnn_checks_cell_options_as_a_recipe_does() -> None:
    from seqframe import build_rnn
    from seqframe.errors import RecipeError

    with pytest.raises(
        RecipeError,
        match=r"cell\.nonlinearty: unknown parameter 'nonlinearty' for cell 'elman'; "
        r"did you mean 'nonlinearity'\?",
    ):
        build_rnn("elman", input_size=3, hidden_size=4, nonlinearty="relu")
    with pytest.raises(RecipeError, match=r"cell\.nonlinearity: "):
        build_rnn("elman", input_size=3, hidden_size=4, nonlinearity=3)
