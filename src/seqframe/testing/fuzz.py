"""Recipe fuzzing: every mutated recipe gets an answer, never a traceback or a hang.

:func:`check_validate` checks what ``seqframe validate`` answers to a
:class:`~seqframe.testing.mutations.FuzzCase` (accepted, or a
:class:`~seqframe.errors.SeqframeError` of exit status 2, within a time bound);
:func:`check_run` trains an accepted case two tiny steps in a fresh process (``seqframe
run``: exit 0 or 2); :func:`campaign` does both for N cases drawn from a seed, as
``python -m benchmarks.fuzz`` and the test suite do.

Needs ``hypothesis`` (installed by the ``test`` extra). Facade layer.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from seqframe.api.recipes import validate
from seqframe.errors import SeqframeError
from seqframe.registry import Registry
from seqframe.testing.mutations import FuzzCase, recipe_cases, value_at

__all__ = ["TINY", "Outcome", "campaign", "check_run", "check_validate", "tiny_overrides"]

TINY = {
    "model.topology.hidden_size": 8,
    "model.embedding_dim": 4,
    "model.decoder.hidden_size": 8,
    "task.seq_len": 8,
    "task.eval_decode": 4,
    "train.batch_size": 2,
    "train.eval_every": 0,
    "train.sample.max_tokens": 3,
}
"""What :func:`check_run` sets, where the recipe has the key and no mutation touched it
(besides ``train.steps=2`` and ``train.log_every=1``, always: two steps, each logged)."""


@dataclass
class Outcome:
    """What a command answered: ``accepted``, ``rejected`` (a one-line error, exit 2),
    ``traceback``, ``hang`` or, for a run stopped after its first step, ``slow``."""

    kind: str
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class Hang(BaseException):
    """The time bound of one case ran out (a BaseException: nothing may swallow it)."""


@contextlib.contextmanager
def _time_bound(seconds: float) -> Iterator[None]:
    def expired(signum: int, frame: object) -> None:
        raise Hang(f"no answer after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check_validate(case: FuzzCase, folder: Path, registry: Registry, timeout_s: float = 20.0) -> Outcome:
    """What ``seqframe validate`` answers for ``case`` (in this process, main thread only):
    ``accepted`` (and the resolved recipe dumps, as a run directory stores it), ``rejected``
    (a SeqframeError of exit status 2), ``traceback`` (anything else) or ``hang``."""
    path = case.write(folder)
    try:
        with _time_bound(timeout_s):
            recipe = validate(path, case.overrides, registry=registry)
            recipe.to_yaml()
    except Hang as exc:
        return Outcome("hang", str(exc))
    except SeqframeError as exc:
        return Outcome("rejected" if exc.exit_code == 2 else "traceback", str(exc).splitlines()[0][:300])
    except Exception as exc:
        return Outcome("traceback", f"{type(exc).__name__}: {exc}"[:300])
    return Outcome("accepted")


def tiny_overrides(case: FuzzCase) -> list[str]:
    """The :data:`TINY` settings that fit ``case``: keys its recipe has (``train.*`` always)
    that no mutation touched."""
    data = yaml.safe_load(case.text) if case.text else {}
    chosen = ["train.steps=2", "train.log_every=1"]
    for key, value in TINY.items():
        parts = key.split(".")
        present = value_at(data, parts) is not None or (parts[0] == "train" and len(parts) == 2)
        if present and not any(key == t or key.startswith(t + ".") or t.startswith(key + ".") for t in case.touched):
            chosen.append(f"{key}={value}")
    return chosen


def check_run(case: FuzzCase, folder: Path, timeout_s: float = 180.0) -> Outcome:
    """Train ``case`` two tiny steps with ``python -m seqframe run`` in a fresh process:
    ``accepted`` (exit 0), ``rejected`` (exit 2 with a message), ``traceback``, ``slow``
    (still running at the time bound, after its first step) or ``hang`` (before it)."""
    path, out = case.write(folder), folder / "run"
    command = [
        sys.executable,
        "-m",
        "seqframe",
        "run",
        str(path),
        *case.overrides,
        *tiny_overrides(case),
        "--out",
        str(out),
        "--quiet",
    ]
    env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
    env.pop("SEQFRAME_DISABLE_PLUGIN_AUTOLOAD", None)
    try:
        done = subprocess.run(
            command,
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        steps = _logged_steps(out / "metrics.jsonl")
        return Outcome("slow" if steps else "hang", f"no answer after {timeout_s} s; steps logged: {steps}")
    last = (done.stderr.strip().splitlines() or [""])[-1][:300]
    if done.returncode in (0, 2) and "Traceback" not in done.stderr:
        return Outcome("accepted" if done.returncode == 0 else "rejected", last)
    return Outcome("traceback", f"exit {done.returncode}: {last}", {"stderr": done.stderr[-4000:]})


def _logged_steps(path: Path) -> int:
    with contextlib.suppress(OSError, ValueError):
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        return sum(1 for row in rows if row.get("split") == "train")
    return 0


def campaign(
    cases: int,
    folder: Path,
    registry: Registry,
    *,
    seed: int = 0,
    runs: int = 0,
    recipes: Mapping[str, str] | None = None,
    run_timeout_s: float = 180.0,
    log: Any = None,
) -> dict[str, Any]:
    """Validate ``cases`` mutated recipes (drawn by Hypothesis from ``seed``; the same seed
    draws the same cases), then train ``runs`` of the accepted ones, spread over them, two
    tiny steps each. Returns the counts and every traceback, hang or slow run (``findings``)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as seeded

    found: list[dict[str, Any]] = []
    validated: dict[str, int] = {"accepted": 0, "rejected": 0, "traceback": 0, "hang": 0}
    accepted: dict[tuple[str, str, tuple[str, ...]], FuzzCase] = {}

    @seeded(seed)
    @settings(
        max_examples=cases,
        database=None,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(recipe_cases(recipes, registry))
    def one(case: FuzzCase) -> None:
        scratch = folder / f"v{sum(validated.values())}"
        scratch.mkdir()
        outcome = check_validate(case, scratch, registry)
        validated[outcome.kind] += 1
        if outcome.kind in ("traceback", "hang"):
            found.append({"command": "validate", "outcome": outcome.kind, "detail": outcome.detail, **_describe(case)})
        elif outcome.kind == "accepted":
            accepted.setdefault((case.recipe, case.text, case.overrides), case)
        if log and sum(validated.values()) % 250 == 0:
            log(f"validated {sum(validated.values())}/{cases}: {validated}")

    one()
    ran: dict[str, int] = {"sampled": 0, "exit_0": 0, "exit_2": 0, "traceback": 0, "hang": 0, "slow": 0}
    pool = list(accepted.values())
    for index, case in enumerate(pool[:: max(1, len(pool) // runs)][:runs] if runs else []):
        scratch = folder / f"r{index}"
        scratch.mkdir()
        outcome = check_run(case, scratch, run_timeout_s)
        ran["sampled"] += 1
        ran[{"accepted": "exit_0", "rejected": "exit_2"}.get(outcome.kind, outcome.kind)] += 1
        if outcome.kind in ("traceback", "hang", "slow"):  # slow: listed, but within the promise
            found.append(
                {
                    "command": "run",
                    "outcome": outcome.kind,
                    "detail": outcome.detail,
                    **outcome.extra,
                    **_describe(case),
                }
            )
        if log:
            log(f"run {index + 1}: {outcome.kind} ({case.recipe}: {'; '.join(case.mutations)})")
    return {
        "cases": sum(validated.values()),
        "validate": validated,
        "distinct_accepted": len(pool),
        "runs": ran,
        "findings": found,
    }


def _describe(case: FuzzCase) -> dict[str, Any]:
    return {
        "recipe": case.recipe,
        "mutations": list(case.mutations),
        "overrides": list(case.overrides),
        "text": case.text,
    }
