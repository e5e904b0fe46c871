"""``seqframe predict RUN_DIR -i``: an interactive prompt with line editing and a history
kept across sessions (readline, where Python has it), in seqframe's cache folder.

Enter answers the line; Ctrl-C abandons the line being typed; Ctrl-D (end of input) quits
with status 0. Without a terminal the prompt reads lines from stdin like a pipe would.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from seqframe.api.options import history_path

__all__ = ["prompt"]


def _readline() -> Any:
    try:
        import readline
    except ImportError:  # Windows' Python has none: input() still works, without history
        return None
    return readline


def prompt(pipeline: Any, answer: Callable[[list[str]], None], run_dir: str) -> int:
    """Read inputs at a ``> `` prompt and answer each until end of input."""
    readline = _readline()
    history = history_path()
    if readline is not None:
        readline.set_history_length(1000)
        try:
            readline.read_history_file(history)
        except OSError:
            pass  # no history yet
    print(f"{pipeline.task.name} run {run_dir}: type an input and press Enter; Ctrl-D quits", file=sys.stderr)
    try:
        while True:
            try:
                line = input("> ")
            except KeyboardInterrupt:
                print(file=sys.stderr)  # Ctrl-C abandons the line, like Python's own prompt
                continue
            except EOFError:
                print(file=sys.stderr)
                return 0
            if line.strip():
                if readline is not None and not sys.stdin.isatty():
                    readline.add_history(line)  # readline records only what it read from a terminal
                answer([line])
    finally:
        if readline is not None:
            try:
                history.parent.mkdir(parents=True, exist_ok=True)
                readline.write_history_file(history)
            except OSError as exc:
                print(f"warning: predict -i: could not save the history to {history} ({exc.strerror})", file=sys.stderr)
