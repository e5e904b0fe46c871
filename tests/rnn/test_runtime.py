"""The runtime keeps no module-level state: what it learns about a cell lives in the cell's
:class:`~seqframe.rnn.runtime.CellRuntime` (issue "A runtime without module-level state")."""

from __future__ import annotations

import collections
import copy
import importlib
import itertools
import pickle
import pkgutil
import weakref

import torch
from torch import Tensor, nn

import seqframe.rnn
from seqframe.builtin.cells import LSTMCell
from seqframe.interfaces import Cell, State
from seqframe.rnn import run_stack
from seqframe.rnn.hoist import describe_path, forget, hoist_plan
from seqframe.rnn.runtime import CellRuntime, runtime_of

F, H = 3, 4
MUTABLE = (
    list,
    dict,
    set,
    bytearray,
    collections.deque,
    weakref.WeakKeyDictionary,
    weakref.WeakValueDictionary,
    weakref.WeakSet,
    itertools.count,
)


class Elman(Cell):
    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        self.ih = nn.Linear(input_size, hidden_size)
        self.hh = nn.Linear(hidden_size, hidden_size)

    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        h = torch.tanh(self.ih(x_t) + self.hh(state[0]))
        return h, (h,)


def test_no_module_of_the_runtime_holds_mutable_state() -> None:
    found = []
    for info in pkgutil.iter_modules(seqframe.rnn.__path__, "seqframe.rnn."):
        module = importlib.import_module(info.name)
        found += [
            f"{info.name}.{name}"
            for name, value in vars(module).items()
            if not name.startswith("__") and isinstance(value, MUTABLE)
        ]
    assert found == []


def test_what_the_runtime_learns_lives_on_the_cell() -> None:
    cell, other = Elman(F, H), Elman(F, H)
    assert cell.rnn_runtime is None  # declared on Cell, empty until the cell first runs
    run_stack([[cell]], torch.randn(2, 4, F), [4, 2])
    runtime = cell.rnn_runtime
    assert isinstance(runtime, CellRuntime) and runtime_of(cell) is runtime
    assert runtime.plan is not None and runtime.plan[1] is hoist_plan(cell)
    assert runtime.layout == ((H, H), (H,))
    assert other.rnn_runtime is None  # nothing shared between cells
    assert "rnn_runtime" not in dict(cell.named_modules()) and "rnn_runtime" not in cell.state_dict()
    forget(cell)
    assert runtime.plan is None


def test_a_copy_of_a_cell_starts_with_an_empty_record() -> None:
    cell = Elman(F, H)
    plan = hoist_plan(cell)
    for clone in (copy.deepcopy(cell), pickle.loads(pickle.dumps(cell))):
        assert isinstance(clone.rnn_runtime, CellRuntime) and clone.rnn_runtime.plan is None
        fresh = hoist_plan(clone)
        assert fresh is not None and fresh is not plan  # traced again, on the copy's own modules
        x = torch.randn(2, 3, F)
        torch.testing.assert_close(run_stack([[clone]], x, [3, 1])[0], run_stack([[cell]], x, [3, 1])[0])


def test_built_in_cells_describe_their_path() -> None:
    assert "unpacked kernel span by span" in describe_path(LSTMCell(F, H))
