"""The options every HuggingFace Hub source shares, declared once: where the rows are (``path``,
``config``, ``split``, ``revision``), checked into a
:class:`~seqframe.builtin.data.hub.loader.HubLoader`, and the split and example options of
:class:`~seqframe.builtin.data.options.SourceOptions`.

No postponed annotations here, for the reason given in :mod:`seqframe.builtin.data.options`.
Imports layer 0 only.
"""

from dataclasses import dataclass, field

from seqframe.builtin.data.hub.loader import HubLoader
from seqframe.builtin.data.options import SourceOptions

__all__ = ["HubLocation", "HubOptions"]


@dataclass(kw_only=True, eq=False, repr=False, init=False)  # fields only; no __init__ in the MRO
class HubLocation:
    """Where a Hub source's rows are (first in its signature).

    Args:
        path: the Hub id, e.g. ``Salesforce/wikitext``.
        config: the dataset's configuration (subset) name, e.g. ``wikitext-2-raw-v1``.
        split: one Hub split (``train``, or a slice such as ``train[:10%]``) cut into
            train/valid/test by ``seed`` and the fractions, or a mapping such as
            ``{train: train, valid: validation, test: test}`` (``train`` required).
        revision: a branch, tag or commit of the dataset repository (pin it for reproducibility).
    """

    path: str = field(kw_only=False)
    config: str | None = None
    split: str | dict[str, str] = "train"
    revision: str | None = None


@dataclass(kw_only=True, eq=False, repr=False)
class HubOptions(SourceOptions, HubLocation):
    """Options of every Hub source. After ``__post_init__``, ``loader`` loads its rows.

    Dataset loading scripts are never enabled (no ``trust_remote_code``), and only Hub ids
    are accepted; offline, a dataset missing from the cache fails at once saying how to
    cache it.

    Args:
        valid_fraction: share drawn for validation when ``split`` is one split.
        test_fraction: share drawn for test when ``split`` is one split.
        seed: the shuffle seed of that split.
    """

    def __post_init__(self) -> None:
        self.loader = HubLoader.from_options(
            self.name, self.path, self.config, self.split, self.revision, self.valid_fraction, self.test_fraction
        )
        super().__post_init__()
