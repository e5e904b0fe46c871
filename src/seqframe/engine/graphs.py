"""Exported graphs as bytes and back: ONNX (torch's ``torch.export``-based exporter, run by
onnxruntime) and TorchScript (``torch.jit.trace``, run by torch's TorchScript interpreter),
and the :class:`GraphSet` that runs them by name for a task's exported stand-in.

:func:`export_graph` turns one :class:`~seqframe.interfaces.Graph` into a file's bytes;
:func:`check_graph` runs those bytes on inputs of another batch size and compares them with
the eager module (what catches a size or a branch frozen into the graph). Nothing here
knows run directories or plugins. Imports layer 0 only.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from seqframe.interfaces.export import ExportPlan, Graph

__all__ = ["FORMATS", "GraphSet", "PlanRunner", "check_graph", "export_graph", "load_graph"]

FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}
"""Export formats and the suffix of their graph files."""

OPSET = 18


class _Positional(nn.Module):
    """``module(*inputs)`` with outputs always a tuple (what both exporters expect)."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, *inputs: Tensor) -> tuple[Tensor, ...]:
        out = self.module(*inputs)
        return tuple(out) if isinstance(out, (tuple, list)) else (out,)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporters' deprecation notices and progress logs."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _dynamic_shapes(graph: Graph) -> dict[str, tuple[dict[int, Any] | None, ...]]:
    dims: dict[str, Any] = {}
    specs = []
    for name in graph.inputs:
        axes = graph.dynamic.get(name, {})
        specs.append({axis: dims.setdefault(sym, torch.export.Dim(sym, min=1)) for axis, sym in axes.items()} or None)
    return {"inputs": tuple(specs)}


def export_graph(graph: Graph, fmt: str) -> bytes:
    """The bytes of ``graph`` exported as ``fmt`` (``onnx`` or ``torchscript``).

    Raises:
        Exception: whatever the exporter raises (the caller names the graph and its cells).
    """
    module = _Positional(graph.module).eval()
    inputs = tuple(graph.inputs.values())
    with torch.no_grad(), _quiet():
        if fmt == "onnx":
            program = torch.onnx.export(
                module,
                inputs,
                input_names=list(graph.inputs),
                output_names=list(graph.outputs),
                dynamic_shapes=_dynamic_shapes(graph),
                dynamo=True,
                opset_version=OPSET,
                verbose=False,
            )
            assert program is not None
            return bytes(program.model_proto.SerializeToString())
        traced = torch.jit.trace(module, inputs, check_trace=False)
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer)
        return buffer.getvalue()


class _Onnx:
    """One onnxruntime session; inputs fed by name, outputs as CPU tensors."""

    def __init__(self, data: bytes, names: Sequence[str], device: torch.device) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = max(1, torch.get_num_threads())
        providers = ["CPUExecutionProvider"]
        if device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        self.session = ort.InferenceSession(data, options, providers=providers)
        self.names = list(names)
        self.accepted = {i.name for i in self.session.get_inputs()}  # an unused input may be dropped

    def __call__(self, *inputs: Tensor) -> tuple[Tensor, ...]:
        feed = {
            name: t.detach().cpu().contiguous().numpy() for name, t in zip(self.names, inputs) if name in self.accepted
        }
        return tuple(torch.from_numpy(out) for out in self.session.run(None, feed))


class _Script:
    """One TorchScript module on ``device``."""

    def __init__(self, data: bytes, device: torch.device) -> None:
        with _quiet():  # torch.jit's deprecation notice, once per graph
            self.module = torch.jit.load(io.BytesIO(data), map_location=device)
        self.device = device

    def __call__(self, *inputs: Tensor) -> tuple[Tensor, ...]:
        with torch.no_grad():
            return tuple(self.module(*(t.to(self.device) for t in inputs)))


def load_graph(
    data: bytes, fmt: str, names: Sequence[str], device: torch.device | str = "cpu"
) -> Callable[..., tuple[Tensor, ...]]:
    """A callable running exported bytes: ``fn(*inputs) -> outputs``.

    Args:
        data: what :func:`export_graph` returned.
        fmt: ``onnx`` or ``torchscript``.
        names: the graph's input names, in order.
        device: where to run (onnxruntime uses CUDA when asked and available).
    """
    device = torch.device(device)
    return _Onnx(data, names, device) if fmt == "onnx" else _Script(data, device)


class GraphSet:
    """Exported graphs run by name: the :class:`~seqframe.interfaces.GraphRunner` a task's
    ``exported_model`` receives.

    Attributes:
        meta: the plan's meta as saved.
        device: where outputs are (CPU for onnxruntime).
        calls: how many graph calls were made (for benchmarks).
    """

    def __init__(
        self,
        graphs: Mapping[str, Callable[..., tuple[Tensor, ...]]],
        meta: Mapping[str, Any],
        device: torch.device | str = "cpu",
    ) -> None:
        self._graphs, self.meta, self.device, self.calls = dict(graphs), meta, torch.device(device), 0

    def run(self, name: str, *inputs: Tensor) -> tuple[Tensor, ...]:
        """The outputs of graph ``name`` on ``inputs`` (in the graph's input order)."""
        self.calls += 1
        return self._graphs[name](*inputs)


class PlanRunner(GraphSet):
    """The graphs of an :class:`ExportPlan` run eagerly, without exporting them (what the
    exported files compute, for tests and for checking a plan)."""

    def __init__(self, plan: ExportPlan) -> None:
        def eager(module: nn.Module) -> Callable[..., tuple[Tensor, ...]]:
            positional = _Positional(module).eval()

            def call(*inputs: Tensor) -> tuple[Tensor, ...]:
                with torch.no_grad():
                    return positional(*inputs)

            return call

        super().__init__({name: eager(g.module) for name, g in plan.graphs.items()}, plan.meta)


def _resized(graph: Graph, batch: int) -> list[Tensor]:
    """The example inputs with every ``B`` axis grown to ``batch`` rows, floats perturbed."""
    generator = torch.Generator().manual_seed(7)
    out = []
    for name, value in graph.inputs.items():
        for axis, sym in graph.dynamic.get(name, {}).items():
            if sym == "B":
                index = torch.arange(batch) % value.shape[axis]
                value = value.index_select(axis, index.to(value.device))
        if value.is_floating_point():
            value = value + 0.1 * torch.randn(value.shape, generator=generator).to(value)
        out.append(value)
    return out


def check_graph(
    graph: Graph, run: Callable[..., tuple[Tensor, ...]], *, batch: int = 3, tolerance: float = 1e-4
) -> str | None:
    """Compare an exported graph with its eager module on inputs of another batch size.

    Returns:
        None when every output agrees within ``tolerance`` (absolute, scaled by the
        output's magnitude above 1), else what differs.
    """
    inputs = _resized(graph, batch)
    with torch.no_grad():
        expected = _Positional(graph.module).eval()(*inputs)
    got = run(*inputs)
    if len(got) != len(expected):
        return f"it returns {len(got)} outputs, the model {len(expected)}"
    for name, a, b in zip(graph.outputs, got, expected):
        if tuple(a.shape) != tuple(b.shape):
            return f"output {name!r} has shape {tuple(a.shape)}, the model's {tuple(b.shape)}"
        if a.dtype == torch.bool or not a.is_floating_point():
            if not torch.equal(a.cpu(), b.cpu()):
                return f"output {name!r} differs from the model's"
            continue
        diff = float((a.cpu().float() - b.cpu().float()).abs().max()) if a.numel() else 0.0
        if diff > tolerance * max(1.0, float(b.abs().max()) if b.numel() else 1.0):
            return f"output {name!r} differs from the model's by up to {diff:.3g}"
    return None
