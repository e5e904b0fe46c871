"""Section ``plugins``: plain-Python cells through ``seqframe.build_rnn`` vs torch's fused
modules (batch 32, hidden 256, length 100, input 128, lengths drawn in ``[T/2, T]``),
forward+backward and forward.

The reference is the faster of torch's two ways of running variable lengths (the table
says which): ``torch packed`` (``pack_padded_sequence``, exact) and ``torch unpacked`` (the
module over the padded batch, outputs past each length zeroed: torch's unpacked kernel,
more steps, final states read at the padded end). Variants, so the table shows what each
technique gives (cells in :mod:`.cells`):

- ``loop``: the cell with automatic hoisting switched off (``auto_hoist = False``): the
  plain per-step loop over a shrinking batch;
- ``as written``: the cell with only ``forward(x_t, state)``, as a user writes it; the
  runtime hoists what it can (automatic fx-based hoisting, when the runtime has it);
- ``declared``: the cell declaring ``project_input``/``step_projected`` itself;
- ``compile``: only when ``seqframe.build_rnn`` has a ``compile`` parameter (see the hook).

Targets (cells as written): forward+backward, Elman <= 1.05x ``nn.RNN``, gated and projected
<= 1.3x ``nn.LSTM``; forward <= 1.10x.
"""

from __future__ import annotations

import functools
import inspect
import time
from typing import Any

import torch
from benchmarks.speed import cells
from benchmarks.speed.builtins import _lengths, passes, seqframe_forward, torch_forward, torch_unpacked_forward
from benchmarks.speed.harness import Settings, check, compare, max_abs_diff, summarise_against_fastest
from benchmarks.speed.report import SectionResult, fmt_foreign, fmt_ratio, md_table
from torch import nn

import seqframe
import seqframe.builtin.cells

__all__ = ["run"]

TARGET_FORWARD = 1.10
KINDS = {  # kind -> (torch module, its options, target (forward+backward), cells of the variants)
    "elman": (
        nn.RNN,
        {},
        1.05,
        {"loop": cells.LoopElmanCell, "as written": cells.PythonElmanCell, "declared": cells.SplitElmanCell},
    ),
    "gated": (
        nn.LSTM,
        {},
        1.3,
        {"loop": cells.LoopGatedCell, "as written": cells.PythonGatedCell, "declared": cells.SplitGatedCell},
    ),
    "projected": (
        nn.LSTM,
        {"proj_size": "H/2"},
        1.3,
        {
            "loop": cells.LoopProjectedCell,
            "as written": cells.PythonProjectedCell,
            "declared": cells.SplitProjectedCell,
            "built-in lstm": functools.partial(seqframe.builtin.cells.LSTMCell, proj_size="H/2"),
        },
    ),
}


def has_compile_option() -> bool:
    """Whether ``seqframe.build_rnn`` takes ``compile=`` (added later by the runtime's owner)."""
    return "compile" in inspect.signature(seqframe.build_rnn).parameters


def _path(rnn: nn.Module) -> str:
    """How the runtime runs the stack's first cell, and why (as ``seqframe plugins check`` says)."""
    from seqframe.rnn.hoist import describe_path

    return describe_path(rnn.layers[0][0])


def _resolved(options: dict[str, Any], hidden: int) -> dict[str, Any]:
    """Options with ``"H/2"`` replaced by half the hidden size."""
    return {k: hidden // 2 if v == "H/2" else v for k, v in options.items()}


def compile_kinds(settings: Settings) -> tuple[str, ...]:
    """Kinds that get the ``compile`` variant: every kind in the full mode, none in ``--quick``
    and ``--tiny`` (compiling one cell costs 30-90 s per grad mode on 2 busy CPU cores)."""
    return ("elman", "gated") if has_compile_option() and settings.mode == "full" else ()


def _compile_times(stacks: list[nn.Module]) -> list[dict[str, Any]]:
    from seqframe.rnn.runtime import compile_times  # each cell's own record

    return [entry for stack in stacks for entry in compile_times(stack)]


def _variants(
    kind: str, shape: dict[str, int], device: torch.device, compiled: bool
) -> tuple[nn.Module, dict[str, nn.Module]]:
    """The torch module and a seqframe stack per variant, all with the torch module's weights."""
    module, options, _, variant_cells = KINDS[kind]
    torch.manual_seed(0)
    ref = module(shape["I"], shape["H"], batch_first=True, **_resolved(options, shape["H"])).to(device)
    stacks: dict[str, nn.Module] = {}
    for name, cell in variant_cells.items():
        if isinstance(cell, functools.partial):
            cell = functools.partial(cell.func, **_resolved(cell.keywords, shape["H"]))
        stacks[name] = seqframe.build_rnn(cell, input_size=shape["I"], hidden_size=shape["H"])
    # HOOK(compile): when build_rnn has a `compile` option, time the "as written" cell compiled too.
    if compiled:
        stacks["compile"] = seqframe.build_rnn(
            variant_cells["as written"], input_size=shape["I"], hidden_size=shape["H"], compile=True
        )
    for name, stack in stacks.items():
        cells.copy_from_torch(stack, ref)
        stacks[name] = stack.to(device)
    return ref, stacks


def _first_calls(
    kind: str, ref: nn.Module, stacks: dict[str, nn.Module], x: torch.Tensor, lengths: torch.Tensor
) -> dict[str, dict[str, Any]]:
    """Each variant's first call (tracing, compiling) timed and checked against torch."""
    info: dict[str, dict[str, Any]] = {"checks": {}, "paths": {}, "first_call_s": {}}
    with torch.no_grad():
        expected = torch_forward(ref, x, lengths)
    for name, stack in list(stacks.items()):
        start = time.perf_counter()
        try:
            out = seqframe_forward(stack, x, lengths)
        except Exception as exc:
            if name != "compile":
                raise
            del stacks[name]
            info["failed"] = {name: f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}
            continue
        info["first_call_s"][name] = time.perf_counter() - start
        out[0].sum().backward()
        state = out[1][0] if kind == "elman" else out[1]
        info["checks"][name] = check(max_abs_diff((out[0], state), expected), 1e-4, "outputs and final state")
        info["paths"][name] = ("torch.compile'd chunks of steps; " if name == "compile" else "") + _path(stack)
    return info


def _table_rows(
    kind: str, pass_name: str, summary: dict[str, Any], info: dict[str, dict[str, Any]], target: float
) -> list[list[Any]]:
    times, vs = summary["times_ms"], summary["reference"].removeprefix("torch ")
    rows = []
    for name, verdict in info["checks"].items():
        rows.append(
            [
                kind,
                pass_name,
                name,
                info["paths"][name],
                f"{times['torch packed']:.2f}",
                f"{times['torch unpacked']:.2f}",
                f"{times[name]:.2f}",
                fmt_ratio(summary, name),
                vs,
                target if name == "as written" else "",
                fmt_foreign(summary),
                "ok" if verdict["ok"] else f"FAILED ({verdict['max_abs_diff']:.1e})",
            ]
        )
    return rows


def _compile_notes(settings: Settings, result: SectionResult, compiled: list[nn.Module]) -> None:
    if not has_compile_option():
        result.notes.append("compile variant: not available (build_rnn has no compile parameter)")
        return
    kinds = compile_kinds(settings)
    result.notes.append(
        f"compile variant (build_rnn(..., compile=True)): {', '.join(kinds) or 'none'} in this "
        "mode (full mode only); its first calls (compile) are not timed"
    )
    result.extra["compile_times"] = _compile_times(compiled)
    for entry in result.extra["compile_times"]:
        result.notes.append(
            "compile time: "
            + ", ".join(f"{k} {v:.1f} s" if isinstance(v, float) else f"{k} {v}" for k, v in entry.items())
        )


def run(settings: Settings, device: torch.device) -> SectionResult:
    """Both kinds, forward+backward and forward, every variant side by side."""
    result = SectionResult()
    shape = {"B": 4, "H": 8, "T": 6, "I": 8} if settings.tiny else {"B": 32, "H": 256, "T": 100, "I": 128}
    generator = torch.Generator().manual_seed(settings.seed)
    x = torch.randn(shape["B"], shape["T"], shape["I"], generator=generator).to(device)
    lengths = _lengths(shape["B"], shape["T"], generator)
    table, compiled = [], []
    for kind, (module, _, target, _) in KINDS.items():
        ref, stacks = _variants(kind, shape, device, kind in compile_kinds(settings))
        info = _first_calls(kind, ref, stacks, x, lengths)
        compiled += [stacks["compile"]] if "compile" in stacks else []
        result.notes += [f"{kind}: variant {name!r} left out: {why}" for name, why in info.pop("failed", {}).items()]
        for pass_name in ("forward+backward", "forward"):
            variants = {
                "torch packed": passes(torch_forward, ref, x, lengths)[pass_name],
                "torch unpacked": passes(torch_unpacked_forward, ref, x, lengths)[pass_name],
            }
            variants |= {name: passes(seqframe_forward, stack, x, lengths)[pass_name] for name, stack in stacks.items()}
            comparison = compare(variants, "torch packed", settings, device, warm_up=2)
            summary = summarise_against_fastest(comparison, ["torch packed", "torch unpacked"])
            goal = target if pass_name == "forward+backward" else TARGET_FORWARD
            result.rows.append(
                {
                    "kind": kind,
                    "torch_module": module.__name__,
                    "device": str(device),
                    "pass": pass_name,
                    **shape,
                    "lengths": "variable",
                    "target": f"<= {goal} (as written)",
                    **info,
                    **summary,
                }
            )
            table += _table_rows(kind, pass_name, summary, info, goal)
    result.markdown += [
        f"Device {device}; B {shape['B']}, H {shape['H']}, T {shape['T']}, input {shape['I']}, lengths drawn in "
        "[T/2, T]. Ratio = variant / the faster of torch packed and torch unpacked (padded batch, outputs masked), "
        "named in 'vs'. Cells written naturally (h, c = state, no state_size); projected: an LSTM with a "
        "projection to H/2 vs nn.LSTM(proj_size=H/2). Targets (as written): forward+backward, Elman <= 1.05x "
        f"nn.RNN, gated and projected <= 1.3x nn.LSTM; forward <= {TARGET_FORWARD}x.",
        "",
    ]
    result.markdown += md_table(
        [
            "cell",
            "pass",
            "variant",
            "how it runs",
            "torch packed ms",
            "torch unpacked ms",
            "variant ms",
            "ratio",
            "vs",
            "target",
            "foreign CPU",
            "check",
        ],
        table,
    )
    _compile_notes(settings, result, compiled)
    return result
