"""The options the file and Hub sources share, declared once as dataclass fields.

A source is a keyword-only dataclass that inherits :class:`SourceOptions` (through
:class:`~seqframe.builtin.data.local.options.LocalOptions` or
:class:`~seqframe.builtin.data.hub.options.HubOptions`) and adds fields of its own; its
generated ``__init__`` is the signature the recipe checks and documents, and the ``Args:``
descriptions below are inherited by every source (a source's own ``Args:`` win). A source
that takes none of an option redeclares the field with ``init=False``.

This module does not use postponed annotations: the field types must be objects, so that the
annotations of a subclass's generated ``__init__`` resolve in any module. Imports layer 0 only.
"""

from dataclasses import dataclass, field
from typing import Any

from seqframe.builtin.data.splits import ExamplePolicy

__all__ = ["SourceOptions", "UnseenLabelOptions", "check_choice"]


def check_choice(source: str, key: str, value: Any, choices: tuple[str, ...]) -> None:
    """Raise ValueError unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{source}: {key} must be {' or '.join(choices)}; got {value!r}")


@dataclass(kw_only=True, eq=False, repr=False)
class SourceOptions:
    """The split and example-policy options of every file and Hub source.

    After ``__post_init__`` the source base that follows the options in the class's MRO
    (:class:`~seqframe.builtin.data.splits.SplitSource` or
    :class:`~seqframe.builtin.data.sources.ExampleSource`) is initialised, and ``policy``
    holds the checked :class:`~seqframe.builtin.data.splits.ExamplePolicy`.

    Args:
        valid_fraction: share of the training examples drawn for validation when no
            validation data of its own is given.
        test_fraction: share drawn for test when no test data of its own is given.
        seed: the shuffle seed of the split.
        max_chars: longest example in characters, or null.
        on_overlength: ``truncate``, ``drop`` or ``error`` past ``max_chars``.
        on_empty: ``drop`` (counted) or ``error`` for blank or missing values.
    """

    name = "data"

    valid_fraction: float = 0.05
    test_fraction: float = 0.05
    seed: int = 0
    max_chars: int | None = None
    on_overlength: str = "truncate"
    on_empty: str = "drop"
    stats: dict[str, int] = field(init=False, default_factory=dict)  # reset by the source base

    def __post_init__(self) -> None:
        super().__init__()  # the source base after the options: its counters and split cache
        self.policy = self.make_policy()

    def policy_options(self) -> dict[str, Any]:
        """The keyword arguments of this source's :class:`ExamplePolicy`."""
        return {"max_chars": self.max_chars, "on_overlength": self.on_overlength, "on_empty": self.on_empty}

    def make_policy(self) -> ExamplePolicy:
        """The checked example policy; its ValueErrors name the source."""
        try:
            return ExamplePolicy(**self.policy_options())
        except ValueError as exc:
            raise ValueError(f"{self.name}: {exc}") from None


@dataclass(kw_only=True, eq=False, repr=False)
class UnseenLabelOptions(SourceOptions):
    """The option of the sources whose examples carry labels or tags the model predicts.

    Args:
        on_unseen_label: ``error`` (a label of valid/test never seen in train, listed with the
            row it first occurs on) or ``keep``.
    """

    on_unseen_label: str = "error"

    def __post_init__(self) -> None:
        check_choice(self.name, "on_unseen_label", self.on_unseen_label, ("error", "keep"))
        super().__post_init__()
