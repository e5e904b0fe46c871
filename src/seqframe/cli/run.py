"""``seqframe run``: train a recipe, in one process or several (``--nproc``)."""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys

from shtab import DIRECTORY

from seqframe import api
from seqframe.cli.common import add_command, complete, print_json
from seqframe.cli.recipes import add_recipe_arguments
from seqframe.errors import SeqframeError, TrainingInterrupted

__all__ = ["add_parsers", "process_rank"]


def process_rank() -> tuple[int, int]:
    """``(rank, world size)`` from torchrun's environment (``(0, 1)`` outside torchrun)."""
    try:
        return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 0, 1


def _launch_argv(args: argparse.Namespace) -> list[str]:
    """The ``seqframe`` arguments each torchrun worker gets: this command without ``--nproc``."""
    words = ["--traceback"] if args.traceback else []
    words += ["run"] + (["--out", args.out] if args.out else [])
    words += [
        flag
        for flag, on in (
            ("--overwrite", args.overwrite),
            ("--resume", args.resume),
            ("--allow-recipe-change", args.allow_recipe_change),
            ("--quiet", args.quiet),
            ("--json", args.json),
        )
        if on
    ]
    return [*words, args.recipe, *args.overrides]


def _cmd_run(args: argparse.Namespace) -> int:
    rank, size = process_rank()
    if args.nproc is not None:
        if size > 1:
            raise SeqframeError(
                f"--nproc: this process was already started by torchrun (WORLD_SIZE={size}); drop --nproc"
            )
        if args.nproc < 1:
            raise SeqframeError(f"--nproc: expected a number of processes >= 1, got {args.nproc}")
        if args.nproc > 1:  # a recipe error is said once, here, before any worker starts
            api.validate(args.recipe, args.overrides, processes=args.nproc)
            return api.launch(args.nproc, _launch_argv(args))
    if size > 1:
        # Outside the training loop (whose handler saves and stops) a torchrun worker ignores
        # SIGTERM: torchrun sends it to the others as soon as one rank exits, and rank 0 may
        # still be reporting where its checkpoint is. A worker that hangs gets SIGKILL 30 s later.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        result = api.run(
            args.recipe,
            args.overrides,
            out_dir=args.out,
            progress=not (args.quiet or args.json),
            overwrite=args.overwrite,
            resume=args.resume,
            allow_recipe_change=args.allow_recipe_change,
        )
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
    if args.json:
        print_json(result.to_dict())
        return 0
    if result.stopped_early:
        print(f"early stopping after step {result.step}")
    final = result.final_eval
    if final:
        print("validation: " + ", ".join(f"{k} {v:.4f}" for k, v in final.items() if k != "step"))
    print(f"run directory: {result.out_dir}")
    if result.sample is not None:
        print("sample:\n" + result.sample)
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add this module's subcommands."""
    run = add_command(
        sub,
        "run",
        help="train a recipe",
        examples=[
            "seqframe run recipes/lm.yaml                          # or: seqframe run lm",
            "seqframe run lm train.steps=100 model.topology.cell=gru   # override any value",
            "seqframe run lm --out runs/lm --resume                # continue after Ctrl-C",
            "seqframe run lm --nproc 2                             # two processes (DDP)",
            "seqframe run lm --quiet --json                        # the final summary as JSON",
        ],
        description="Train a recipe and write a run directory (see 'seqframe predict', 'eval', 'export').",
    )
    add_recipe_arguments(run)
    complete(run.add_argument("--out", metavar="DIR", help="run directory (default runs/<recipe>-<time>)"), DIRECTORY)
    run.add_argument("--overwrite", action="store_true", help="replace the previous run in a non-empty --out")
    run.add_argument("--resume", action="store_true", help="continue exactly from the newest checkpoint in --out")
    run.add_argument(
        "--allow-recipe-change",
        action="store_true",
        help="with --resume: accept changed training-critical keys (model, tokenizer, task, data...)",
    )
    run.add_argument("--quiet", action="store_true", help="print only errors and the final summary")
    run.add_argument(
        "--json",
        action="store_true",
        help="print the final summary as one JSON object (run_dir, step, final_eval, sample...) and no progress bar",
    )
    run.add_argument(
        "--nproc",
        type=int,
        metavar="N",
        help="train with N processes on this machine (runs torchrun; see the README's Scaling section)",
    )
    run.set_defaults(func=_cmd_run)
