"""A cell package written outside this repository, against the documented contract only, is
discovered through its installed entry point and passes the conformance checks.

The package is "installed" the way pip leaves it on disk: a module plus a ``.dist-info``
folder with ``METADATA`` and ``entry_points.txt`` on ``sys.path`` (no pip in tests).
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
import torch

import seqframe
from seqframe.plugins import load_plugin_manager
from seqframe.registry import Registry
from seqframe.testing import check_bidirectional_alignment, check_padding_invariance

CELL_MODULE = '''
"""A leaky tanh cell, written only against seqframe's documented contract."""
import torch
from torch import nn
import seqframe


class LeakyCell(seqframe.Cell):
    """Leaky Elman cell: h' = (1 - a) h + a tanh(W x + U h + b)."""

    def __init__(self, input_size, hidden_size, leak=0.5):
        super().__init__(input_size, hidden_size)
        self.inp = nn.Linear(input_size, hidden_size)
        self.rec = nn.Linear(hidden_size, hidden_size, bias=False)
        self.leak = leak

    def forward(self, x_t, state):
        (h,) = state
        h = (1 - self.leak) * h + self.leak * torch.tanh(self.inp(x_t) + self.rec(h))
        return h, (h,)


@seqframe.hookimpl
def seqframe_cells():
    return {"leaky": LeakyCell}
'''


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Registry:
    (tmp_path / "seqframe_leaky.py").write_text(CELL_MODULE)
    info = tmp_path / "seqframe_leaky-0.3.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: seqframe-leaky\nVersion: 0.3.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent("""
        [seqframe]
        leaky = seqframe_leaky
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("SEQFRAME_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delitem(sys.modules, "seqframe_leaky", raising=False)
    return Registry.from_plugin_manager(load_plugin_manager())


def test_external_cell_is_discovered_with_its_distribution(installed: Registry) -> None:
    component = installed.get("cell", "leaky")
    assert (component.plugin, component.distribution, component.version) == ("leaky", "seqframe-leaky", "0.3.0")
    assert component.summary.startswith("Leaky Elman cell")


def test_external_cell_runs_through_build_rnn(installed: Registry) -> None:
    rnn = seqframe.build_rnn("leaky", input_size=3, hidden_size=4, num_layers=2, bidirectional=True,
                             registry=installed, leak=0.3)
    out, (h,) = rnn(torch.randn(2, 6, 3), lengths=[6, 2])
    assert out.shape == (2, 6, 8) and h.shape == (4, 2, 4)
    assert torch.all(out[1, 2:] == 0)


def test_external_cell_passes_padding_and_direction_checks(installed: Registry) -> None:
    factory = installed.get("cell", "leaky").factory
    check_padding_invariance(factory)
    check_bidirectional_alignment(factory)
