"""seqframe-indrnn: the ``indrnn`` (IndRNN) and ``mgu`` (minimal gated unit) cells.

seqframe finds them through the ``seqframe`` entry point ``indrnn``, which names
:mod:`seqframe_indrnn.plugin`; nothing here needs importing by hand.
"""

from __future__ import annotations

from seqframe_indrnn.plugin import IndRNNCell, MGUCell

__all__ = ["IndRNNCell", "MGUCell"]
__version__ = "0.1.0"
