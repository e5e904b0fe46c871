"""Checkpoint averaging: what ``seqframe average --last N`` changes, measured.

1. ``--lm``: the shipped ``lm`` recipe (its 700 steps, a checkpoint every ``--every`` steps,
   the last ones kept), then the validation loss (nats/char) and bits per character of the
   final weights against the average of the last N checkpoints, for each N of ``--last``.
2. ``--multi30k DIR``: the ``multi30k`` recipe for ``--steps`` steps (a short run; the full
   60-minute measurement is issue 17's), then greedy BLEU and chrF on test_2016_flickr (1,000
   sentences) of the final weights against the averages.

Every variant is scored by the same code on the same split; the run and the averaged runs
are ordinary run directories under ``--work``. Results go to ``benchmarks/results/average_*``.

    python benchmarks/average.py --lm
    python benchmarks/average.py --multi30k ../shared/data/multi30k --steps 800 --every 100 --last 3 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch

import seqframe
from seqframe.builtin.metrics import bleu, chrf

MULTI30K_FILES = {
    "source_path": "train.en.gz",
    "target_path": "train.de.gz",
    "valid_source_path": "val.en.gz",
    "valid_target_path": "val.de.gz",
    "test_source_path": "test_2016_flickr.en.gz",
    "test_target_path": "test_2016_flickr.de.gz",
}


def _machine() -> str:
    return f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"


def _train(recipe: str, overrides: list[str], out: Path) -> float:
    start = time.perf_counter()
    seqframe.run(recipe, overrides, out_dir=out, progress=False, overwrite=out.exists())
    return time.perf_counter() - start


def _averages(run: Path, lasts: list[int]) -> dict[str, Path]:
    variants = {"final weights": run}
    for last in lasts:
        out = run.with_name(f"{run.name}-avg{last}")
        shutil.rmtree(out, ignore_errors=True)
        variants[f"average of the last {last}"] = seqframe.api.average(run, last, out=out)
    return variants


def lm(args: argparse.Namespace) -> dict[str, Any]:
    run = args.work / "lm"
    overrides = [
        f"train.checkpoint.every={args.every}",
        f"train.checkpoint.keep_last={max(args.last)}",
        "train.sample=null",
        *args.overrides,
    ]
    seconds = _train("lm", overrides, run)
    rows = {}
    for name, folder in _averages(run, args.last).items():
        metrics = seqframe.api.evaluate(folder, split="valid")
        rows[name] = {"loss": metrics["loss"], "bpc": metrics["bpc"]}
        print(json.dumps({name: rows[name]}), flush=True)
    return {"recipe": "lm", "overrides": overrides, "train_s": round(seconds, 1), "scores": rows}


def _read(path: Path) -> list[str]:
    import gzip

    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


def multi30k(args: argparse.Namespace) -> dict[str, Any]:
    folder = args.multi30k.resolve()
    run = args.work / "multi30k"
    overrides = [
        *(f"data.{k}={folder / v}" for k, v in MULTI30K_FILES.items()),
        f"train.steps={args.steps}",
        f"train.checkpoint.every={args.every}",
        f"train.checkpoint.keep_last={max(args.last)}",
        "train.eval_every=0",
        "task.eval_decode=0",
        *args.overrides,
    ]
    seconds = _train("multi30k", overrides, run)
    sources, refs = (
        _read(folder / MULTI30K_FILES["test_source_path"]),
        _read(folder / MULTI30K_FILES["test_target_path"]),
    )
    rows = {}
    for name, path in _averages(run, args.last).items():
        hyps = seqframe.predict(seqframe.load_run(path), sources, beam=1)
        rows[name] = {"bleu": bleu(hyps, refs).score, "chrf": chrf(hyps, refs).score}
        print(json.dumps({name: rows[name]}), flush=True)
    return {
        "recipe": "multi30k",
        "overrides": overrides[len(MULTI30K_FILES) :],
        "train_s": round(seconds, 1),
        "test": "test_2016_flickr, greedy",
        "scores": rows,
    }


def _table(result: dict[str, Any]) -> str:
    keys = list(next(iter(result["scores"].values())))
    lines = ["| weights | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    lines += [
        f"| {name} | " + " | ".join(f"{v:.4f}" if k in ("loss", "bpc") else f"{v:.2f}" for k, v in s.items()) + " |"
        for name, s in result["scores"].items()
    ]
    return "\n".join(lines) + (
        f"\n\n{result['recipe']} recipe, {' '.join(result['overrides'])}; training "
        f"{result['train_s'] / 60:.1f} min wall; {result['machine']}; {result['date']}.\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lm", action="store_true", help="measure on the lm recipe")
    parser.add_argument("--multi30k", type=Path, metavar="DIR", help="measure on Multi30k from the files in DIR")
    parser.add_argument("--steps", type=int, default=800, help="Multi30k training steps")
    parser.add_argument("--every", type=int, default=100, help="checkpoint every N steps")
    parser.add_argument("--last", type=int, nargs="+", default=[3, 5], help="average the last N checkpoints")
    parser.add_argument("--work", type=Path, default=Path("runs/average-bench"), help="where the runs go")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("overrides", nargs="*", help="recipe overrides, KEY=VALUE")
    args = parser.parse_args()
    torch.set_num_threads(2)
    for flag, measure in (("lm", lm), ("multi30k", multi30k)):
        if getattr(args, flag):
            result = {**measure(args), "date": time.strftime("%Y-%m-%d"), "machine": _machine()}
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / f"average_{flag}.json").write_text(json.dumps(result, indent=2) + "\n")
            (args.out / f"average_{flag}.md").write_text(_table(result))
            print(_table(result), end="")


if __name__ == "__main__":
    main()
