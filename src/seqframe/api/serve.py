"""``seqframe serve``: a run answering over HTTP with a JSON API.

``GET /health`` -> ``200 {"status": "ok", "task", "runtime", "components"}``;
``POST /predict`` with ``{"inputs": ["..."], <options of seqframe predict>}`` ->
``200 {"outputs": ["..."]}`` (a language model's outputs are the continuations, without the
prompt). Requests are answered by one model thread that merges requests arriving together
(:mod:`seqframe.api.batching`). Every bad request gets a 4xx with ``{"error": "..."}`` and
the server goes on: invalid JSON, wrong types, unknown options (with a suggestion), a body
over the limit (``413``, checked from ``Content-Length`` before reading and while reading a
chunked one), too many inputs, an option the task refuses. A crash inside a prediction is a
``500`` with its message, never the end of the server.

The HTTP server is uvicorn (h11): an event loop that keeps thousands of slow or idle
connections without a thread each, a connection limit (``503`` beyond), keep-alive
timeouts, and a graceful stop. SIGINT and SIGTERM stop accepting, answer the requests in
flight, and return (exit status 0). Facade layer.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from seqframe.api.batching import Batcher
from seqframe.api.inference import predict
from seqframe.api.options import PREDICT_OPTIONS, option_problem, predict_options, unsupported_options
from seqframe.errors import SeqframeError, suggest
from seqframe.pipeline import Pipeline

__all__ = ["ServeConfig", "ServeApp", "serve"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class ServeConfig:
    """Limits of the server.

    Attributes:
        max_body_bytes: largest request body (default 1 MB); larger ones get ``413``.
        max_inputs: most inputs in one request (``413`` beyond).
        max_batch: most inputs per model call when requests are merged.
        batch_wait: seconds a request waits for others to merge with.
        max_connections: open connections beyond which new ones get ``503``.
    """

    max_body_bytes: int = 1_000_000
    max_inputs: int = 256
    max_batch: int = 32
    batch_wait: float = 0.005
    max_connections: int = 256


class _Reply(Exception):
    """A finished response: status and JSON payload."""

    def __init__(self, status: int, payload: dict[str, Any]) -> None:
        super().__init__(payload.get("error", ""))
        self.status, self.payload = status, payload


def _error(status: int, message: str) -> _Reply:
    return _Reply(status, {"error": message})


class ServeApp:
    """The ASGI application: routes, validation, and the hand-off to the :class:`Batcher`."""

    def __init__(self, pipeline: Pipeline, config: ServeConfig, runtime: str = "torch") -> None:
        self.pipeline, self.config, self.runtime = pipeline, config, runtime
        self.batcher = Batcher(
            lambda inputs, options: predict(pipeline, inputs, **options),
            max_batch=config.max_batch,
            wait=config.batch_wait,
        )
        self.health = {
            "status": "ok",
            "task": pipeline.task.name,
            "runtime": runtime,
            "components": pipeline.components,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        try:
            status, payload = 200, await self._route(scope, receive)
        except _Reply as reply:
            status, payload = reply.status, reply.payload
        except Exception as exc:  # a bug or a crash in a prediction: a 500, and the server goes on
            print(f"seqframe serve: {type(exc).__name__}: {exc}", file=sys.stderr)
            status, payload = 500, {"error": f"internal error: {type(exc).__name__}: {exc}"}
        body = json.dumps(payload).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _route(self, scope: Scope, receive: Receive) -> dict[str, Any]:
        path, method = scope["path"], scope["method"]
        routes = {"/health": "GET", "/predict": "POST"}
        if path not in routes:
            raise _error(404, f"no route {path!r}; the routes are GET /health and POST /predict")
        if method != routes[path]:
            raise _error(405, f"{path} takes {routes[path]}, not {method}")
        if path == "/health":
            return self.health
        request = self._parse(await self._body(scope, receive))
        inputs, options = self._check(request)
        try:
            outputs = await asyncio.wrap_future(self.batcher.submit(inputs, options))
        except SeqframeError as exc:
            raise _error(400, str(exc)) from exc
        return {"outputs": outputs}

    async def _body(self, scope: Scope, receive: Receive) -> bytes:
        limit = self.config.max_body_bytes
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        too_large = _error(413, f"request body over the limit of {limit} bytes; send fewer or shorter inputs")
        if length is not None and (not length.isdigit() or int(length) > limit):
            if not length.isdigit():
                raise _error(400, f"Content-Length must be a number of bytes, got {length.decode(errors='replace')!r}")
            raise too_large
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _error(400, "the client disconnected before sending the whole body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)

    @staticmethod
    def _parse(body: bytes) -> dict[str, Any]:
        try:
            request = json.loads(body.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise _error(400, f"the body is not UTF-8 ({exc})") from exc
        except ValueError as exc:
            raise _error(400, f"the body is not valid JSON ({exc})") from exc
        if not isinstance(request, dict):
            raise _error(400, f'expected a JSON object {{"inputs": [...], ...options}}, got {type(request).__name__}')
        return request

    def _check(self, request: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
        accepted = ["inputs", *PREDICT_OPTIONS]
        for key in request:
            if key not in accepted:
                close = suggest(key, accepted, cutoff=0.7)
                hint = f"; did you mean {close!r}?" if close else ""
                raise _error(400, f"unknown option {key!r}{hint} (accepted: {', '.join(accepted)})")
        inputs = request.get("inputs")
        if not isinstance(inputs, list) or not all(isinstance(text, str) for text in inputs):
            raise _error(400, f"'inputs' must be a list of strings, got {json.dumps(inputs)[:80]}")
        if len(inputs) > self.config.max_inputs:
            raise _error(413, f"{len(inputs)} inputs in one request; the limit is {self.config.max_inputs}")
        given = {}
        for key in PREDICT_OPTIONS:
            value = request.get(key)
            if problem := option_problem(key, value):
                raise _error(400, f"option {key!r}: {problem[:120]}")
            given[key] = value
        task = self.pipeline.task
        if refused := unsupported_options(task, given):
            takes = ", ".join(task.predict_options or ()) or "no option"
            raise _error(400, f"option {refused[0]!r}: task {task.name!r} does not take it (it takes {takes})")
        return inputs, predict_options(task, given)


def _server_class() -> Any:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, stopping on SIGINT/SIGTERM without re-raising the signal (exit 0)."""

        @contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return

            def stop(signum: int, frame: Any) -> None:
                self.force_exit = self.should_exit and signum == signal.SIGINT  # a second Ctrl-C: now
                self.should_exit = True

            previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    return Server


def serve(
    pipeline: Pipeline,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    runtime: str = "torch",
    config: ServeConfig | None = None,
    ready: Callable[[str, int], None] | None = None,
) -> int:
    """Serve ``pipeline`` until SIGINT or SIGTERM; returns 0.

    Args:
        pipeline: what answers (a loaded run, or its export: :func:`~seqframe.api.load_exported`).
        host: the address to listen on (default loopback only).
        port: the port (0: any free one, reported to ``ready``).
        runtime: reported by ``/health``.
        config: the limits (:class:`ServeConfig`).
        ready: called with the host and the bound port once the socket listens
            (connections made from then on are answered).
    """
    import uvicorn

    config = config or ServeConfig()
    app = ServeApp(pipeline, config, runtime)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(1024)  # connections wait in the backlog until the event loop accepts them
    except OSError as exc:
        sock.close()
        raise SeqframeError(
            f"serve: cannot listen on {host}:{port} ({exc.strerror or exc}); choose another --port or --host"
        ) from exc
    server = _server_class()(
        uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="on",
            limit_concurrency=config.max_connections,
            timeout_keep_alive=5,
        )
    )
    if ready is not None:
        ready(host, sock.getsockname()[1])
    try:
        server.run(sockets=[sock])
    finally:
        app.batcher.close()
        sock.close()
    return 0
