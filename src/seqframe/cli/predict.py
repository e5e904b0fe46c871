"""``seqframe predict`` and ``seqframe eval``: use a finished run.

``predict`` answers the inputs given as arguments at once; without them it answers each
line of stdin as it arrives (one line in, one line out, flushed), so it works at the end of
a pipe with a live producer; ``-i`` is an interactive prompt (:mod:`seqframe.cli.interactive`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from shtab import DIRECTORY, FILE

from seqframe import api
from seqframe.api.options import PREDICT_OPTIONS, option_problem, predict_options, task_options, unsupported_options
from seqframe.api.runtime import RUNTIMES, load_for_runtime
from seqframe.cli.common import add_command, complete, print_json
from seqframe.errors import DeviceError, SeqframeError

__all__ = ["add_parsers", "answerer"]

_HOW = "give inputs as arguments or as lines on stdin (or -i for a prompt)"


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def _options(args: argparse.Namespace) -> dict[str, Any]:
    """The predict options given on the command line (None: not given), each checked
    whatever the task; an error names the flag."""
    options = {}
    for key in PREDICT_OPTIONS:
        value = getattr(args, key)
        if problem := option_problem(key, value):
            raise SeqframeError(f"{_flag(key)}: {problem}")
        options[key] = value
    return options


def _check_text(number: int, text: str) -> str:
    if any("\ud800" <= char <= "\udfff" for char in text):  # bytes the locale could not decode
        raise SeqframeError(f"predict: input {number} ({text!r}) is not valid text; pass UTF-8")
    return text


def _stdin_lines() -> Iterator[str]:
    """Each line of stdin as soon as it arrives (without its newline)."""
    try:
        for line in iter(sys.stdin.readline, ""):
            yield line.rstrip("\r\n") if line.endswith("\n") else line
    except UnicodeDecodeError as exc:
        raise SeqframeError(
            f"predict: stdin is not {sys.stdin.encoding} text ({exc.reason} at byte {exc.start})"
        ) from None


def _load(args: argparse.Namespace, *, with_data: bool = False, runtime: str | None = None) -> Any:
    """The run (``api.load_run``; with a ``runtime``, the model that runtime computes with),
    whose device error names ``--device``."""
    try:
        if runtime is not None:
            return load_for_runtime(args.run_dir, runtime, export_dir=args.export, device=args.device)
        return api.load_run(args.run_dir, device=args.device, with_data=with_data)
    except DeviceError as exc:
        raise DeviceError("--device", exc.problem) from None


def answerer(pipeline: Any, given: dict[str, Any], *, json_lines: bool) -> Callable[[list[str]], None]:
    """A function that answers inputs with ``pipeline`` and prints one line per input
    (``prompt + continuation`` for a language model; with ``json_lines`` one JSON object
    ``{"input", "output"}``), flushed.

    Raises:
        SeqframeError: an option the run's task does not take (naming the flag and what it takes).
    """
    task = pipeline.task
    refused = unsupported_options(task, given)
    if refused:
        takes = ", ".join(_flag(key) for key in task.predict_options or ()) or "no option"
        raise SeqframeError(
            f"{_flag(refused[0])}: task {task.name!r} does not take it (it takes {takes}); see "
            "'seqframe predict --help' for the options of each task"
        )
    options = predict_options(task, given)  # each task has its own defaults
    continues = task.continues_prompt  # a language model continues its prompt

    def answer(inputs: list[str]) -> None:
        for text, output in zip(inputs, api.predict(pipeline, inputs, **options)):
            if json_lines:
                print_json({"input": text, "output": output})
            else:
                print(text + output if continues else output, flush=True)

    return answer


def _cmd_predict(args: argparse.Namespace) -> int:
    given = _options(args)
    if args.interactive and args.texts:
        raise SeqframeError("predict: -i starts a prompt that reads the inputs; give no inputs with it")
    if not args.texts and not args.interactive and (sys.stdin is None or sys.stdin.closed):
        raise SeqframeError(f"predict: stdin is closed and no inputs were given; {_HOW}")
    pipeline = _load(args, runtime=args.runtime)
    answer = answerer(pipeline, given, json_lines=args.json)
    if args.interactive:
        from seqframe.cli.interactive import prompt

        return prompt(pipeline, answer, args.run_dir)
    if args.texts:
        answer([_check_text(n, text) for n, text in enumerate(args.texts, 1)])
        return 0
    return _answer_lines(_stdin_lines(), answer)


def _answer_lines(lines: Iterable[str], answer: Callable[[list[str]], None]) -> int:
    """Answer each line as it comes; an empty stdin is a mistake."""
    count = 0
    for count, text in enumerate(lines, 1):
        answer([_check_text(count, text)])
    if count == 0:
        raise SeqframeError(f"predict: stdin was empty; {_HOW}")
    return 0


_METRIC_NAMES = {
    "loss": "loss (nats per target)",
    "ppl": "perplexity",
    "bits_per_token": "bits per token",
    "bpc": "bits per character",
}


def _cmd_eval(args: argparse.Namespace) -> int:
    pipeline = _load(args, with_data=args.data is None)
    metrics = api.evaluate(pipeline, split=args.split, data=args.data)
    if args.json:
        print_json(metrics)
        return 0
    print(f"{args.data or args.split + ' split'}:")
    for key, value in metrics.items():
        print(f"  {_METRIC_NAMES.get(key, key):<20} {value:.4f}")
    return 0


_TASK_OPTIONS = "@TASK_OPTIONS@"


class _PredictHelp(argparse.RawDescriptionHelpFormatter):
    """Help whose epilog lists, per installed task, the options its predict takes (read
    from the registry only when help is shown)."""

    def add_text(self, text: str | None) -> None:
        if text and _TASK_OPTIONS in text:
            text = text.replace(_TASK_OPTIONS, _task_rows())
        super().add_text(text)


def _task_rows() -> str:
    """``  name  --beam, --max-tokens`` for each installed task."""
    try:
        listed = task_options()
    except SeqframeError as exc:  # a plugin that cannot load (SEQFRAME_STRICT_PLUGINS=1)
        return f"  (cannot list the tasks: {exc})"

    def described(found: tuple[str, ...] | None) -> str:
        if found is None:
            return "(not declared: every option given is passed on)"
        flags = [_flag(key) if key in PREDICT_OPTIONS else f"{key} (Python API only)" for key in found]
        return ", ".join(flags) or "(none)"

    width = max(map(len, listed), default=0)
    return "\n".join(f"  {name:<{width}}  {described(found)}" for name, found in sorted(listed.items()))


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add this module's subcommands."""
    _add_predict(sub)
    evaluate = add_command(
        sub,
        "eval",
        help="report a run's loss and metrics on a split or a file",
        examples=[
            "seqframe eval runs/lm                          # the validation split",
            "seqframe eval runs/lm --split test --json",
            "seqframe eval runs/lm --data notes.txt         # a language model: any UTF-8 text",
            "seqframe eval runs/tagger --data dev.jsonl     # a task of examples: its fields per line",
        ],
    )
    complete(evaluate.add_argument("run_dir", help="a run directory written by 'seqframe run'"), DIRECTORY)
    evaluate.add_argument(
        "--split",
        choices=["valid", "test", "train"],
        default="valid",
        help="which split of the run's data (default: valid)",
    )
    complete(
        evaluate.add_argument(
            "--data",
            metavar="FILE",
            help="evaluate this file instead of a split, in the task's own format: one UTF-8 text "
            "for a language model; for a task of examples JSON Lines (.jsonl), CSV (.csv) or TSV (.tsv) whose objects or "
            "header name the example's fields (classification: text, label; tagging, .jsonl only: text, tags; "
            "translation: source, target); a wrong format is refused naming those the task reads",
        ),
        FILE,
    )
    evaluate.add_argument("--device", default="cpu", help="where to compute (default cpu; cuda, cuda:1, mps)")
    evaluate.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    evaluate.set_defaults(func=_cmd_eval)


def _add_predict(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    predict = sub.add_parser(
        "predict",
        help="answer inputs with a finished run",
        formatter_class=_PredictHelp,
        description="Answer inputs with a finished run: arguments are answered at once; without them each line "
        "of stdin is answered as it arrives (one line out per line in, flushed); -i starts a prompt.",
        epilog="options each task takes (others are refused):\n" + _TASK_OPTIONS + "\n\nexamples:\n"
        '  seqframe predict runs/lm "The function " --temperature 0.7\n'
        "  tail -f questions.txt | seqframe predict runs/classifier      # answers as lines arrive\n"
        "  seqframe predict runs/translate -i                          # prompt with history\n"
        '  seqframe predict runs/translate "twenty one" --beam 8 --length-penalty 0.6 --json',
    )
    complete(predict.add_argument("run_dir", help="a run directory written by 'seqframe run'"), DIRECTORY)
    predict.add_argument("texts", nargs="*", metavar="TEXT", help="inputs to answer (default: each line of stdin)")
    predict.add_argument(
        "-i",
        "--interactive",
        action="store_true",
        help="a prompt: type an input, Enter answers it; history kept across sessions; Ctrl-D quits",
    )
    predict.add_argument("--json", action="store_true", help='one JSON object per input: {"input", "output"}')
    predict.add_argument("--max-tokens", type=int, help="longest output in tokens (language model default 200)")
    predict.add_argument(
        "--temperature", type=float, help="sampling temperature, 0 for greedy (language model default 0.8)"
    )
    predict.add_argument("--top-k", type=int, help="sample among the k most likely tokens")
    predict.add_argument("--top-p", type=float, help="nucleus sampling mass")
    predict.add_argument("--seed", type=int, help="sampling seed (same seed, same text)")
    predict.add_argument("--beam", type=int, help="beam size for tasks that search (1: greedy)")
    predict.add_argument(
        "--length-penalty",
        type=float,
        help="beam search's length penalty alpha for tasks that search (0: none; default: the run's)",
    )
    predict.add_argument("--device", default="cpu", help="where to compute (default cpu; cuda, cuda:1, mps)")
    predict.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default="torch",
        help="what computes the model: torch (default), or its export run by onnxruntime or TorchScript",
    )
    complete(
        predict.add_argument("--export", metavar="DIR", help="the export's folder (default RUN_DIR/export/<runtime>)"),
        DIRECTORY,
    )
    predict.set_defaults(func=_cmd_predict)
