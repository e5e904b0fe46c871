"""Section ``generation``: language-model sampling and batched beam search.

1. Sampling: ``seqframe.predict(pipeline, prompts, max_tokens=N, temperature=1, seed=0)``
   on the ``lm`` recipe's model (untrained: the speed does not depend on the weights),
   which keeps the recurrent state and feeds one token per step, vs a raw-torch
   incremental loop (``nn.Embedding`` -> ``nn.LSTM`` carrying ``(h, c)`` -> ``nn.Linear`` ->
   softmax -> multinomial) with the same weights, the same prompts (``eos`` + prompt, as
   seqframe starts a sample) and the same generator seed, at batch 1 and batch 32 (prompts
   of equal length). The two must produce the same text. Target: throughput >= 0.9x.
2. Beam search (information): ``seqframe.predict(pipeline, sources, beam=5)`` on the
   ``translate`` recipe's model over 32 sources in one call (one batched search of 32 x 5
   rows) vs 32 calls of one source each.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from benchmarks.speed.harness import Settings, check, compare, summarise
from benchmarks.speed.report import SectionResult, fmt_foreign, fmt_ratio, md_table
from benchmarks.speed.training_cases import TINY_LM as TINY
from torch import nn

import seqframe

__all__ = ["ReferenceLM", "raw_generate", "run"]


class ReferenceLM(nn.Module):
    """The hand-written model: ``nn.Embedding`` -> ``nn.LSTM`` -> ``nn.Linear``."""

    def __init__(self, pipeline: seqframe.Pipeline) -> None:
        super().__init__()
        model = pipeline.model
        topology = model.topology
        self.embedding = nn.Embedding(*model.embedding.weight.shape)
        self.lstm = nn.LSTM(topology.input_size, topology.hidden_size, topology.num_layers, batch_first=True)
        self.head = nn.Linear(model.head.proj.in_features, model.head.proj.out_features)
        with torch.no_grad():  # seqframe's initial weights, so both runs compute the same losses
            self.embedding.weight.copy_(model.embedding.weight)
            for layer, (cell,) in enumerate(topology.layers):
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    getattr(self.lstm, f"{name}_l{layer}").copy_(getattr(cell, name))
            self.head.load_state_dict(model.head.proj.state_dict())

    def forward(self, ids: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        out, state = self.lstm(self.embedding(ids), state)
        return self.head(out), state


@torch.no_grad()
def raw_generate(
    model: ReferenceLM,
    tokenizer: Any,
    prompts: Sequence[str],
    max_tokens: int,
    temperature: float,
    seed: int,
    device: torch.device,
) -> list[str]:
    """A hand-written incremental sampler: one LSTM call per token, state carried."""
    generator = torch.Generator(device=device).manual_seed(seed)
    ids = torch.tensor([[tokenizer.eos_id, *tokenizer.encode(p)] for p in prompts], device=device)  # equal lengths
    logits, state = model(ids)
    last = logits[:, -1]
    tokens = []
    for _ in range(max_tokens):
        probs = torch.softmax(last.float() / temperature, -1)
        token = torch.multinomial(probs, 1, generator=generator)  # (B, 1)
        tokens.append(token)
        logits, state = model(token, state)
        last = logits[:, -1]
    return [tokenizer.decode(row) for row in torch.cat(tokens, 1).tolist()]


def _sampling(settings: Settings, device: torch.device, result: SectionResult) -> list[list[Any]]:
    tokens = 5 if settings.tiny else 100 if settings.quick else 300
    pipeline = seqframe.build(
        "lm", ["train.sample=null", f"train.device={device.type}"] + (TINY if settings.tiny else [])
    )
    pipeline.model.to(device).eval()
    reference = ReferenceLM(pipeline).to(device).eval()
    tokenizer = pipeline.tokenizer
    table = []
    for batch in (1, 32):
        prompts = ["The "] if batch == 1 else [f"The {chr(ord('a') + i % 26)}{i // 26}"[:5] for i in range(batch)]
        options = {"max_tokens": tokens, "temperature": 1.0, "seed": 0}
        ours = seqframe.predict(pipeline, prompts, **options)
        theirs = raw_generate(reference, tokenizer, prompts, tokens, 1.0, 0, device)
        same = sum(a == b for a, b in zip(ours, theirs))
        verdict = check(float(len(prompts) - same), 0.0, "sampled texts differing (same seed)")
        variants = {
            "torch": lambda p=prompts: raw_generate(reference, tokenizer, p, tokens, 1.0, 0, device),
            "seqframe": lambda p=prompts: seqframe.predict(pipeline, p, **options),
        }
        summary = summarise(compare(variants, "torch", settings, device))
        tok_s = {name: batch * tokens / (ms / 1e3) for name, ms in summary["times_ms"].items()}
        per_token_ms = {name: ms / tokens for name, ms in summary["times_ms"].items()}
        result.rows.append(
            {
                "what": "sampling",
                "device": str(device),
                "batch": batch,
                "tokens": tokens,
                "tokens_per_s": tok_s,
                "ms_per_step": per_token_ms,
                "throughput_ratio": 1 / summary["ratios"]["seqframe"],
                "target": "throughput >= 0.9",
                "check": verdict,
                **summary,
            }
        )
        table.append(
            [
                f"sampling, batch {batch}",
                f"{tokens} tokens per row",
                f"{tok_s['torch']:,.0f}",
                f"{tok_s['seqframe']:,.0f}",
                fmt_ratio(summary, "seqframe"),
                f"{1 / summary['ratios']['seqframe']:.3f}",
                fmt_foreign(summary),
                "ok" if verdict["ok"] else f"FAILED ({same}/{len(prompts)} equal)",
            ]
        )
    return table


def _beam(settings: Settings, device: torch.device, result: SectionResult) -> list[list[Any]]:
    count = 4 if settings.tiny else 32
    options: dict[str, Any] = {"beam": 5}
    if settings.tiny or settings.quick:
        options["max_tokens"] = 5 if settings.tiny else 20
    pipeline = seqframe.build("translate", [f"train.device={device.type}"])
    pipeline.model.to(device).eval()
    sources = [pair["source"] for pair in pipeline.task.inputs(pipeline.data, "test")[:count]]
    batched = seqframe.predict(pipeline, sources, **options)
    single = [seqframe.predict(pipeline, [s], **options)[0] for s in sources]
    same = sum(a == b for a, b in zip(batched, single))
    verdict = check(float(count - same), 0.0, "translations differing between batched and single calls")
    variants = {
        "single": lambda: [seqframe.predict(pipeline, [s], **options) for s in sources],
        "batched": lambda: seqframe.predict(pipeline, sources, **options),
    }
    summary = summarise(compare(variants, "single", settings, device))
    result.rows.append(
        {"what": "beam search", "device": str(device), "sources": count, **options, "check": verdict, **summary}
    )
    limit = options.get("max_tokens", pipeline.task.max_len)
    return [
        [
            f"beam 5, {count} sources (translate recipe, untrained)",
            f"up to {limit} tokens",
            f"{summary['times_ms']['single']:.0f} ms ({count} calls)",
            f"{summary['times_ms']['batched']:.0f} ms (1 call)",
            fmt_ratio(summary, "batched"),
            f"{1 / summary['ratios']['batched']:.1f}x faster",
            fmt_foreign(summary),
            "ok" if verdict["ok"] else f"{same}/{count} equal",
        ]
    ]


def run(settings: Settings, device: torch.device) -> SectionResult:
    """Sampling at batch 1 and 32, then beam search batched vs one source per call."""
    result = SectionResult()
    table = _sampling(settings, device, result)
    result.markdown += [
        f"Device {device}. Sampling: the lm recipe's model, temperature 1, same seed on both sides; "
        "tokens/s counts every row's tokens. Target: seqframe throughput >= 0.9x the raw loop.",
        "",
    ]
    result.markdown += md_table(
        [
            "case",
            "length",
            "torch tokens/s",
            "seqframe tokens/s",
            "time ratio",
            "throughput ratio",
            "foreign CPU",
            "check",
        ],
        table,
    )
    beam = _beam(settings, device, result)
    result.markdown += ["", "Beam search, batched vs one call per source (information; ratio = batched / single):", ""]
    result.markdown += md_table(
        ["case", "length", "single calls", "batched", "time ratio", "speed-up", "foreign CPU", "check"], beam
    )
    return result
