"""``seqframe export``: a finished run's model as ONNX or TorchScript graphs, for use without
the training code.

The task's :meth:`~seqframe.Task.export_plan` names the graphs (recurrent topologies a step
at a time, the state as explicit inputs and outputs); each is exported, then run on inputs
of another batch size and compared with the torch model (within 1e-4), and written with
``export.json``: the format, the task and its components, the weights it came from, each
graph's file, inputs, outputs and sha256, and the plan's meta. The tokenizers are copied
beside them as their own files (``tokenizer.json``; a sentencepiece tokenizer also as its
``.model``), so the folder is all a runtime needs.

Where it is written: by default ``RUN_DIR/export/<format>/``, as a writer of the run
directory (it takes the run's writer lock, so it waits for no training run and refuses one
in progress, and lists the ``export`` folder in ``manifest.json``, so ``--overwrite`` removes
it and readers verify its files); or into any folder outside the run (``out``), which must be
empty or an earlier export. Facade layer.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from seqframe import files
from seqframe.api.inference import load_run
from seqframe.api.preflight import provider
from seqframe.engine.graphs import FORMATS, check_graph, export_graph, load_graph
from seqframe.engine.rundir import RunDir, io_message
from seqframe.errors import ExportError
from seqframe.interfaces import Graph
from seqframe.pipeline import Pipeline
from seqframe.registry import Registry
from seqframe.rnn.attribution import where_raised
from seqframe.runs import versions

__all__ = ["EXPORT_FILE", "default_export_dir", "export", "export_plan"]

EXPORT_FILE = "export.json"
EXPORT_FORMAT = 1
_VOCABULARIES = ("tokenizer.json", "target_tokenizer.json", "task.json")


def default_export_dir(run_dir: str | os.PathLike[str], fmt: str) -> Path:
    """``RUN_DIR/export/<format>``."""
    return Path(run_dir) / "export" / fmt


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ExportError(f"export: unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def export_plan(pipeline: Pipeline) -> Any:
    """The task's export plan, an error naming the task's plugin when it has none."""
    task = pipeline.components.get("task")
    try:
        return pipeline.task.export_plan(pipeline.model)
    except ExportError as exc:
        raise ExportError(f"{provider(task) if task else 'the task'}: {exc}") from exc


def _blame(pipeline: Pipeline, graph: Graph) -> str:
    """``cell 'x' (plugin ..., dist version)`` for the cells of ``graph``, as far as known."""
    cells = {path: info for path, info in pipeline.components.items() if path.endswith(".cell")}
    names = {type(cell).__name__ for cell in graph.cells}
    if not cells or not names:
        return "the model"
    described = ", ".join(provider(info) for info in cells.values())
    return f"{'/'.join(sorted(names))} of {described}"


def _operation(exc: BaseException) -> str:
    """The operation an exporter could not handle, read from its error chain, if named."""
    text = ""
    while exc is not None and len(text) < 20000:
        text += f"\n{exc}"
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    for pattern in (r"op='([\w.]+)'", r"torch\.ops\.([\w]+\.[\w]+)", r"\b(aten::\w+)"):
        found = re.search(pattern, text)
        if found:
            return f"operation {found.group(1)!r}"
    line = next((x.strip() for x in text.splitlines() if x.strip()), "")
    return f"{line[:200]}"


def _export_one(pipeline: Pipeline, name: str, graph: Graph, fmt: str) -> bytes:
    try:
        data = export_graph(graph, fmt)
    except Exception as exc:  # any exporter failure: name the graph, the cell, its plugin and the operation
        where = where_raised(exc.__traceback__)
        at = f" (raised at {where})" if where else ""
        raise ExportError(
            f"export: graph {name!r} cannot be exported to {fmt}: {_blame(pipeline, graph)} uses "
            f"{_operation(exc)}{at}; the cell must be written with operations {fmt} supports, or "
            f"exported to {'torchscript' if fmt == 'onnx' else 'onnx'}"
        ) from exc
    problem = check_graph(graph, load_graph(data, fmt, list(graph.inputs)))
    if problem:
        raise ExportError(
            f"export: graph {name!r} exported to {fmt} does not compute what the model does on a batch of "
            f"another size ({problem}); {_blame(pipeline, graph)} probably branches on its inputs' "
            "values or sizes, which an exported graph freezes"
        )
    return data


def _describe(graph: Graph, file: str, data: bytes) -> dict[str, Any]:
    def tensor(name: str, value: Any) -> dict[str, Any]:
        axes = graph.dynamic.get(name, {})
        return {
            "name": name,
            "dtype": str(value.dtype).replace("torch.", ""),
            "shape": [axes.get(i, int(n)) for i, n in enumerate(value.shape)],
        }

    return {
        "file": file,
        "inputs": [tensor(n, v) for n, v in graph.inputs.items()],
        "outputs": list(graph.outputs),
        "sha256": _sha(data),
        "bytes": len(data),
    }


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _source_weights(run: RunDir) -> dict[str, Any]:
    """Which weights the export comes from: the final ones, or the newest checkpoint's."""
    listed = (run.manifest or {}).get("files", {}).get("model.safetensors")
    if run.finished and isinstance(listed, dict):
        return {"file": "model.safetensors", "sha256": listed.get("sha256")}
    checkpoint = run.latest_checkpoint()
    return {
        "file": str(checkpoint.path.relative_to(run.path) / "model.safetensors"),
        "sha256": _sha(checkpoint.weights),
    }


def _vocabulary_files(run: RunDir) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for name in _VOCABULARIES:
        if (run.path / name).is_file():
            data = run.read_bytes(name)
            out[name] = data
            proto = json.loads(data).get("model_proto")
            if isinstance(proto, str):  # a sentencepiece tokenizer: also its model file, for sentencepiece itself
                out[name.replace(".json", ".model")] = base64.b64decode(proto)
    return out


def export(
    run_dir: str | os.PathLike[str],
    fmt: str = "onnx",
    *,
    out: str | os.PathLike[str] | None = None,
    registry: Registry | None = None,
) -> Path:
    """Export a run's model (see the module docstring); returns the export folder.

    Args:
        run_dir: the run directory (a finished run, or an interrupted one: its newest
            checkpoint).
        fmt: ``onnx`` or ``torchscript``.
        out: the folder to write (default ``RUN_DIR/export/<format>``).
        registry: where the run's components resolve (default: installed plugins).

    Raises:
        ExportError: the task or a cell cannot be exported (names its plugin and the
            operation), or an exported graph does not match the model.
        CheckpointError: the run directory cannot be read, is being written by another
            process, or the export folder cannot be written.
    """
    _check_format(fmt)
    run_path = Path(run_dir)
    reader = RunDir.open_reader(run_path)
    pipeline = load_run(run_path, registry=registry)
    plan = export_plan(pipeline)
    blobs = {name: _export_one(pipeline, name, graph, fmt) for name, graph in plan.graphs.items()}
    graphs = {name: _describe(plan.graphs[name], name + FORMATS[fmt], data) for name, data in blobs.items()}
    vocabularies = _vocabulary_files(reader)
    manifest = {
        "format": EXPORT_FORMAT,
        "writer": "seqframe",
        **versions(),
        "runtime": fmt,
        "task": pipeline.task.name,
        "components": pipeline.components,
        "weights": _source_weights(reader),
        "graphs": graphs,
        "meta": json.loads(json.dumps(plan.meta)),
        "files": {name: {"sha256": _sha(data), "bytes": len(data)} for name, data in vocabularies.items()},
    }
    payloads = {
        **{info["file"]: blobs[name] for name, info in graphs.items()},
        **vocabularies,
        EXPORT_FILE: json.dumps(manifest, indent=2).encode(),
    }
    target = Path(out) if out is not None else default_export_dir(run_path, fmt)
    return _write(run_path, target, payloads)


def _inside(run: Path, target: Path) -> Path | None:
    """``target`` relative to the run directory, or None when it lies outside (links are
    not followed: a link inside the run is refused by the run's writer; one outside that
    leads into the run is refused here)."""
    root, absolute = Path(os.path.abspath(run)), Path(os.path.abspath(target))
    if absolute == root:
        raise ExportError(
            f"export: --out {target} is the run directory itself; choose a folder inside it (e.g. "
            f"{root / 'export'}) or outside it"
        )
    if root in absolute.parents:
        return absolute.relative_to(root)
    if run.resolve() in target.resolve().parents or target.resolve() == run.resolve():
        raise ExportError(
            f"export: --out {target} leads into the run directory through a symbolic link; seqframe "
            "never writes through one; give the path inside the run directory itself"
        )
    return None


def _write(run_path: Path, target: Path, payloads: Mapping[str, bytes]) -> Path:
    relative = _inside(run_path, target)
    if relative is not None:  # the run's own folder: as its writer, under its lock, listed in its manifest
        with RunDir.open_writer(run_path, amend=True) as run:
            run.folder(str(relative))
            for name, data in payloads.items():
                if name != EXPORT_FILE:
                    run.write(str(relative / name), data)
            run.write(str(relative / EXPORT_FILE), payloads[EXPORT_FILE])  # last: the export is complete
            run.flush()
        return run_path / relative
    try:
        target.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or (any(target.iterdir()) and not (target / EXPORT_FILE).is_file()):
            raise ExportError(
                f"export: {target} is not empty and holds no earlier export ({EXPORT_FILE}); choose an empty folder"
            )
        for name in sorted(payloads, key=lambda n: n == EXPORT_FILE):  # export.json last: the export is complete
            files.write_file(target / name, payloads[name])
    except OSError as exc:
        raise ExportError(io_message(exc.filename or target, exc)) from exc
    return target
