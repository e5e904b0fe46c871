"""Answering with an exported model: ``seqframe predict --runtime onnx|torchscript`` and
``seqframe serve --runtime ...``.

:func:`load_exported` rebuilds the run's pipeline for its tokenizers and task, reads the
export (``export.json`` and every graph, each checked against its sha256, and the weights
it came from against the run's current ones), and puts the task's exported stand-in
(:meth:`~seqframe.Task.exported_model`) in place of the torch model, which is dropped
unused: with ``onnx`` every answer is computed by onnxruntime, the decoding loop (greedy,
sampling, beam search) being the task's own. Facade layer.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch

from seqframe.api.export import EXPORT_FILE, EXPORT_FORMAT, default_export_dir
from seqframe.api.inference import load_run
from seqframe.api.preflight import provider
from seqframe.engine.graphs import FORMATS, GraphSet, load_graph
from seqframe.engine.rundir import RunDir
from seqframe.errors import CheckpointError, ExportError
from seqframe.pipeline import Pipeline
from seqframe.registry import Registry

__all__ = ["RUNTIMES", "load_exported", "load_for_runtime"]

RUNTIMES = ("torch", *FORMATS)
"""What ``--runtime`` accepts: the torch model itself, or one of the export formats."""


def _read(run: RunDir, folder: Path, name: str) -> bytes:
    """A file of the export: through the run's manifest when the export lies inside the run."""
    file = folder / name
    try:
        relative = file.resolve().relative_to(run.path.resolve())
    except ValueError:
        relative = None
    if relative is not None:
        return run.read_bytes(str(relative))
    try:
        return file.read_bytes()
    except OSError as exc:
        raise ExportError(f"{file}: cannot be read ({exc.strerror or exc})") from exc


def _manifest(run: RunDir, folder: Path, fmt: str) -> dict[str, Any]:
    if not (folder / EXPORT_FILE).is_file():
        raise ExportError(
            f"{folder}: no {fmt} export ({EXPORT_FILE} is missing); run 'seqframe export {run.path} "
            f"--format {fmt}' first, or pass --export with the folder it wrote"
        )
    try:
        manifest = json.loads(_read(run, folder, EXPORT_FILE))
    except ValueError as exc:
        raise ExportError(f"{folder / EXPORT_FILE}: corrupt JSON ({exc})") from exc
    if (
        not isinstance(manifest, dict)
        or manifest.get("writer") != "seqframe"
        or not isinstance(manifest.get("graphs"), dict)
        or not isinstance(manifest.get("meta"), dict)
    ):
        raise ExportError(f"{folder / EXPORT_FILE}: not a seqframe export; it was damaged or written by something else")
    if not isinstance(manifest.get("format"), int) or manifest["format"] > EXPORT_FORMAT:
        raise ExportError(
            f"{folder / EXPORT_FILE}: export format {manifest.get('format')!r}; this seqframe reads "
            f"{EXPORT_FORMAT} and older; upgrade seqframe or export again"
        )
    if manifest.get("runtime") != fmt:
        raise ExportError(
            f"{folder / EXPORT_FILE}: is a {manifest.get('runtime')!r} export, not {fmt!r}; pass the "
            f"folder of a {fmt} export or --runtime {manifest.get('runtime')}"
        )
    return manifest


def _check_current(run: RunDir, manifest: dict[str, Any], folder: Path) -> None:
    """The export was made from the weights the run has now (else it is stale)."""
    weights = manifest.get("weights") or {}
    listed = (run.manifest or {}).get("files", {}).get("model.safetensors")
    if run.finished and isinstance(listed, dict):
        current = listed.get("sha256")
    else:
        try:
            current = hashlib.sha256(run.latest_checkpoint().weights).hexdigest()
        except CheckpointError:
            current = None
    if current is not None and weights.get("sha256") != current:
        raise ExportError(
            f"{folder}: was exported from other weights than the run has now ({weights.get('file')}); "
            f"export again: seqframe export {run.path} --format {manifest['runtime']}"
        )


def _graph(run: RunDir, folder: Path, name: str, info: Any, fmt: str, device: torch.device) -> Any:
    if not isinstance(info, dict) or not isinstance(info.get("file"), str) or "/" in info["file"]:
        raise ExportError(f"{folder / EXPORT_FILE}: graph {name!r} is described wrongly; export again")
    data = _read(run, folder, info["file"])
    if hashlib.sha256(data).hexdigest() != info.get("sha256"):
        raise ExportError(
            f"{folder / info['file']}: its sha256 differs from {EXPORT_FILE}: the file was changed or "
            "damaged after it was exported; export again"
        )
    names = [i["name"] for i in info.get("inputs", []) if isinstance(i, dict)]
    try:
        return load_graph(data, fmt, names, device)
    except Exception as exc:  # an unreadable graph file: the runtime's own message
        raise ExportError(
            f"{folder / info['file']}: {fmt} cannot load it ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); export again"
        ) from exc


def load_exported(
    run_dir: str | os.PathLike[str],
    runtime: str = "onnx",
    *,
    export_dir: str | os.PathLike[str] | None = None,
    device: str = "cpu",
    registry: Registry | None = None,
) -> Pipeline:
    """A run's pipeline whose model is its exported graphs (see the module docstring).

    Args:
        run_dir: the run directory (its tokenizers and task state are read from it).
        runtime: ``onnx`` (onnxruntime) or ``torchscript``.
        export_dir: the export's folder (default ``RUN_DIR/export/<runtime>``).
        device: where the graphs run (onnxruntime: CUDA when asked and installed).
        registry: where the run's components resolve.

    Raises:
        ExportError: no export, a stale or damaged one, or a task that declares no export.
    """
    if runtime not in FORMATS:
        raise ExportError(f"--runtime: expected one of {', '.join(RUNTIMES)}, got {runtime!r}")
    run = RunDir.open_reader(run_dir)
    folder = Path(export_dir) if export_dir is not None else default_export_dir(run.path, runtime)
    manifest = _manifest(run, folder, runtime)
    _check_current(run, manifest, folder)
    pipeline = load_run(run.path, registry=registry)
    if manifest.get("task") != pipeline.task.name:
        raise ExportError(
            f"{folder / EXPORT_FILE}: exports task {manifest.get('task')!r}, the run's is "
            f"{pipeline.task.name!r}; pass the export of this run"
        )
    where = torch.device(device) if runtime == "torchscript" else torch.device("cpu")
    graphs = {
        name: _graph(run, folder, name, info, runtime, torch.device(device))
        for name, info in manifest["graphs"].items()
    }
    runner = GraphSet(graphs, manifest["meta"], where)
    try:
        pipeline.model = pipeline.task.exported_model(runner)
    except ExportError as exc:
        task = pipeline.components.get("task")
        raise ExportError(f"{provider(task) if task else 'the task'}: {exc}") from exc
    return pipeline


def load_for_runtime(
    run_dir: str | os.PathLike[str],
    runtime: str = "torch",
    *,
    export_dir: str | os.PathLike[str] | None = None,
    device: str = "cpu",
    registry: Registry | None = None,
) -> Pipeline:
    """:func:`~seqframe.api.load_run` for ``torch``, else :func:`load_exported`."""
    if runtime == "torch":
        if export_dir is not None:
            raise ExportError(
                "--export: only with --runtime onnx or torchscript (the torch runtime uses the run's own weights)"
            )
        return load_run(run_dir, registry=registry, device=device)
    return load_exported(run_dir, runtime, export_dir=export_dir, device=device, registry=registry)
