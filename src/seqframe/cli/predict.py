"""``seqframe predict`` and ``seqframe eval``: use a finished run."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from typing import Any

from seqframe import api
from seqframe.api.options import PREDICT_OPTIONS, option_problem, predict_options
from seqframe.api.runtime import RUNTIMES, load_for_runtime
from seqframe.errors import DeviceError, SeqframeError

__all__ = ["add_parsers"]


def _options(args: argparse.Namespace) -> dict[str, Any]:
    """The predict options given on the command line (None: not given), each checked
    whatever the task; an error names the flag."""
    options = {}
    for key in PREDICT_OPTIONS:
        value = getattr(args, key)
        if problem := option_problem(key, value):
            raise SeqframeError(f"--{key.replace('_', '-')}: {problem}")
        options[key] = value
    return options


def _inputs(args: argparse.Namespace) -> list[str]:
    """The texts to answer: the arguments, else the lines of stdin (which must be open, UTF-8
    and not empty)."""
    how = "give inputs as arguments or as lines on stdin"
    if args.texts:
        inputs = list(args.texts)
    elif sys.stdin is None or sys.stdin.closed:
        raise SeqframeError(f"predict: stdin is closed and no inputs were given; {how}")
    else:
        try:
            inputs = [line.rstrip("\n") for line in sys.stdin]
        except UnicodeDecodeError as exc:
            raise SeqframeError(f"predict: stdin is not {sys.stdin.encoding} text ({exc.reason} at byte {exc.start})") from None
        if not inputs:
            raise SeqframeError(f"predict: stdin was empty; {how}")
    for number, text in enumerate(inputs, 1):
        if any("\ud800" <= char <= "\udfff" for char in text):  # bytes the locale could not decode
            raise SeqframeError(f"predict: input {number} ({text!r}) is not valid text; pass UTF-8")
    return inputs


def _load(args: argparse.Namespace, *, with_data: bool = False, runtime: str | None = None) -> Any:
    """The run (``api.load_run``; with a ``runtime``, the model that runtime computes with),
    whose device error names ``--device``."""
    try:
        if runtime is not None:
            return load_for_runtime(args.run_dir, runtime, export_dir=args.export, device=args.device)
        return api.load_run(args.run_dir, device=args.device, with_data=with_data)
    except DeviceError as exc:
        raise DeviceError("--device", exc.problem) from None


def _check_data_format(pipeline: Any, path: str) -> None:
    """``eval --data`` reads one plain UTF-8 text, which only a task that reads plain texts
    can score; a task that reads structured examples (``inputs``) says what to use instead."""
    if not pipeline.task.needs_examples:
        return
    name = pipeline.components.get("task", {}).get("name", type(pipeline.task).__name__)
    raise SeqframeError(f"--data {path!r}: task {name!r} evaluates structured examples (inputs with their labels, "
                        "tags or targets), but eval --data takes one plain UTF-8 text file, which only language "
                        "modelling can score; evaluate this run on its data with --split valid|test|train")


def _cmd_predict(args: argparse.Namespace) -> int:
    given = _options(args)
    inputs = _inputs(args)
    pipeline = _load(args, runtime=args.runtime)
    options = predict_options(pipeline.task, given)  # each task has its own defaults
    continues = pipeline.task.continues_prompt  # a language model continues its prompt
    for text, output in zip(inputs, api.predict(pipeline, inputs, **options)):
        print(text + output if continues else output)
    return 0


_METRIC_NAMES = {"loss": "loss (nats per target)", "ppl": "perplexity", "bits_per_token": "bits per token",
                 "bpc": "bits per character"}


def _cmd_eval(args: argparse.Namespace) -> int:
    pipeline = _load(args, with_data=args.data is None)
    if args.data is not None:
        _check_data_format(pipeline, args.data)
    metrics = api.evaluate(pipeline, split=args.split, data=args.data)
    if args.json:
        print(json.dumps(metrics))
        return 0
    print(f"{args.data or args.split + ' split'}:")
    for key, value in metrics.items():
        print(f"  {_METRIC_NAMES.get(key, key):<20} {value:.4f}")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add this module's subcommands."""
    predict = sub.add_parser("predict", help="answer inputs with a finished run")
    predict.add_argument("run_dir")
    predict.add_argument("texts", nargs="*", help="inputs (default: lines of stdin)")
    predict.add_argument("--max-tokens", type=int, help="longest output in tokens (language model default 200)")
    predict.add_argument("--temperature", type=float, help="sampling temperature, 0 for greedy (language model default 0.8)")
    predict.add_argument("--top-k", type=int, help="sample among the k most likely tokens")
    predict.add_argument("--top-p", type=float, help="nucleus sampling mass")
    predict.add_argument("--seed", type=int, help="sampling seed (same seed, same text)")
    predict.add_argument("--beam", type=int, help="beam size for tasks that generate sequences (1: greedy)")
    predict.add_argument("--device", default="cpu")
    predict.add_argument("--runtime", choices=RUNTIMES, default="torch",
                         help="what computes the model: torch (default), or its export run by onnxruntime or TorchScript")
    predict.add_argument("--export", metavar="DIR", help="the export's folder (default RUN_DIR/export/<runtime>)")
    predict.set_defaults(func=_cmd_predict)
    evaluate = sub.add_parser("eval", help="report loss, perplexity and bits per token/character of a run")
    evaluate.add_argument("run_dir")
    evaluate.add_argument("--split", choices=["valid", "test", "train"], default="valid",
                          help="which split of the run's data (default: valid)")
    evaluate.add_argument("--data", metavar="PATH", help="evaluate this UTF-8 text file instead of a split")
    evaluate.add_argument("--device", default="cpu")
    evaluate.add_argument("--json", action="store_true", help="machine-readable output")
    evaluate.set_defaults(func=_cmd_eval)
