"""Command line of the speed suite; see :mod:`benchmarks.speed` for usage."""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

if "--tiny" in sys.argv[1:]:  # CI runners are shared: idle OpenMP threads must not spin (read when torch loads)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch
from benchmarks.speed import SECTIONS
from benchmarks.speed.harness import CpuMeter, Settings
from benchmarks.speed.report import SectionResult, machine, write_report

RESULTS = Path(__file__).resolve().parents[1] / "results"
MULTI30K = Path(__file__).resolve().parents[3] / "shared" / "data" / "multi30k"  # ../shared/data/multi30k


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.speed",
        description="seqframe side by side with plain PyTorch (ratios = seqframe time / torch time); writes "
        "speed[-MODE].md and .json. Sections and method: benchmarks/speed/__init__.py.",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="fewer shapes and repetitions (under 2 minutes)")
    mode.add_argument("--tiny", action="store_true", help="tiny shapes, 1 repetition: checks the code works")
    parser.add_argument("--only", default="", help=f"comma-separated sections ({', '.join(SECTIONS)})")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for speed[-MODE].md/.json")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument(
        "--device", choices=("auto", "cpu", "cuda"), default="auto", help="auto: CPU, and CUDA too when available"
    )
    parser.add_argument(
        "--reps",
        type=int,
        default=None,
        help="repetitions per comparison (default: 5 full, 3 quick); more on a busy machine",
    )
    parser.add_argument(
        "--max-reruns",
        type=int,
        default=None,
        help="re-runs of repetitions that other processes disturbed, per comparison (default: 5 full, 1 quick)",
    )
    parser.add_argument(
        "--multi30k",
        type=Path,
        default=MULTI30K,
        help="folder with train.en.gz/train.de.gz (the data section skips Multi30k without it)",
    )
    return parser


def _devices(choice: str) -> list[torch.device]:
    if choice == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: CUDA is not available here")
    if choice == "auto":
        return [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    return [torch.device(choice)]


def _runner(name: str, args: argparse.Namespace, scratch: Path) -> Callable[[Settings, torch.device], SectionResult]:
    import importlib

    module = importlib.import_module(f"benchmarks.speed.{SECTIONS[name]}")
    if name == "training":
        return lambda settings, device: module.run(settings, device, scratch=scratch)
    if name == "data":
        return lambda settings, device: module.run(settings, device, multi30k=args.multi30k, scratch=scratch)
    return module.run  # type: ignore[no-any-return]


def _run_section(
    name: str,
    run: Callable[[Settings, torch.device], SectionResult],
    settings: Settings,
    devices: list[torch.device],
    start: float,
) -> SectionResult:
    """One section on every device (``data`` on the CPU only), merged; warnings become notes."""
    merged = SectionResult()
    section_start = time.perf_counter()
    for device in devices if name != "data" else [torch.device("cpu")]:
        print(f"[{time.perf_counter() - start:6.1f} s] {name} on {device} ...", file=sys.stderr, flush=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            part = run(settings, device)
        merged.rows += part.rows
        if len(devices) > 1 and name != "data":
            merged.markdown += [f"### {device}", ""]
        merged.markdown += part.markdown + [""]
        merged.notes += part.notes + sorted({f"warning: {w.message}" for w in caught})
        merged.skipped += part.skipped
        if part.extra:
            merged.extra[str(device)] = part.extra
    merged.wall_s = time.perf_counter() - section_start
    return merged


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected sections and write the report; returns the exit status."""
    args = _parser().parse_args(argv)
    mode = "tiny" if args.tiny else "quick" if args.quick else "full"
    settings = Settings.for_mode(mode)
    if args.reps is not None:
        settings = dataclasses.replace(settings, reps=max(1, args.reps))
    if args.max_reruns is not None:
        settings = dataclasses.replace(settings, max_reruns=max(0, args.max_reruns))
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(SECTIONS)
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        raise SystemExit(f"--only: unknown section(s) {', '.join(unknown)}; known: {', '.join(SECTIONS)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    elif mode == "tiny":
        torch.set_num_threads(1)  # tiny ops on a shared machine: spinning OpenMP threads only add stalls
    devices = _devices(args.device)
    command = "python -m benchmarks.speed " + shlex.join(sys.argv[1:] if argv is None else list(argv))
    meter, start = CpuMeter(), time.perf_counter()
    meter.start()
    sections: dict[str, SectionResult] = {}
    with tempfile.TemporaryDirectory(prefix="seqframe-speed-") as tmp:
        for name in names:
            sections[name] = _run_section(name, _runner(name, args, Path(tmp)), settings, devices, start)
    foreign = meter.stop()
    meta = machine(command)
    meta.update(
        mode=mode,
        sections=names,
        devices=[str(d) for d in devices],
        wall_s=time.perf_counter() - start,
        foreign_cpu_overall=f"{100 * foreign:.0f}%" if foreign == foreign else "n/a",
    )
    stem = "speed" if mode == "full" else f"speed-{mode}"
    json_path, md_path = write_report(args.out, stem, meta, sections)
    print(md_path.read_text(encoding="utf-8"))
    print(f"wrote {md_path} and {json_path} in {meta['wall_s']:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
