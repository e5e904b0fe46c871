"""``seqframe predict`` and ``seqframe eval``: use a finished run."""

from __future__ import annotations

import argparse
import json
import sys

from seqframe import api
from seqframe.api.options import predict_options
from seqframe.api.runtime import RUNTIMES, load_for_runtime

__all__ = ["add_parsers"]


def _cmd_predict(args: argparse.Namespace) -> int:
    inputs = args.texts or [line.rstrip("\n") for line in sys.stdin]
    pipeline = load_for_runtime(args.run_dir, args.runtime, export_dir=args.export, device=args.device)
    given = {"max_tokens": args.max_tokens, "temperature": args.temperature, "top_k": args.top_k,
             "top_p": args.top_p, "seed": args.seed, "beam": args.beam}
    options = predict_options(pipeline.task, given)
    continues = pipeline.task.continues_prompt  # a language model continues its prompt
    for text, output in zip(inputs, api.predict(pipeline, inputs, **options)):
        print(text + output if continues else output)
    return 0


_METRIC_NAMES = {"loss": "loss (nats per target)", "ppl": "perplexity", "bits_per_token": "bits per token",
                 "bpc": "bits per character"}


def _cmd_eval(args: argparse.Namespace) -> int:
    metrics = api.evaluate(args.run_dir, split=args.split, data=args.data, device=args.device)
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
