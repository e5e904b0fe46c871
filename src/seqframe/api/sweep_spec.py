"""What a sweep runs: ``KEY=v1,v2,...`` words parsed into swept keys and fixed overrides,
their cartesian product, the seeds, and each run's folder. Facade layer; imports no torch.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from seqframe.errors import SeqframeError

__all__ = ["SweepPlan", "SweepSetting", "parse_sweep", "split_values"]

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_OPEN, _CLOSE = "[{(", "]})"


def split_values(text: str) -> list[str]:
    """Split ``text`` on the commas that are not inside brackets, braces or quotes:
    ``"gru,lstm"`` -> two values, ``"[a,b]"`` and ``"{name: lstm, proj_size: 4}"`` -> one."""
    parts, depth, quote, start = [], 0, "", 0
    for i, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in _OPEN:
            depth += 1
        elif char in _CLOSE:
            depth = max(depth - 1, 0)
        elif char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [part.strip() for part in parts]


@dataclass(frozen=True)
class SweepSetting:
    """One point of the cartesian product: the swept values (as written) and its folder name."""

    values: tuple[tuple[str, str], ...]
    slug: str

    def overrides(self) -> list[str]:
        """``KEY=VALUE`` words that select this setting."""
        return [f"{key}={value}" for key, value in self.values]

    def parsed(self) -> dict[str, Any]:
        """The swept values read as YAML (``"1e-3"`` -> 0.001, ``"gru"`` -> ``"gru"``)."""
        out = {}
        for key, value in self.values:
            try:
                out[key] = yaml.safe_load(value)
            except yaml.YAMLError:
                out[key] = value
        return out


@dataclass(frozen=True)
class SweepPlan:
    """Every run of a sweep: settings x seeds, each in ``<out>/<setting slug>/seed-<seed>``."""

    swept: tuple[str, ...]
    fixed: tuple[str, ...]
    settings: tuple[SweepSetting, ...]
    seeds: tuple[int, ...]
    seed_fixed: bool  # the single seed comes from the recipe or a fixed train.seed override

    def run_dir(self, out: Path, setting: SweepSetting, seed: int) -> Path:
        """The run directory of ``setting`` with ``seed``."""
        return out / setting.slug / f"seed-{seed}"

    def overrides(self, setting: SweepSetting, seed: int) -> list[str]:
        """All overrides of one run: fixed, then swept, then the seed."""
        words = [*self.fixed, *setting.overrides()]
        return words if self.seed_fixed else [*words, f"train.seed={seed}"]


def _fail(message: str) -> SeqframeError:
    return SeqframeError(f"sweep: {message}")


def _words(settings: Sequence[str] | Mapping[str, Any]) -> list[str]:
    if isinstance(settings, Mapping):  # {key: [values]} from Python: each value written as YAML
        words = []
        for key, values in settings.items():
            values = list(values) if isinstance(values, (list, tuple)) else [values]
            dumped = [
                yaml.safe_dump(v, default_flow_style=True, width=10**6).strip().removesuffix("...").strip()
                for v in values
            ]
            words.append(f"{key}={','.join(dumped)}")
        return words
    if isinstance(settings, str):
        raise _fail(f"settings must be a list of KEY=VALUE words, got the string {settings!r}")
    return list(settings)


def _readable(value: str) -> str:
    """A value for a folder name: ``{name: indrnn, recurrent_max_abs: 1.0}`` -> ``indrnn-recurrent_max_abs=1.0``."""
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("name"), str):
        value = "-".join([parsed["name"], *(f"{k}={v}" for k, v in parsed.items() if k != "name")])
    return re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9._+=-]", "_", value)).strip("_") or "_"


def _slug(keys: Sequence[str], values: Sequence[str]) -> str:
    short = [key.rsplit(".", 1)[-1] for key in keys]
    names = short if len(set(short)) == len(short) else list(keys)
    text = "__".join(f"{name}={_readable(value)}" for name, value in zip(names, values))
    if not text:
        return "base"
    if len(text) > 80:
        text = text[:70] + "-" + hashlib.sha1(text.encode()).hexdigest()[:8]
    return text


def _parse_word(word: str, seen: set[str]) -> tuple[str, list[str] | None]:
    """One word -> ``(key, values)``, values None for ``~KEY``; ``seen`` collects the keys."""
    key = word[1:] if word.startswith("~") else word.partition("=")[0]
    if not word.startswith("~") and "=" not in word:
        raise _fail(f"{word!r} is not KEY=VALUE or KEY=v1,v2,... (e.g. model.topology.cell=elman,gru)")
    if not _KEY.fullmatch(key):
        raise _fail(f"{word!r}: {key!r} is not a dotted recipe key (e.g. model.topology.cell)")
    if key in seen:
        raise _fail(f"{key!r} is given twice; list every value once: {key}=v1,v2")
    seen.add(key)
    if word.startswith("~"):
        return key, None
    values = split_values(word.partition("=")[2])
    if any(not value for value in values):
        raise _fail(f"{word!r}: empty value for {key!r}; write {key}=v1,v2 without empty items")
    if len(values) > len(set(values)):
        raise _fail(f"{word!r}: a value of {key!r} is listed twice")
    return key, values


def _seed_numbers(seeds: int, fixed: Sequence[str]) -> tuple[int, ...]:
    """``0 .. seeds - 1``, or the one seed a fixed ``train.seed=N`` names."""
    given = [word.partition("=")[2] for word in fixed if word.startswith("train.seed=")]
    value = yaml.safe_load(given[0]) if given and seeds == 1 else None
    return (value,) if isinstance(value, int) and not isinstance(value, bool) else tuple(range(seeds))


def parse_sweep(settings: Sequence[str] | Mapping[str, Any], seeds: int = 1) -> SweepPlan:
    """Parse sweep words: ``KEY=v1,v2,...`` is swept, ``KEY=VALUE`` and ``~KEY`` apply to every run.

    Args:
        settings: the words, or a mapping ``{key: [values]}`` (each value written as YAML).
        seeds: seeds per setting (0 .. seeds - 1, set as ``train.seed``).

    Raises:
        SeqframeError: a malformed word, an empty value, a key given twice, a bad ``seeds``,
            or ``train.seed`` given together with ``seeds > 1`` (one line each).
    """
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise _fail(f"--seeds: expected a number of seeds >= 1, got {seeds!r}")
    swept: dict[str, list[str]] = {}
    fixed: list[str] = []
    seen: set[str] = set()
    for word in _words(settings):
        key, values = _parse_word(word, seen)
        if values is None or len(values) == 1:
            fixed.append(word if values is None else f"{key}={values[0]}")
        else:
            swept[key] = values
    if seeds > 1 and "train.seed" in seen:
        raise _fail(f"train.seed is given and --seeds {seeds} sets it to 0..{seeds - 1}; drop one of them")
    keys = list(swept)
    points = tuple(
        SweepSetting(tuple(zip(keys, combo)), _slug(keys, combo)) for combo in itertools.product(*swept.values())
    )
    if len({s.slug for s in points}) < len(points):
        raise _fail(
            "two settings would share a folder name (values that differ only in punctuation); write them differently"
        )
    return SweepPlan(
        tuple(keys), tuple(fixed), points, _seed_numbers(seeds, fixed), seeds == 1 and "train.seed" in seen
    )
