"""The options the file and Hub sources share are declared once (dataclass fields of
``seqframe.builtin.data.options`` and its local/Hub kin) and still reach the recipe: each
source's signature, the types the recipe checks, and the descriptions it documents."""

from __future__ import annotations

import pytest

from seqframe.plugins import load_plugin_manager
from seqframe.recipe.reference import docstring_args
from seqframe.recipe.schema import annotation_types, component_parameters
from seqframe.registry import Registry

_REGISTRY = Registry.from_plugin_manager(load_plugin_manager(entry_points=False))
SOURCES = {component.name: component.factory for component in _REGISTRY.components("dataset")}
SHARED = ("valid_fraction", "test_fraction", "seed", "max_chars", "on_overlength")


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_every_option_has_a_checkable_type_and_a_description(name: str) -> None:
    # an inherited field whose annotation does not resolve in the source's module would make
    # annotation_types None, and the recipe would silently stop type-checking that key
    factory = SOURCES[name]
    params = component_parameters(factory, "dataset")
    assert params
    docs = docstring_args(factory)
    for key in params:
        assert annotation_types(factory, key) is not None, (name, key)
        assert docs.get(key), (name, key)


@pytest.mark.parametrize(
    "name",
    [
        "text_files",
        "table_files",
        "labelled_files",
        "tagged_files",
        "parallel_files",
        "huggingface",
        "huggingface_labelled",
        "huggingface_parallel",
        "huggingface_tagged",
    ],
)
def test_file_and_hub_sources_share_one_declaration_of_the_split_and_length_options(name: str) -> None:
    params = component_parameters(SOURCES[name], "dataset")
    assert params is not None
    assert {key: params[key].default for key in SHARED} == {
        "valid_fraction": 0.05,
        "test_fraction": 0.05,
        "seed": 0,
        "max_chars": None,
        "on_overlength": "truncate",
    }
    assert annotation_types(SOURCES[name], "valid_fraction") == (int, float)
    assert annotation_types(SOURCES[name], "max_chars") == (int, type(None))


def test_parallel_sources_take_no_on_empty_option() -> None:
    # a pair with an empty side is always dropped and counted; the shared field is not a recipe key
    for name in ("parallel_files", "huggingface_parallel"):
        params = component_parameters(SOURCES[name], "dataset")
        assert params is not None and "on_empty" not in params
