"""Conformance kits for plugin authors, to run from their own tests.

``check_cell`` (and one ``check_*`` per property) verifies a recurrent cell against the
contract the runtime relies on, raising :class:`AssertionError` at the first violation;
``cell_report`` runs the same checks and returns one :class:`CheckResult` per check, as
``seqframe plugins check`` prints them. ``check_task`` (``run_task_checks`` for the records)
does the same for a task, ``check_tokenizer`` and ``check_data_source`` for tokenizers and
data sources. Facade layer: imports the runtime and built-ins.

Example:
    >>> from seqframe.testing import check_cell
    >>> def test_my_cell_conforms():
    ...     check_cell(MyCell, options={"alpha": 0.5})
"""

from __future__ import annotations

from seqframe.testing.cells import (
    cell_report,
    check_bidirectional_alignment,
    check_cell,
    check_construction,
    check_device_dtype,
    check_finite_outputs,
    check_gradient_flow,
    check_input_projection,
    check_padding_invariance,
    check_shapes_and_state,
    check_state_carry,
    check_state_dict_round_trip,
    describe_time_loop,
    iter_cell_checks,
    preflight_cell,
)
from seqframe.testing.components import (
    DATA_CHECKS,
    TOKENIZER_CHECKS,
    check_data_source,
    check_tokenizer,
    run_data_checks,
    run_tokenizer_checks,
)
from seqframe.testing.report import CheckReport, CheckResult, SkipCheck, raise_failures, run_check
from seqframe.testing.tasks import TASK_CHECKS, check_task, run_task_checks

__all__ = [
    "DATA_CHECKS",
    "TASK_CHECKS",
    "TOKENIZER_CHECKS",
    "CheckReport",
    "CheckResult",
    "SkipCheck",
    "cell_report",
    "check_bidirectional_alignment",
    "check_cell",
    "check_construction",
    "check_data_source",
    "check_device_dtype",
    "check_finite_outputs",
    "check_gradient_flow",
    "check_input_projection",
    "check_padding_invariance",
    "check_shapes_and_state",
    "check_state_carry",
    "check_state_dict_round_trip",
    "check_task",
    "check_tokenizer",
    "describe_time_loop",
    "iter_cell_checks",
    "preflight_cell",
    "raise_failures",
    "run_check",
    "run_data_checks",
    "run_task_checks",
    "run_tokenizer_checks",
]
