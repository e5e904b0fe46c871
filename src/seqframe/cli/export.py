"""``seqframe export`` and ``seqframe average``: a finished run made ready to ship."""

from __future__ import annotations

import argparse

from shtab import DIRECTORY

from seqframe import api
from seqframe.cli.common import add_command, complete

__all__ = ["add_parsers"]


def _cmd_export(args: argparse.Namespace) -> int:
    folder = api.export(args.run_dir, args.format, out=args.out)
    print(f"exported {args.run_dir} as {args.format} to {folder}")
    print(
        f"use it: seqframe predict {args.run_dir} --runtime {args.format}"
        + (f" --export {folder}" if args.out else "")
        + ' "..."'
    )
    return 0


def _cmd_average(args: argparse.Namespace) -> int:
    out = api.average(args.run_dir, args.last, out=args.out)
    print(f"averaged the last {args.last} checkpoints of {args.run_dir} into {out}")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add this module's subcommands."""
    export = add_command(
        sub,
        "export",
        help="export a run's model as ONNX or TorchScript graphs",
        examples=[
            "seqframe export runs/lm                         # RUN_DIR/export/onnx, checked against the model",
            "seqframe export runs/lm --format torchscript",
            'seqframe predict runs/lm "The " --runtime onnx   # then answer with the export',
        ],
    )
    complete(export.add_argument("run_dir", help="a run directory written by 'seqframe run'"), DIRECTORY)
    export.add_argument("--format", choices=["onnx", "torchscript"], default="onnx", help="default: onnx")
    complete(
        export.add_argument("--out", metavar="DIR", help="where to write (default RUN_DIR/export/<format>)"), DIRECTORY
    )
    export.set_defaults(func=_cmd_export)
    average = add_command(
        sub,
        "average",
        help="average a run's last checkpoints into a new run directory",
        examples=[
            "seqframe average runs/lm --last 5               # writes runs/lm-avg5",
            "seqframe eval runs/lm-avg5                      # then use it like any run",
        ],
    )
    complete(average.add_argument("run_dir", help="the run whose checkpoints/ to average (never changed)"), DIRECTORY)
    average.add_argument("--last", type=int, required=True, metavar="N", help="how many of the newest checkpoints")
    complete(
        average.add_argument("--out", metavar="DIR", help="the new run directory (default RUN_DIR-avgN)"), DIRECTORY
    )
    average.set_defaults(func=_cmd_average)
