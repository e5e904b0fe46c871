"""The contracts every component honours: the :class:`Cell` base class and the protocols of
topologies, heads, tokenizers, data sources (text, example and feature sources) and the
:class:`Task` base class, the export contract, training callbacks and experiment loggers.
Imports only torch and the stdlib.

Shape letters used throughout seqframe: ``B`` batch, ``T`` time, ``F`` input features,
``H`` hidden size, ``D`` directions (1 or 2), ``L`` layers, ``V`` vocabulary size.
Tensors are batch-first: ``(B, T, F)``.
"""

from __future__ import annotations

from seqframe.interfaces.arguments import MAX_TOKENS, Device, EvalSettings, ModelParts
from seqframe.interfaces.callback import Callback, Logger
from seqframe.interfaces.cell import (
    Cell,
    CellContractError,
    CellError,
    CellFactory,
    State,
    overrides_input_projection,
    state_layout,
)
from seqframe.interfaces.components import (
    BatchTokenizer,
    CellStack,
    Directional,
    Head,
    PrefittedTokenizer,
    Tokenizer,
    Tokenizers,
    Topology,
    directions_of,
)
from seqframe.interfaces.data import (
    SPLITS,
    DataSource,
    ExampleSource,
    FeatureSource,
    SequenceSource,
    TargetSource,
    TextSource,
)
from seqframe.interfaces.export import ExportedModel, ExportPlan, Graph, GraphRunner, StepwiseTopology
from seqframe.interfaces.overrides import task_signature_problems
from seqframe.interfaces.task import Batches, Encoded, Task, check_batches, is_task_class

__all__ = [
    "MAX_TOKENS",
    "SPLITS",
    "BatchTokenizer",
    "Batches",
    "Callback",
    "Cell",
    "CellContractError",
    "CellError",
    "CellFactory",
    "CellStack",
    "DataSource",
    "Device",
    "Directional",
    "Encoded",
    "EvalSettings",
    "ExampleSource",
    "ExportPlan",
    "ExportedModel",
    "FeatureSource",
    "Graph",
    "GraphRunner",
    "Head",
    "Logger",
    "ModelParts",
    "PrefittedTokenizer",
    "SequenceSource",
    "State",
    "StepwiseTopology",
    "TargetSource",
    "Task",
    "TextSource",
    "Tokenizer",
    "Tokenizers",
    "Topology",
    "check_batches",
    "directions_of",
    "is_task_class",
    "overrides_input_projection",
    "state_layout",
    "task_signature_problems",
]
