"""Section ``builtins``: seqframe's ``elman``/``lstm``/``gru`` through ``seqframe.build_rnn``
against ``nn.RNN``/``nn.LSTM``/``nn.GRU`` holding the same weights.

Each case runs forward (under ``no_grad``) and forward+backward (``out.sum().backward()``
into every parameter), with equal lengths (both sides unpacked) and with lengths drawn in
``[T/2, T]``. With variable lengths torch is timed both ways a PyTorch user would run it,
and seqframe is compared with the faster of the two (the table says which):

- ``torch packed``: ``pack_padded_sequence`` -> module -> ``pad_packed_sequence`` (exact);
- ``torch unpacked``: the module over the padded batch, outputs past each length zeroed
  (the unpacked fused kernel; it runs the padding steps too, and its final states and
  backward direction read the padding, so it is a speed reference, not an exact one).

seqframe runs ``rnn(x, lengths)``. Before timing, seqframe's outputs, final states and
gradients are compared with packed torch's. Targets: equal lengths <= 1.05 x torch;
variable lengths <= 1.10 x the faster torch option (geometric mean over the grid).
"""

from __future__ import annotations

import collections
import itertools
import math
import statistics
from collections.abc import Callable, Iterator
from typing import Any

import torch
from benchmarks.speed.harness import Settings, check, compare, max_abs_diff, summarise_against_fastest
from benchmarks.speed.report import SectionResult, fmt_foreign, fmt_ratio, md_table
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import seqframe

__all__ = ["run"]

TARGET = 1.05
TARGET_VARIABLE = 1.10
TORCH_VARIANTS = ("torch packed", "torch unpacked")
TORCH_MODULES = {"elman": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def _cases(settings: Settings) -> Iterator[dict[str, Any]]:
    """(cell, layers, bidirectional, B, H, T) of the mode, input size included."""
    if settings.tiny:
        grid: list[tuple[int, int, int]] = [(4, 8, 5)]
        topo_shape, size = (4, 8, 5), 8
    elif settings.quick:
        grid, topo_shape, size = [(32, 256, 50)], (32, 256, 50), 128
    else:
        grid = list(itertools.product((32, 64), (128, 256, 512), (50, 200)))
        topo_shape, size = (32, 256, 100), 128
    for cell in ("elman", "lstm", "gru"):
        for batch, hidden, steps in grid:
            yield {"cell": cell, "layers": 1, "bidirectional": False, "B": batch, "H": hidden, "T": steps, "I": size}
        for layers, bidirectional in ((2, False), (1, True)):
            batch, hidden, steps = topo_shape
            yield {
                "cell": cell,
                "layers": layers,
                "bidirectional": bidirectional,
                "B": batch,
                "H": hidden,
                "T": steps,
                "I": size,
            }


def build_pair(case: dict[str, Any], device: torch.device) -> tuple[nn.Module, nn.Module]:
    """A torch module and a seqframe ``build_rnn`` stack with the torch module's weights."""
    torch.manual_seed(0)
    ref = TORCH_MODULES[case["cell"]](
        case["I"], case["H"], num_layers=case["layers"], batch_first=True, bidirectional=case["bidirectional"]
    )
    ours = seqframe.build_rnn(
        case["cell"],
        input_size=case["I"],
        hidden_size=case["H"],
        num_layers=case["layers"],
        bidirectional=case["bidirectional"],
    )
    with torch.no_grad():
        for layer, cells in enumerate(ours.layers):
            for direction, cell in enumerate(cells):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    getattr(cell, name).copy_(getattr(ref, name + suffix))
    return ref.to(device), ours.to(device)


def _lengths(batch: int, steps: int, generator: torch.Generator) -> Tensor:
    """CPU int64 lengths drawn uniformly in ``[ceil(T/2), T]``, one of them ``T``."""
    lengths = torch.randint(math.ceil(steps / 2), steps + 1, (batch,), generator=generator)
    lengths[0] = steps
    return lengths


def torch_forward(ref: nn.Module, x: Tensor, lengths: Tensor | None) -> tuple[Tensor, Any]:
    """The plain-torch way: the module on padded input, or packed for variable lengths."""
    if lengths is None:
        return ref(x)
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, state = ref(packed)
    padded, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return padded, state


def torch_unpacked_forward(ref: nn.Module, x: Tensor, lengths: Tensor | None) -> tuple[Tensor, Any]:
    """The fast plain-torch way: the module over the padded batch, outputs past each length zeroed."""
    out, state = ref(x)
    if lengths is None:
        return out, state
    mask = torch.arange(x.shape[1], device=x.device) < lengths.to(x.device).unsqueeze(1)
    return out * mask.unsqueeze(-1).to(out.dtype), state


def seqframe_forward(ours: nn.Module, x: Tensor, lengths: Tensor | None) -> tuple[Tensor, Any]:
    """seqframe's way: the topology with optional lengths."""
    return ours(x, lengths)


def _as_tuple(state: Any) -> tuple[Tensor, ...]:
    return state if isinstance(state, tuple) else (state,)


def passes(
    forward: Callable[[nn.Module, Tensor, Tensor | None], Any], module: nn.Module, x: Tensor, lengths: Tensor | None
) -> dict[str, Callable[[], Any]]:
    """The forward (no_grad) and forward+backward callables of one side."""

    def fwd() -> Any:
        with torch.no_grad():
            return forward(module, x, lengths)

    def fwd_bwd() -> Any:
        module.zero_grad(set_to_none=True)
        out, _ = forward(module, x, lengths)
        out.sum().backward()

    return {"forward": fwd, "forward+backward": fwd_bwd}


def verify(ref: nn.Module, ours: nn.Module, x: Tensor, lengths: Tensor | None, tolerance: float) -> dict[str, Any]:
    """Outputs, final states and parameter gradients of both sides agree."""
    out_t, state_t = torch_forward(ref, x, lengths)
    out_s, state_s = seqframe_forward(ours, x, lengths)
    diff = max(max_abs_diff(out_t, out_s), max_abs_diff(_as_tuple(state_t), _as_tuple(state_s)))
    ref.zero_grad(set_to_none=True)
    ours.zero_grad(set_to_none=True)
    out_t.sum().backward()
    out_s.sum().backward()
    grads_t = [p.grad for p in ref.parameters()]
    grads_s = [
        getattr(cell, n).grad
        for cells in ours.layers
        for cell in cells
        for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    ]
    # Gradients of out.sum() grow with B*T, and the two sides sum over steps in different
    # orders (packed kernel vs the unpacked one span by span on CPU): compare them relative
    # to their largest entry.
    scale = max(1.0, max(float(g.abs().max()) for g in grads_t))
    diff = max(diff, max_abs_diff(grads_t, grads_s) / scale)
    return check(diff, tolerance, "outputs, final state, gradients (relative to the largest)")


def _topology(case: dict[str, Any]) -> str:
    return "bidirectional" if case["bidirectional"] else f"{case['layers']}-layer"


def _timed(
    ref: nn.Module, ours: nn.Module, x: Tensor, lengths: Tensor | None, settings: Settings, device: torch.device
) -> dict[str, dict[str, Any]]:
    """Each pass timed: against torch's module (equal lengths) or the faster torch option."""
    sides = {"seqframe": passes(seqframe_forward, ours, x, lengths)}
    if lengths is None:
        sides["torch"] = passes(torch_forward, ref, x, lengths)
    else:
        sides["torch packed"] = passes(torch_forward, ref, x, lengths)
        sides["torch unpacked"] = passes(torch_unpacked_forward, ref, x, lengths)
    summaries = {}
    for name in ("forward", "forward+backward"):
        comparison = compare({side: fns[name] for side, fns in sides.items()}, "seqframe", settings, device)
        references = ["torch"] if lengths is None else list(TORCH_VARIANTS)
        summaries[name] = summarise_against_fastest(comparison, references)
    return summaries


def run(settings: Settings, device: torch.device) -> SectionResult:
    """Every case of the mode, both passes, equal and variable lengths."""
    result = SectionResult()
    generator = torch.Generator().manual_seed(settings.seed)
    tolerance = 1e-4 if device.type == "cuda" else 2e-5
    table = []
    for case in _cases(settings):
        ref, ours = build_pair(case, device)
        x = torch.randn(case["B"], case["T"], case["I"], generator=generator).to(device)
        for lengths_kind in ("equal", "variable"):
            lengths = None if lengths_kind == "equal" else _lengths(case["B"], case["T"], generator)
            verdict = verify(ref, ours, x, lengths, tolerance * math.sqrt(case["T"]))
            target = TARGET if lengths is None else TARGET_VARIABLE
            for name, summary in _timed(ref, ours, x, lengths, settings, device).items():
                row = {
                    **case,
                    "device": str(device),
                    "lengths": lengths_kind,
                    "pass": name,
                    "check": verdict,
                    "target": f"<= {target}",
                    **summary,
                }
                result.rows.append(row)
                times = summary["times_ms"]
                table.append(
                    [
                        case["cell"],
                        _topology(case),
                        case["B"],
                        case["H"],
                        case["T"],
                        lengths_kind,
                        name,
                        f"{times.get('torch', times.get('torch packed')):.2f}",
                        f"{times['torch unpacked']:.2f}" if "torch unpacked" in times else "-",
                        f"{times['seqframe']:.2f}",
                        fmt_ratio(summary, "seqframe"),
                        summary["reference"].removeprefix("torch").strip() or "-",
                        fmt_foreign(summary),
                        "ok" if verdict["ok"] else f"FAILED ({verdict['max_abs_diff']:.1e})",
                    ]
                )
    kernels = "cuDNN" if device.type == "cuda" else "oneDNN/ATen"
    result.markdown += [
        f"Device: {device} (torch: {kernels} kernels); input size {128 if not settings.tiny else 8}. "
        f"Ratio = seqframe / torch; with variable lengths against the faster of torch packed and "
        f"torch unpacked (padded batch, outputs masked), named in 'vs'. Targets: equal lengths "
        f"<= {TARGET}, variable lengths <= {TARGET_VARIABLE} (geo-mean).",
        "",
    ]
    result.markdown += _summary_table(result.rows) + [""]
    result.markdown += md_table(
        [
            "cell",
            "topology",
            "B",
            "H",
            "T",
            "lengths",
            "pass",
            "torch (packed) ms",
            "torch unpacked ms",
            "seqframe ms",
            "ratio",
            "vs",
            "foreign CPU",
            "check",
        ],
        table,
    )
    return result


def _summary_table(rows: list[dict[str, Any]]) -> list[str]:
    """Geometric-mean ratio per cell, pass and lengths, the worst case, how many exceed the
    target, and which torch option was the faster reference how often."""
    out = []
    key = lambda r: (r["cell"], r["pass"], r["lengths"])  # noqa: E731
    for (cell, name, lengths), group in itertools.groupby(sorted(rows, key=key), key=key):
        group = list(group)
        ratios = [r["ratios"]["seqframe"] for r in group]
        geo = math.exp(statistics.fmean(math.log(v) for v in ratios))
        target = TARGET if lengths == "equal" else TARGET_VARIABLE
        over = sum(v > target for v in ratios)
        refs = collections.Counter(r["reference"].removeprefix("torch").strip() or "torch" for r in group)
        against = ", ".join(f"{k} {v}" for k, v in sorted(refs.items()))
        out.append([cell, name, lengths, len(ratios), against, f"{geo:.3f}", f"{max(ratios):.3f}", target, over])
    return md_table(
        [
            "cell",
            "pass",
            "lengths",
            "cases",
            "faster torch (cases)",
            "geo-mean ratio",
            "worst ratio",
            "target",
            "cases over",
        ],
        out,
    )
