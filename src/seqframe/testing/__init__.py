"""Conformance kits for plugin authors, to run from their own tests.

``check_cell`` (and one ``check_*`` per property) verifies a recurrent cell against the
contract the runtime relies on; ``check_task`` (``run_task_checks`` for the results one by
one, as :class:`CheckResult` records) does the same for a task, ``check_tokenizer`` and
``check_data_source`` for tokenizers and data sources. Facade layer: imports the runtime and
built-ins.

Example:
    >>> from seqframe.testing import check_cell
    >>> def test_my_cell_conforms():
    ...     check_cell(MyCell, options={"alpha": 0.5})
"""

from __future__ import annotations

from seqframe.testing.cells import (
    check_bidirectional_alignment,
    check_cell,
    check_device_dtype,
    check_gradient_flow,
    check_input_projection,
    check_padding_invariance,
    check_shapes_and_state,
    check_state_dict_round_trip,
    describe_time_loop,
)
from seqframe.testing.components import (
    DATA_CHECKS,
    TOKENIZER_CHECKS,
    check_data_source,
    check_tokenizer,
    run_data_checks,
    run_tokenizer_checks,
)
from seqframe.testing.report import CheckResult
from seqframe.testing.tasks import TASK_CHECKS, check_task, run_task_checks

__all__ = [
    "DATA_CHECKS", "TASK_CHECKS", "TOKENIZER_CHECKS", "CheckResult", "check_data_source", "check_task",
    "check_tokenizer", "run_data_checks", "run_task_checks", "run_tokenizer_checks",
    "check_bidirectional_alignment", "check_cell", "check_device_dtype", "check_gradient_flow",
    "check_input_projection", "check_padding_invariance", "check_shapes_and_state",
    "check_state_dict_round_trip", "describe_time_loop",
]
