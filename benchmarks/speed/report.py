"""What the suite writes: the JSON document, the Markdown report and the machine description."""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

__all__ = ["SectionResult", "fmt_ratio", "machine", "md_table", "write_report"]


@dataclass
class SectionResult:
    """One section's figures: JSON rows, Markdown lines, notes, and what was skipped."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    markdown: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "notes": self.notes,
            "skipped": self.skipped,
            "extra": self.extra,
            "wall_s": self.wall_s,
        }


def md_table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    """A GitHub Markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def fmt_ratio(summary: dict[str, Any], variant: str) -> str:
    """``1.02 (0.98..1.05)``: the median ratio of ``variant`` and its range over repetitions."""
    ratio = summary["ratios"][variant]
    low, high = summary["ratio_ranges"][variant]
    return f"{ratio:.2f} ({low:.2f}..{high:.2f})" if summary["repetitions"] > 1 else f"{ratio:.2f}"


def fmt_foreign(summary: dict[str, Any]) -> str:
    """Worst foreign CPU share of the kept repetitions, in percent."""
    value = summary.get("foreign_cpu_max")
    return "n/a" if value is None or math.isnan(value) else f"{100 * value:.0f}%"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gb() -> float | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            return int(handle.readline().split()[1]) / 1024**2
    except (OSError, ValueError, IndexError):
        return None


def machine(command: str) -> dict[str, Any]:
    """Where and how the figures were measured."""
    cuda = torch.cuda.is_available()
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": command,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "memory_gb": _memory_gb(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if cuda else None,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "mkldnn": torch.backends.mkldnn.is_available(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "argv": sys.argv,
    }


def write_report(
    out_dir: Path, stem: str, meta: dict[str, Any], sections: dict[str, SectionResult]
) -> tuple[Path, Path]:
    """Write ``<stem>.json`` and ``<stem>.md`` into ``out_dir``; returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    doc = {"meta": meta, "sections": {name: result.to_json() for name, result in sections.items()}}
    json_path, md_path = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
    json_path.write_text(json.dumps(doc, indent=1, default=_jsonable) + "\n", encoding="utf-8")
    lines = [
        f"# seqframe speed vs plain PyTorch ({meta['mode']} mode)",
        "",
        f"- date: {meta['date']}; command: `{meta['command']}`",
        f"- machine: {meta['cpu']}, {meta['logical_cpus']} logical CPUs, {meta['memory_gb']:.0f} GB"
        if meta.get("memory_gb")
        else f"- machine: {meta['cpu']}",
        f"- torch {meta['torch']}, {meta['threads']} threads, CUDA: {meta['cuda'] or 'none'}; "
        f"OMP_WAIT_POLICY={meta['omp_wait_policy'] or '(unset)'}; Python {meta['python']}; "
        f"wall time {meta['wall_s']:.0f} s",
        f"- foreign CPU (other processes) over the whole run: {meta['foreign_cpu_overall']}",
        "- ratio = seqframe time / torch time, median over repetitions of the per-repetition ratio "
        "(min..max in brackets); each repetition runs the variants interleaved in a shuffled order.",
        "",
    ]
    for name, result in sections.items():
        lines += [f"## {name}", ""]
        lines += result.markdown or ["(no figures)"]
        if result.skipped:
            lines += [""] + [f"- skipped: {item}" for item in result.skipped]
        if result.notes:
            lines += [""] + [f"- {note}" for note in result.notes]
        lines += ["", f"_section wall time {result.wall_s:.0f} s_", ""]
    md_path.write_text("\n".join(lines), encoding="utf-8")
    return json_path, md_path


def _jsonable(value: Any) -> Any:
    if isinstance(value, (Path, torch.device, torch.dtype)):
        return str(value)
    raise TypeError(f"not JSON-able: {type(value).__name__}")
