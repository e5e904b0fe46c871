"""``seqframe serve`` over real HTTP on 127.0.0.1 (a free port chosen by the server): 64
concurrent requests over 16 threads all answered, each equal to ``seqframe predict`` on
its inputs; every bad request a 4xx with a JSON error, the server still answering after
them; SIGTERM and SIGINT stop it with exit status 0."""

from __future__ import annotations

import contextlib
import functools
import http.client
import io
import json
import os
import re
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import seqframe
from seqframe.cli import main

pytestmark = pytest.mark.slow

TINY = [
    "model.topology.hidden_size=16",
    "model.embedding_dim=8",
    "task.seq_len=16",
    "train.batch_size=4",
    "train.steps=20",
    "train.eval_every=0",
    "train.sample=null",
]
PROMPTS = ["The ", "a", "def ", "It is", "x", "Python ", "in the ", "1"]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("serve") / "lm"
    seqframe.run("lm", TINY, out_dir=out, progress=False)
    seqframe.api.export(out, "onnx")
    return out


class Server:
    """``python -m seqframe serve`` in a subprocess; the port it printed."""

    def __init__(self, run: Path, *args: str) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "seqframe", "serve", str(run), "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        line = self.process.stdout.readline()  # printed once the socket listens
        found = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        assert found, line + self.process.stderr.read()
        self.port = int(found.group(1))

    def request(
        self, method: str, path: str, body: bytes | str | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            chunked = (headers or {}).get("Transfer-Encoding") == "chunked"
            connection.request(method, path, body=body, headers=headers or {}, encode_chunked=chunked)
            response = connection.getresponse()
            assert response.getheader("content-type") == "application/json"
            return response.status, json.loads(response.read())
        finally:
            connection.close()

    def predict(self, payload: dict) -> tuple[int, dict]:
        return self.request("POST", "/predict", json.dumps(payload))

    def stop(self, signum: int = signal.SIGTERM) -> int:
        self.process.send_signal(signum)
        try:
            return self.process.wait(timeout=30)
        finally:
            self.process.stdout.close()
            self.process.stderr.close()


@functools.cache
def _predict_one(run: Path, text: str, options: tuple[tuple[str, object], ...]) -> str:
    """What ``seqframe predict RUN TEXT --option value...`` prints, without its newline."""
    argv = ["predict", str(run), text]
    for key, value in options:
        argv += [f"--{key.replace('_', '-')}", str(value)]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(argv) == 0
    return printed.getvalue()[:-1]


def _expected(run: Path, inputs: list[str], **options) -> list[str]:
    """``seqframe predict``'s answer to each input (one call each: an output may hold
    newlines), without the prompt a language model's line starts with."""
    printed = [_predict_one(run, text, tuple(sorted(options.items()))) for text in inputs]
    if seqframe.load_run(run).task.continues_prompt:
        return [line[len(text) :] for text, line in zip(inputs, printed)]
    return printed


@pytest.mark.parametrize("runtime", ["torch", "onnx"])
def test_64_concurrent_requests_over_16_threads_are_all_answered_as_predict_answers(run: Path, runtime: str) -> None:
    requests = [
        {"inputs": [PROMPTS[i % 8], PROMPTS[(i * 3 + 1) % 8]][: 1 + i % 2], "temperature": 0, "max_tokens": 12}
        for i in range(60)
    ]
    requests += [{"inputs": ["The "], "temperature": 0.9, "seed": i, "max_tokens": 12} for i in range(4)]
    expected = {p: _expected(run, [p], temperature=0, max_tokens=12)[0] for p in PROMPTS}
    sampled = {i: _expected(run, ["The "], temperature=0.9, seed=i, max_tokens=12)[0] for i in range(4)}
    server = Server(run, "--runtime", runtime)
    try:
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(server.predict, requests))
        status, health = server.request("GET", "/health")
    finally:
        code = server.stop()
    assert status == 200 and health["task"] == "language_modelling" and health["runtime"] == runtime
    assert "model.topology.cell" in health["components"]
    for request, (status, answer) in zip(requests, answers):
        assert status == 200
        if request["temperature"]:
            assert answer["outputs"] == [sampled[request["seed"]]]
        else:
            assert answer["outputs"] == [expected[text] for text in request["inputs"]]
    assert code == 0


def test_bad_requests_get_a_4xx_with_a_json_error_and_the_server_goes_on(run: Path) -> None:
    server = Server(run, "--max-body-bytes", "2000", "--max-inputs", "4")
    try:
        cases = {
            "not json": server.request("POST", "/predict", "{inputs: ["),
            "not an object": server.request("POST", "/predict", "[1, 2]"),
            "not utf-8": server.request("POST", "/predict", b"\xff\xfe"),
            "no inputs": server.predict({"temperature": 0}),
            "inputs of numbers": server.predict({"inputs": [1, 2]}),
            "a string option": server.predict({"inputs": ["a"], "max_tokens": "ten"}),
            "a boolean option": server.predict({"inputs": ["a"], "seed": True}),
            "a negative top_k": server.predict({"inputs": ["a"], "top_k": -3}),
            "top_p above 1": server.predict({"inputs": ["a"], "top_p": 2.0}),
            "unknown option": server.predict({"inputs": ["a"], "temprature": 0.5}),
            "an option the task does not take": server.predict({"inputs": ["a"], "beam": 3}),
            "too many inputs": server.predict({"inputs": ["a"] * 5}),
            "oversize body": server.predict({"inputs": ["a" * 3000]}),
            "oversize chunked body": server.request(
                "POST", "/predict", iter([b'{"inputs": ["', b"a" * 3000, b'"]}']), {"Transfer-Encoding": "chunked"}
            ),
            "unknown path": server.request("GET", "/nowhere"),
            "wrong method": server.request("GET", "/predict"),
        }
        after = server.predict({"inputs": ["The "], "temperature": 0, "max_tokens": 5})
    finally:
        code = server.stop(signal.SIGINT)
    statuses = {name: status for name, (status, _) in cases.items()}
    assert statuses == {
        "not json": 400,
        "not an object": 400,
        "not utf-8": 400,
        "no inputs": 400,
        "inputs of numbers": 400,
        "a string option": 400,
        "a boolean option": 400,
        "a negative top_k": 400,
        "top_p above 1": 400,
        "unknown option": 400,
        "an option the task does not take": 400,
        "too many inputs": 413,
        "oversize body": 413,
        "oversize chunked body": 413,
        "unknown path": 404,
        "wrong method": 405,
    }
    assert all(isinstance(body.get("error"), str) and body["error"] for _, body in cases.values())
    assert "did you mean 'temperature'" in cases["unknown option"][1]["error"]
    assert (
        "option 'beam': task 'language_modelling' does not take it"
        in cases["an option the task does not take"][1]["error"]
    )
    assert cases["a negative top_k"][1]["error"] == "option 'top_k': expected an integer >= 1, got -3"
    assert "over the limit of 2000 bytes" in cases["oversize body"][1]["error"]
    assert after[0] == 200 and len(after[1]["outputs"]) == 1
    assert code == 0


def test_a_request_option_the_task_does_not_take_is_a_400_naming_it(tmp_path: Path) -> None:
    run = tmp_path / "m2o"
    seqframe.run(
        "many-to-one",
        [
            "model.topology.hidden_size=8",
            "model.embedding_dim=4",
            "train.batch_size=2",
            "train.steps=2",
            "train.eval_every=0",
        ],
        out_dir=run,
        progress=False,
    )
    server = Server(run)
    try:
        refused = server.predict({"inputs": ["vierundzwanzig"], "temperature": 0.5})
        answered = server.predict({"inputs": ["vierundzwanzig", "tjugofyra"]})
    finally:
        code = server.stop()
    assert refused[0] == 400 and "option 'temperature'" in refused[1]["error"]
    assert "does not take it (it takes no option)" in refused[1]["error"]
    assert answered == (200, {"outputs": _expected(run, ["vierundzwanzig", "tjugofyra"])})
    assert code == 0


def test_a_port_in_use_is_a_clear_error(run: Path) -> None:
    first = Server(run)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "seqframe", "serve", str(run), "--port", str(first.port)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        first.stop()
    assert done.returncode == 2 and f"cannot listen on 127.0.0.1:{first.port}" in done.stderr
    assert "Traceback" not in done.stderr
