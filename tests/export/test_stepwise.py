"""Recurrent topologies a step at a time (seqframe.interfaces.stepwise): the time loop over
the exported layer steps computes what the topology computes, for every cell kind and state
layout, one or two directions, padded batches; and every built-in task's exported stand-in,
run on its plan's eager graphs, answers as the torch model does (no export involved: these
are the fast checks of the decomposition itself)."""

from __future__ import annotations

import pytest
import torch
from export_support import NATURAL

from seqframe.builtin.cells import ElmanCell, GRUCell, LSTMCell
from seqframe.builtin.topologies import StackedTopology
from seqframe.engine.graphs import PlanRunner
from seqframe.errors import ExportError
from seqframe.interfaces.stepwise import StackStep, reverse_index, run_topology, topology_graphs
from seqframe_indrnn import IndRNNCell

CELLS = {
    "lstm": LSTMCell,
    "gru": GRUCell,
    "elman": ElmanCell,
    "indrnn": IndRNNCell,
    "projected": NATURAL.ProjectedCell,
    "five_state": NATURAL.FiveStateCell,
}


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("name", CELLS)
def test_layer_steps_over_a_padded_batch_equal_the_topology(name: str, bidirectional: bool) -> None:
    torch.manual_seed(0)
    topology = StackedTopology(CELLS[name], 5, 6, num_layers=2, bidirectional=bidirectional).eval()
    plan = topology_graphs("enc", topology)
    runner = PlanRunner(plan)
    x, lengths = torch.randn(4, 7, 5), torch.tensor([7, 3, 1, 5])
    state = tuple(torch.randn_like(s) for s in topology(x[:, :1])[1])
    with torch.no_grad():
        expected, expected_state = topology(x, lengths, state)
    outputs, final = run_topology(runner.run, "enc", plan.meta["enc"], x, lengths, state)
    torch.testing.assert_close(outputs, expected, atol=1e-6, rtol=1e-5)
    assert len(final) == len(expected_state)
    for got, want in zip(final, expected_state):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)
    assert bool((outputs[1, 3:] == 0).all()) and bool((outputs[2, 1:] == 0).all())  # zero past each length


def test_mixed_state_widths_are_recorded_in_the_meta() -> None:
    topology = StackedTopology(NATURAL.ProjectedCell, 5, 8, num_layers=2, bidirectional=True)
    meta = topology_graphs("enc", topology).meta["enc"]
    assert meta == {"layers": 2, "directions": 2, "state_widths": [4, 8], "input_size": 5, "output_size": 8}


def test_reverse_index_reverses_each_row_within_its_length_and_is_its_own_inverse() -> None:
    index = reverse_index(torch.tensor([3, 1, 4]), 4)
    assert index.tolist() == [[2, 1, 0, 3], [0, 1, 2, 3], [3, 2, 1, 0]]
    assert torch.equal(index.gather(1, index), torch.arange(4).expand(3, 4))


def test_a_stack_step_equals_one_step_of_the_topology() -> None:
    torch.manual_seed(1)
    topology = StackedTopology(NATURAL.ProjectedCell, 3, 6, num_layers=3).eval()
    x = torch.randn(2, 1, 3)
    state = tuple(torch.randn_like(s) for s in topology(x)[1])
    with torch.no_grad():
        expected, expected_state = topology(x, None, state)
        h, *new = StackStep(topology)(x[:, 0], *state)
    torch.testing.assert_close(h, expected[:, 0])
    for got, want in zip(new, expected_state):
        torch.testing.assert_close(got, want)


def test_a_topology_without_cells_cannot_be_stepped_and_says_so() -> None:
    class Opaque(torch.nn.Module):
        output_size = 4

        def forward(self, x, lengths=None, state=None):
            return x, ()

    with pytest.raises(ExportError, match="does not expose its cells"):
        topology_graphs("enc", Opaque())
    with pytest.raises(ExportError, match="only a unidirectional topology"):
        StackStep(StackedTopology(LSTMCell, 3, 4, bidirectional=True))
