"""``fake_hub``: a stand-in for ``datasets.load_dataset`` serving small in-memory tables, so
the Hub sources are tested without the network."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import datasets
import pytest


@dataclass
class FakeHub:
    """Hub split name -> ``datasets.Dataset``; ``calls`` records every load's arguments."""

    tables: dict[str, datasets.Dataset] = field(default_factory=dict)
    calls: list[dict[str, Any]] = field(default_factory=list)

    def load_dataset(self, path: str, name: str | None = None, **options: Any) -> datasets.Dataset:
        self.calls.append({"path": path, "name": name, **options})
        split = options["split"]
        if split not in self.tables:
            raise ValueError(f'Unknown split "{split}". Should be one of {list(self.tables)}.')
        return self.tables[split]


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    """Replace ``datasets.load_dataset`` with a :class:`FakeHub`; fill its ``tables``."""
    hub = FakeHub()
    monkeypatch.setattr(datasets, "load_dataset", hub.load_dataset)
    return hub
