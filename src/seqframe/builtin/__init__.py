"""Built-in components. They register through the same hooks as third-party plugins and
import only layers 0-0b (``seqframe.hookspecs``, ``seqframe.interfaces``, ``seqframe.rnn``)."""

BUILTIN_PLUGINS = (
    "seqframe.builtin.cells",
    "seqframe.builtin.topologies",
    "seqframe.builtin.heads",
    "seqframe.builtin.tokenizers",
    "seqframe.builtin.subword",
    "seqframe.builtin.datasets",
    "seqframe.builtin.tasks.language_modelling",
    "seqframe.builtin.tasks.classification",
    "seqframe.builtin.tasks.translation",
    "seqframe.builtin.tasks.tagging",
    "seqframe.builtin.tasks.one_to_many",
    "seqframe.builtin.loggers",
    "seqframe.builtin.tasks.sequence_regression",
    "seqframe.builtin.data.generated.long_memory",
)
"""Module paths registered as plugins named ``builtin.<last part>``."""
