"""Translation quality: why a translator must read the whole sentence, and Multi30k.

Two modes:

1. Ablation (default). The shipped ``translate`` recipe (English number words to German,
   character level) trained four ways with the same data, seed and number of steps:
   encoder unidirectional or bidirectional, decoder with or without attention. The
   unidirectional encoder gets twice the hidden size, so every encoder hands the same width
   (128) to the bridge and the attention. Reports test-set exact match, character BLEU and
   chrF (greedy decoding; sacrebleu) and training time, side by side.

2. Multi30k (``--multi30k DIR``). The shipped ``multi30k`` recipe on ``DIR``'s
   ``train``/``val``/``test_2016_flickr`` ``.en.gz``/``.de.gz`` files, trained for
   ``--cpu-minutes`` of training (process CPU time over all threads, evaluation excluded):
   a short pilot run measures the CPU time of a step and ``train.steps`` is set from it, so
   the recipe's decaying learning-rate schedule ends at the budget (which is also a hard
   cap). The beam-search length penalty is then chosen on the validation split, and
   test_2016_flickr is scored greedy and with beam search: sacrebleu BLEU (13a tokenizer,
   detokenized text against the raw references), chrF, and how many outputs repeat a word
   or a subword piece 4 or more times in a row.

Each mode writes a Markdown table and a JSON file under ``--out`` (default
``benchmarks/results``). ``--quick`` runs tiny settings to check the script works (minutes,
not figures).

Usage:
    python benchmarks/translation.py [--steps N] [--threads 2] [KEY=VALUE ...]
    python benchmarks/translation.py --multi30k ../shared/data/multi30k --cpu-minutes 60 [--beam 5]
    python benchmarks/translation.py --quick [--multi30k DIR] --out /tmp/bench
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle threads sleep: CPU time counts work, not spinning
import torch

import seqframe
from seqframe.builtin.metrics import bleu, chrf
from seqframe.engine.callbacks import Callback

VARIANTS = {  # name -> overrides of the translate recipe
    "unidirectional, no attention": [
        "model.topology.bidirectional=false",
        "model.topology.hidden_size=128",
        "model.attention=none",
    ],
    "bidirectional, no attention": ["model.attention=none"],
    "unidirectional, attention": ["model.topology.bidirectional=false", "model.topology.hidden_size=128"],
    "bidirectional, attention (recipe)": [],
}
QUICK = ["train.steps=20", "data.max_number=400", "data.valid_size=40", "data.test_size=40", "task.eval_decode=40"]
MULTI30K_FILES = {
    "source_path": "train.en.gz",
    "target_path": "train.de.gz",
    "valid_source_path": "val.en.gz",
    "valid_target_path": "val.de.gz",
    "test_source_path": "test_2016_flickr.en.gz",
    "test_target_path": "test_2016_flickr.de.gz",
}
MULTI30K_QUICK = [
    "tokenizer.vocab_size=400",
    "target_tokenizer.vocab_size=400",
    "tokenizer.input_sentence_size=3000",
    "target_tokenizer.input_sentence_size=3000",
    "model.embedding_dim=16",
    "model.topology.hidden_size=16",
    "model.decoder.hidden_size=16",
    "task.max_len=20",
]
PILOT_STEPS, PILOT_SKIP = 60, 10  # batches differ in length: average over 50 steps after the first, slower 10
ALPHAS = (0.6, 1.0, 1.4, 1.8)  # length penalties tried on the validation split


def _machine() -> str:
    return f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"


def _write(out: Path, stem: str, result: dict[str, Any], table: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / f"{stem}.md").write_text(table)
    print(table, end="")
    print(f"wrote {out / stem}.json and .md")


def ablation(args: argparse.Namespace) -> None:
    """Train the four encoder/attention variants of the translate recipe; score the test split."""
    common = [
        *(QUICK if args.quick else []),
        *([f"train.steps={args.steps}"] if args.steps else []),
        "train.eval_every=0",
        "task.eval_decode=100000",
        *args.overrides,
    ]
    rows = []
    for name, overrides in VARIANTS.items():
        start = time.perf_counter()
        run = seqframe.run(
            "translate",
            [*common, *overrides],
            out_dir=args.out / "runs" / name.split(" (")[0].replace(", ", "-").replace(" ", "_"),
            progress=False,
            overwrite=True,
        )
        seconds = time.perf_counter() - start
        test = seqframe.api.evaluate(run.pipeline, split="test")
        params = sum(p.numel() for p in run.pipeline.model.parameters())
        rows.append(
            {
                "variant": name,
                "steps": run.step,
                "run_s": round(seconds, 1),
                "parameters": params,
                **{k: test[k] for k in ("exact_match", "bleu", "chrf", "loss")},
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    lines = [
        "| encoder, decoder | test exact match | test char BLEU | test chrF | test loss | parameters | run time |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['variant']} | {100 * r['exact_match']:.1f}% | {r['bleu']:.1f} | {r['chrf']:.1f} | "
        f"{r['loss']:.3f} | {r['parameters']:,} | {r['run_s'] / 60:.1f} min |"
        for r in rows
    ]
    note = (
        f"\n{rows[0]['steps']} steps each, same data and seed; greedy decoding; run time = data, training "
        f"and evaluation; {_machine()}; {time.strftime('%Y-%m-%d')}.\n"
    )
    result = {"date": time.strftime("%Y-%m-%d"), "machine": _machine(), "common_overrides": common, "rows": rows}
    _write(args.out, "translation_quick" if args.quick else "translation", result, "\n".join(lines) + "\n" + note)


class _Budget(Exception):
    pass


class TrainingBudget(Callback):
    """Stops training once ``seconds`` of this process's CPU time (all threads) have gone to training.

    CPU time rather than wall time, so a busy shared machine slows the run down without shrinking
    the amount of training it gets; the wall time is recorded beside it. Evaluations are excluded.
    """

    def __init__(self, seconds: float, skip: int = 0) -> None:
        self.seconds, self.skip, self.spent, self.wall, self.step, self.timed = seconds, skip, 0.0, 0.0, 0, 0
        self._last = self._last_wall = 0.0

    def on_train_start(self, total_steps: int, start_step: int) -> None:
        self._last, self._last_wall = time.process_time(), time.perf_counter()

    def on_train_batch_end(self, step: int, row: dict[str, Any]) -> None:
        now, wall = time.process_time(), time.perf_counter()
        if step > self.skip:  # a pilot skips its first, slower steps
            self.spent, self.wall, self.timed = (
                self.spent + now - self._last,
                self.wall + wall - self._last_wall,
                self.timed + 1,
            )
        self.step, self._last, self._last_wall = step, now, wall
        if self.spent >= self.seconds:
            raise _Budget


def _read_lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


def repeats(pieces: list[Any], run: int = 4) -> bool:
    """Whether some item of ``pieces`` occurs ``run`` or more times in a row."""
    count = 1
    for before, item in itertools.pairwise(pieces):
        count = count + 1 if item == before else 1
        if count >= run:
            return True
    return False


def degenerate(hyps: list[str], tokenizer: Any, run: int = 4) -> int:
    """Hypotheses with a word (whitespace token) or a subword piece (the target tokenizer's
    ids) repeated ``run`` or more times in a row: the looping of "Ein Boririririri"."""
    return sum(repeats(h.split(), run) or repeats(tokenizer.encode(h), run) for h in hyps)


def _pilot_steps(overrides: list[str], minutes: float) -> tuple[int, float]:
    """Training steps that fit ``minutes`` of CPU time, from a short pilot run (so that a
    decaying schedule reaches its end at the budget), and the pilot's CPU seconds per step."""
    pipeline = seqframe.build("multi30k", [*overrides, f"train.steps={PILOT_STEPS}", "task.eval_decode=0"])
    clock = TrainingBudget(float("inf"), skip=PILOT_SKIP)
    seqframe.train(pipeline, progress=False, callbacks=[clock])
    per_step = clock.spent / max(clock.timed, 1)
    return max(1, int(0.97 * minutes * 60 / per_step)), per_step


def _score(
    pipeline: Any, sources: list[str], refs: list[str], beam: int, alpha: float, ngram: int = 0
) -> dict[str, Any]:
    start = time.perf_counter()
    hyps = seqframe.predict(pipeline, sources, beam=beam, length_penalty=alpha, no_repeat_ngram=ngram)
    score, char = bleu(hyps, refs), chrf(hyps, refs)
    loops = degenerate(hyps, pipeline.tokenizers.target)
    return {
        "bleu": score.score,
        "bleu_lowercase": bleu(hyps, refs, lowercase=True).score,  # as the published anchor was scored
        "chrf": char.score,
        "signature": score.signature,
        "repeats4": loops,
        "decode_s": round(time.perf_counter() - start, 1),
        "examples": hyps[:3],
    }


def _tune(pipeline: Any, folder: Path, beam: int, quick: bool) -> tuple[float, int, dict[str, float]]:
    """The length penalty, then whether to block repeated trigrams (``no_repeat_ngram`` 0 or 3),
    whose beam search scores best on the validation split (never the test)."""
    sources, refs = (_read_lines(folder / MULTI30K_FILES[k]) for k in ("valid_source_path", "valid_target_path"))
    if quick:
        sources, refs = sources[:20], refs[:20]
    tried = {f"lp {alpha}": _score(pipeline, sources, refs, beam, alpha)["bleu"] for alpha in ALPHAS}
    alpha = max(ALPHAS, key=lambda a: tried[f"lp {a}"])
    tried[f"lp {alpha}, no_repeat_ngram 3"] = _score(pipeline, sources, refs, beam, alpha, 3)["bleu"]
    ngram = 3 if tried[f"lp {alpha}, no_repeat_ngram 3"] > tried[f"lp {alpha}"] else 0
    print(json.dumps({"valid_bleu": tried}), flush=True)
    return alpha, ngram, tried


def multi30k(args: argparse.Namespace) -> None:
    """Train the multi30k recipe for a training-time budget, tune the length penalty on the
    validation split, then score test_2016_flickr greedy and with beam search."""
    folder = args.multi30k.resolve()
    paths = [f"data.{key}={folder / name}" for key, name in MULTI30K_FILES.items()]
    minutes = 0.3 if args.quick else args.cpu_minutes
    overrides = [
        *paths,
        "train.eval_every=0",
        "train.checkpoint.every=0",
        *(MULTI30K_QUICK if args.quick else []),
        *args.overrides,
    ]
    budget = TrainingBudget(minutes * 60)
    if args.load is not None:  # decode a run trained before (--save): no training here
        pipeline, steps, per_step = seqframe.load_run(args.load), 0, None
    else:
        if args.steps:  # planned by the caller: a pilot on a busy machine misjudges a step's CPU time
            steps, per_step = args.steps, None
        else:
            steps, per_step = _pilot_steps(overrides, minutes)
        print(
            json.dumps({"pilot_cpu_s_per_step": None if per_step is None else round(per_step, 4), "steps": steps}),
            flush=True,
        )
        pipeline = seqframe.build("multi30k", [*overrides, f"train.steps={steps}"])
        try:
            seqframe.train(pipeline, progress=False, callbacks=[budget])
        except _Budget:
            pass
        if args.save is not None:
            seqframe.api.save_run(pipeline, args.save)
    alpha, ngram, tried = _tune(pipeline, folder, args.beam, args.quick)
    sources = _read_lines(folder / MULTI30K_FILES["test_source_path"])
    refs = _read_lines(folder / MULTI30K_FILES["test_target_path"])
    if args.quick:
        sources, refs = sources[:20], refs[:20]
    scores: dict[str, Any] = {}
    decodings = {"beam 1, no blocking": (1, 0), "beam 1": (1, ngram), f"beam {args.beam}": (args.beam, ngram)}
    for name, (beam, blocking) in decodings.items():
        if name == "beam 1" and not blocking:
            continue  # the same as without blocking
        scores[name] = {"no_repeat_ngram": blocking, **_score(pipeline, sources, refs, beam, alpha, blocking)}
        print(
            json.dumps({name: {k: scores[name][k] for k in ("bleu", "bleu_lowercase", "chrf", "repeats4")}}), flush=True
        )
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": _machine(),
        "cpu_minutes": minutes,
        "loaded": None if args.load is None else str(args.load),
        "planned_steps": steps,
        "steps": budget.step,
        "pilot_cpu_s_per_step": None if per_step is None else round(per_step, 4),
        "train_cpu_s": round(budget.spent, 1),
        "train_wall_s": round(budget.wall, 1),
        "valid_bleu": tried,
        "length_penalty": alpha,
        "no_repeat_ngram": ngram,
        "test": "test_2016_flickr",
        "sentences": len(refs),
        "overrides": overrides[len(paths) :],
        "scores": scores,
    }
    lines = [
        "| decoding | test_2016_flickr BLEU | BLEU lowercased | chrF | outputs with a word or piece 4+ times in a row |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {name} | {s['bleu']:.1f} | {s['bleu_lowercase']:.1f} | {s['chrf']:.1f} | {s['repeats4']} of {len(refs)} |"
        for name, s in scores.items()
    ]
    note = (
        (
            f"\nmulti30k run loaded from {args.load}"
            if args.load is not None
            else f"\nmulti30k recipe, {budget.step} steps in {budget.spent / 60:.1f} CPU-minutes of training "
            f"({budget.wall / 60:.1f} min wall)"
        )
        + f"; length penalty {alpha} and no_repeat_ngram {ngram} chosen on the "
        f"validation split (beam {args.beam} BLEU there: {', '.join(f'{a}: {b:.1f}' for a, b in tried.items())}); "
        f"sacrebleu {scores['beam 1, no blocking']['signature']}; {_machine()}; {time.strftime('%Y-%m-%d')}.\n"
    )
    _write(args.out, "multi30k_quick" if args.quick else "multi30k", result, "\n".join(lines) + "\n" + note)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--steps",
        type=int,
        help="training steps of each ablation variant (default: the recipe's); Multi30k: the steps the schedule "
        "plans, instead of a pilot run's estimate (the CPU budget still caps training)",
    )
    parser.add_argument("--multi30k", type=Path, metavar="DIR", help="run the Multi30k mode on the files in DIR")
    parser.add_argument(
        "--cpu-minutes",
        type=float,
        default=60.0,
        help="Multi30k: training budget in process CPU minutes, all threads (60 = 30 min on 2 cores)",
    )
    parser.add_argument("--beam", type=int, default=5, help="Multi30k: beam size scored beside greedy decoding")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--save", type=Path, help="Multi30k: also save the trained run in this new directory")
    parser.add_argument(
        "--load", type=Path, metavar="RUN", help="Multi30k: no training, decode the run saved by --save in RUN"
    )
    parser.add_argument("--quick", action="store_true", help="tiny settings: check that the script works")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("overrides", nargs="*", help="recipe overrides, KEY=VALUE")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.multi30k is not None:
        multi30k(args)
    else:
        ablation(args)


if __name__ == "__main__":
    main()
