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
import contextlib
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence

from seqframe.errors import SeqframeError

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    """The whole command line's parser (also what ``seqframe completion`` completes)."""
    from seqframe.cli import (  # imports torch: inside the Ctrl-C guard
        completion,
        export,
        lab,
        plugins,
        predict,
        recipes,
        run,
        scaffold,
        serve,
    )

    parser = argparse.ArgumentParser(
        prog="seqframe",
        description="Recurrent sequence models from YAML recipes.",
        epilog="examples:\n  seqframe run lm                       # train the shipped language model\n"
        '  seqframe predict runs/lm "The "       # use a finished run\n'
        "  seqframe COMMAND --help               # each command's options and examples",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version",
        action="store_true",
        help="print seqframe's version (with -v: also torch's, Python's and every plugin's)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="with --version: every version, and where from")
    parser.add_argument("--traceback", action="store_true", help="show tracebacks for user errors too")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (run, recipes, plugins, predict, export, serve, scaffold, lab, completion):
        module.add_parsers(sub)
    return parser


def _is_override(word: str) -> bool:
    return not word.startswith("-") and ("=" in word or word.startswith("~"))


def _quiet_exit(signum: int, frame: object) -> None:
    """Ctrl-C while starting up: nothing has been written yet, so stop at once and quietly
    (a KeyboardInterrupt raised inside an import can be swallowed or turned into another
    error by Python's import machinery)."""
    try:
        sys.stderr.write("interrupted\n")
        sys.stderr.flush()
    finally:
        os._exit(130)


@contextlib.contextmanager
def _starting_up() -> Iterator[None]:
    """Route SIGINT to :func:`_quiet_exit` while the parser is built and torch, seqframe and
    the subcommands are imported (main thread only: elsewhere signals cannot be routed)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, _quiet_exit)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Ctrl-C at any moment, while torch or a plugin is still being imported included, ends
    with one line and status 130, never a traceback.
    """
    try:
        with _starting_up():
            args, prefix = _parse(argv)
        return _run(args, prefix)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _parse(argv: Sequence[str] | None) -> tuple[argparse.Namespace, str]:
    """The parsed arguments and the rank prefix of messages (imports every subcommand)."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command is None and not (args.version or args.verbose):
        parser.error("choose a command (seqframe --help lists them)")
    if extra and hasattr(args, "overrides") and all(_is_override(word) for word in extra):
        args.overrides = [*args.overrides, *extra]  # KEY=VALUE after an option: `run lm --out x a.b=1`
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    from seqframe.cli.run import process_rank

    rank, size = process_rank()
    return args, f"[rank {rank}] " if size > 1 else ""  # which of torchrun's processes is speaking


def _run(args: argparse.Namespace, prefix: str) -> int:
    try:
        if args.command is None:  # --version, -v
            from seqframe.cli.version import print_version

            return print_version(verbose=args.verbose)
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
