"""The ``seqframe`` command line: a thin layer over :mod:`seqframe.api`.

Exit status: 0 success; 2 a user mistake (any :class:`SeqframeError`, printed without a
traceback unless ``--traceback``); 1 an unexpected crash (with traceback); 130 stopped by
SIGINT (Ctrl-C) and 143 by SIGTERM, after saving a checkpoint (a second signal stops at once).
In a process started by ``torchrun`` every message names its rank (``[rank 1] error: ...``)
and only rank 0 prints results; ``seqframe run --nproc N`` returns torchrun's status (130
or 143 when a signal stopped it).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
import traceback
from collections.abc import Sequence

from seqframe import api
from seqframe.errors import SeqframeError, TrainingInterrupted

__all__ = ["main"]


def _rank() -> tuple[int, int]:
    """``(rank, world size)`` from torchrun's environment (``(0, 1)`` outside torchrun)."""
    try:
        return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 0, 1


def _launch_argv(args: argparse.Namespace) -> list[str]:
    """The ``seqframe`` arguments each torchrun worker gets: this command without ``--nproc``."""
    words = ["--traceback"] if args.traceback else []
    words += ["run"] + (["--out", args.out] if args.out else [])
    words += [flag for flag, on in (("--overwrite", args.overwrite), ("--resume", args.resume),
                                    ("--allow-recipe-change", args.allow_recipe_change), ("--quiet", args.quiet)) if on]
    return [*words, args.recipe, *args.overrides]


def _cmd_run(args: argparse.Namespace) -> int:
    rank, size = _rank()
    if args.nproc is not None:
        if size > 1:
            raise SeqframeError(f"--nproc: this process was already started by torchrun (WORLD_SIZE={size}); "
                                "drop --nproc")
        if args.nproc < 1:
            raise SeqframeError(f"--nproc: expected a number of processes >= 1, got {args.nproc}")
        if args.nproc > 1:
            return api.launch(args.nproc, _launch_argv(args))
    if size > 1:
        # Outside the training loop (whose handler saves and stops) a torchrun worker ignores
        # SIGTERM: torchrun sends it to the others as soon as one rank exits, and rank 0 may
        # still be reporting where its checkpoint is. A worker that hangs gets SIGKILL 30 s later.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        result = api.run(args.recipe, args.overrides, out_dir=args.out, progress=not args.quiet,
                         overwrite=args.overwrite, resume=args.resume, allow_recipe_change=args.allow_recipe_change)
    except TrainingInterrupted as exc:
        if rank != 0:
            return exc.exit_code  # rank 0 reports the stop and where the checkpoint is
        print(f"stopped: {exc}", file=sys.stderr)
        if exc.checkpoint:
            run_dir = os.path.dirname(os.path.dirname(exc.checkpoint))
            words = ["seqframe", "run", args.recipe, *args.overrides, "--out", run_dir, "--resume"]
            words += [f"--nproc={size}"] if size > 1 else []
            print("resume with: " + " ".join(shlex.quote(w) for w in words), file=sys.stderr)
        return exc.exit_code
    if rank != 0:
        return 0
    if result.result.stopped_early:
        print(f"early stopping after step {result.result.step}")
    final = result.result.final_eval
    if final:
        print("validation: " + ", ".join(f"{k} {v:.4f}" for k, v in final.items() if k != "step"))
    print(f"run directory: {result.out_dir}")
    if result.sample is not None:
        print("sample:\n" + result.sample)
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    recipe = api.validate(args.recipe, args.overrides)
    print(recipe.to_yaml() if args.print else f"{recipe.source}: OK", end="\n" if not args.print else "")
    return 0


def _cmd_plugins(args: argparse.Namespace) -> int:
    if args.action == "check":
        return _cmd_plugins_check(args)
    payload = api.plugin_report()
    if args.json:
        print(json.dumps(payload, indent=2))
        return 0
    print("plugins:")
    for p in payload["plugins"]:
        status = "" if p["status"] == "ok" else f"  [{p['status'].upper()}]"
        print(f"  {p['name']:<32} {p['distribution']} {p['version']}  hooks: {', '.join(p['hooks']) or '-'}{status}")
        if p["error"]:
            print(f"      {p['error']}")
    print("components:")
    for c in payload["components"]:
        print(f"  {c['kind']:<10} {c['name']:<20} {c['plugin']:<32} {c['summary']}")
    for group in payload["clashes"]:
        print(f"warning: {len(group)} plugins provide the same name: {', '.join(group)} (use a qualified name)")
    return 0


def _cmd_plugins_check(args: argparse.Namespace) -> int:
    from seqframe.testing import check_cell, describe_time_loop

    if not args.name:
        raise SeqframeError("seqframe plugins check: give a cell name, e.g. 'seqframe plugins check indrnn'")
    component = api.registry().get("cell", args.name)
    check_cell(component.factory)
    print(f"cell {component.qualified_name} ({component.distribution} {component.version}): all conformance checks passed")
    print(f"time loop: {describe_time_loop(component.factory)}")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    inputs = args.texts or [line.rstrip("\n") for line in sys.stdin]
    pipeline = api.load_run(args.run_dir, device=args.device)
    given = {"max_tokens": args.max_tokens, "temperature": args.temperature, "top_k": args.top_k,
             "top_p": args.top_p, "seed": args.seed, "beam": args.beam}
    options = {k: v for k, v in given.items() if v is not None}  # each task has its own defaults
    continues = not hasattr(pipeline.task, "predict")  # a language model continues its prompt
    if continues:
        options = {"max_tokens": 200, "temperature": 0.8, "seed": 0, **options}
        options.pop("beam", None)
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


def _cmd_recipes(args: argparse.Namespace) -> int:
    if args.action == "copy":
        if not args.name or not args.dest:
            raise SeqframeError("usage: seqframe recipes copy NAME DEST (see 'seqframe recipes' for the names)")
        print(f"copied {args.name} to {api.copy_recipe(args.name, args.dest, overwrite=args.overwrite)}")
        return 0
    for name, description in api.shipped_recipes().items():
        print(f"{name:<16} {description}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seqframe", description="Recurrent sequence models from YAML recipes.")
    parser.add_argument("--traceback", action="store_true", help="show tracebacks for user errors too")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="train a recipe")
    run.add_argument("recipe", help="recipe file or shipped recipe name (see 'seqframe recipes')")
    run.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="override a value (train.steps=100) or ~KEY to remove one")
    run.add_argument("--out", help="run directory (default runs/<recipe>-<time>)")
    run.add_argument("--overwrite", action="store_true", help="replace the previous run in a non-empty --out")
    run.add_argument("--resume", action="store_true", help="continue exactly from the newest checkpoint in --out")
    run.add_argument("--allow-recipe-change", action="store_true",
                     help="with --resume: accept changed training-critical keys (model, tokenizer, task, data...)")
    run.add_argument("--quiet", action="store_true", help="print only errors and the final summary")
    run.add_argument("--nproc", type=int, metavar="N",
                     help="train with N processes on this machine (runs torchrun; see the README's Scaling section)")
    run.set_defaults(func=_cmd_run)
    validate = sub.add_parser("validate", help="check a recipe without running it")
    validate.add_argument("recipe")
    validate.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    validate.add_argument("--print", action="store_true", help="print the resolved recipe")
    validate.set_defaults(func=_cmd_validate)
    plugins = sub.add_parser("plugins", help="list plugins and components, or check a plugin cell")
    plugins.add_argument("action", nargs="?", choices=["list", "check"], default="list")
    plugins.add_argument("name", nargs="?", help="cell name for 'check'")
    plugins.add_argument("--json", action="store_true", help="machine-readable output")
    plugins.set_defaults(func=_cmd_plugins)
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
    predict.set_defaults(func=_cmd_predict)
    evaluate = sub.add_parser("eval", help="report loss, perplexity and bits per token/character of a run")
    evaluate.add_argument("run_dir")
    evaluate.add_argument("--split", choices=["valid", "test", "train"], default="valid",
                          help="which split of the run's data (default: valid)")
    evaluate.add_argument("--data", metavar="PATH", help="evaluate this UTF-8 text file instead of a split")
    evaluate.add_argument("--device", default="cpu")
    evaluate.add_argument("--json", action="store_true", help="machine-readable output")
    evaluate.set_defaults(func=_cmd_eval)
    recipes = sub.add_parser("recipes", help="list the shipped recipes, or copy one for editing")
    recipes.add_argument("action", nargs="?", choices=["list", "copy"], default="list")
    recipes.add_argument("name", nargs="?", help="shipped recipe to copy")
    recipes.add_argument("dest", nargs="?", help="file or folder to copy it to")
    recipes.add_argument("--overwrite", action="store_true", help="replace an existing file")
    recipes.set_defaults(func=_cmd_recipes)
    return parser


def _is_override(word: str) -> bool:
    return not word.startswith("-") and ("=" in word or word.startswith("~"))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra and hasattr(args, "overrides") and all(_is_override(word) for word in extra):
        args.overrides = [*args.overrides, *extra]  # KEY=VALUE after an option: `run lm --out x a.b=1`
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    rank, size = _rank()
    prefix = f"[rank {rank}] " if size > 1 else ""  # which of torchrun's processes is speaking
    try:
        return int(args.func(args))
    except SeqframeError as exc:
        if args.traceback:
            traceback.print_exc()
        print(f"{prefix}{'error' if exc.exit_code == 2 else 'stopped'}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{prefix}interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if not prefix:
            raise
        traceback.print_exc()
        print(f"{prefix}crashed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
