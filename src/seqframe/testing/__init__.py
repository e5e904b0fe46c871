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

# The package exports exactly what each module declares public in its __all__.
from seqframe.testing import cells, components, report, tasks
from seqframe.testing.cells import *  # noqa: F403
from seqframe.testing.components import *  # noqa: F403
from seqframe.testing.report import *  # noqa: F403
from seqframe.testing.tasks import *  # noqa: F403

__all__ = report.__all__ + cells.__all__ + tasks.__all__ + components.__all__
