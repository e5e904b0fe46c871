"""``seqframe serve``: answer over HTTP (see :mod:`seqframe.api.serve`)."""

from __future__ import annotations

import argparse
import sys

from shtab import DIRECTORY

from seqframe.api.runtime import RUNTIMES, load_for_runtime
from seqframe.api.serve import ServeConfig, serve
from seqframe.cli.common import add_command, complete

__all__ = ["add_parsers"]


def _cmd_serve(args: argparse.Namespace) -> int:
    pipeline = load_for_runtime(args.run_dir, args.runtime, export_dir=args.export, device=args.device)
    config = ServeConfig(
        max_body_bytes=args.max_body_bytes,
        max_inputs=args.max_inputs,
        max_batch=args.max_batch,
        batch_wait=args.batch_wait_ms / 1000,
    )

    def ready(host: str, port: int) -> None:
        shown = f"[{host}]" if ":" in host else host
        print(
            f"serving {args.run_dir} ({pipeline.task.name}, runtime {args.runtime}) on http://{shown}:{port}: "
            "GET /health, POST /predict; Ctrl-C stops",
            flush=True,
        )

    code = serve(pipeline, host=args.host, port=args.port, runtime=args.runtime, config=config, ready=ready)
    print("stopped", file=sys.stderr)
    return code


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text}")
    return value


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add this module's subcommand."""
    parser = add_command(
        sub,
        "serve",
        help="answer over HTTP: GET /health, POST /predict (JSON)",
        examples=[
            "seqframe serve runs/lm --port 8000",
            'curl -s localhost:8000/predict -d \'{"inputs": ["The "], "max_tokens": 20}\'',
            "seqframe serve runs/lm --runtime onnx --host 0.0.0.0   # its export, reachable from other machines",
        ],
    )
    complete(parser.add_argument("run_dir", help="a run directory written by 'seqframe run'"), DIRECTORY)
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)"
    )
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any free port, printed)")
    parser.add_argument("--runtime", choices=RUNTIMES, default="torch", help="torch (default), onnx or torchscript")
    complete(
        parser.add_argument("--export", metavar="DIR", help="the export's folder (default RUN_DIR/export/<runtime>)"),
        DIRECTORY,
    )
    parser.add_argument("--device", default="cpu", help="where to compute (default cpu; cuda, cuda:1, mps)")
    parser.add_argument(
        "--max-body-bytes", type=_positive, default=1_000_000, help="largest request body (default 1 MB)"
    )
    parser.add_argument("--max-inputs", type=_positive, default=256, help="most inputs per request (default 256)")
    parser.add_argument(
        "--max-batch",
        type=_positive,
        default=32,
        help="most inputs per model call when requests arriving together are merged (default 32)",
    )
    parser.add_argument(
        "--batch-wait-ms",
        type=float,
        default=5.0,
        help="how long a request waits for others to merge with (default 5 ms)",
    )
    parser.set_defaults(func=_cmd_serve)
