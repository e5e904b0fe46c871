"""A cell package written outside this repository, against the documented contract only, is
discovered through its installed entry point and passes the conformance checks; cells
written naturally (``h, c = state``, no ``state_size``, state tensors of different widths,
an output narrower than the memory) train through every task; broken ones are reported
before anything trains, naming their distribution, and by ``seqframe plugins check``.

The packages are "installed" the way pip leaves them on disk: a module plus a ``.dist-info``
folder with ``METADATA`` and ``entry_points.txt`` on ``sys.path`` (no pip in tests).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

import seqframe
from seqframe.api.preflight import plugin_errors
from seqframe.cli import main
from seqframe.errors import PluginError
from seqframe.interfaces import CellError
from seqframe.plugins import load_plugin_manager
from seqframe.registry import Registry
from seqframe.rnn.hoist import SlowPathWarning
from seqframe.testing import check_bidirectional_alignment, check_padding_invariance

CELL_MODULE = '''
"""A leaky tanh cell, written only against seqframe's documented contract."""
import torch
from torch import nn
import seqframe


class LeakyCell(seqframe.Cell):
    """Leaky Elman cell: h' = (1 - a) h + a tanh(W x + U h + b)."""

    def __init__(self, input_size, hidden_size, leak=0.5):
        super().__init__(input_size, hidden_size)
        self.inp = nn.Linear(input_size, hidden_size)
        self.rec = nn.Linear(hidden_size, hidden_size, bias=False)
        self.leak = leak

    def forward(self, x_t, state):
        (h,) = state
        h = (1 - self.leak) * h + self.leak * torch.tanh(self.inp(x_t) + self.rec(h))
        return h, (h,)


@seqframe.hookimpl
def seqframe_cells():
    return {"leaky": LeakyCell}
'''


SAMPLES = Path(__file__).parent / "plugins_samples"


def install(folder: Path, name: str, version: str, source: str) -> None:
    """Write ``seqframe_<name>.py`` and its ``.dist-info`` (entry point ``name``) into ``folder``."""
    (folder / f"seqframe_{name}.py").write_text(source)
    info = folder / f"seqframe_{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: seqframe-{name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[seqframe]\n{name} = seqframe_{name}\n")


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Registry:
    install(tmp_path, "leaky", "0.3.0", CELL_MODULE)
    install(tmp_path, "natural", "0.2.0", (SAMPLES / "natural_cells.py").read_text())
    install(tmp_path, "broken", "0.1.0", (SAMPLES / "broken_cells.py").read_text())
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("SEQFRAME_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    for name in ("leaky", "natural", "broken"):
        monkeypatch.delitem(sys.modules, f"seqframe_{name}", raising=False)
    return Registry.from_plugin_manager(load_plugin_manager())


def test_external_cell_is_discovered_with_its_distribution(installed: Registry) -> None:
    component = installed.get("cell", "leaky")
    assert (component.plugin, component.distribution, component.version) == ("leaky", "seqframe-leaky", "0.3.0")
    assert component.summary.startswith("Leaky Elman cell")


def test_external_cell_runs_through_build_rnn(installed: Registry) -> None:
    rnn = seqframe.build_rnn(
        "leaky", input_size=3, hidden_size=4, num_layers=2, bidirectional=True, registry=installed, leak=0.3
    )
    out, (h,) = rnn(torch.randn(2, 6, 3), lengths=[6, 2])
    assert out.shape == (2, 6, 8) and h.shape == (4, 2, 4)
    assert torch.all(out[1, 2:] == 0)


def test_external_cell_passes_padding_and_direction_checks(installed: Registry) -> None:
    factory = installed.get("cell", "leaky").factory
    check_padding_invariance(factory)
    check_bidirectional_alignment(factory)


# --- cells written naturally, through every task ------------------------------------------

TINY = ["model.embedding_dim=4", "train.batch_size=4", "train.steps=2", "train.eval_every=0", "train.log_every=1"]
TASKS = {  # recipe -> overrides: the natural cell in every topology, bidirectional 2-layer encoders
    "lm": ["task.seq_len=8", "model.topology.hidden_size=6", "train.sample.max_tokens=3"],
    "many-to-many": ["model.topology.hidden_size=6"],
    "many-to-one": ["model.topology.hidden_size=6", "model.topology.num_layers=2"],
    "one-to-one": ["model.topology.hidden_size=6", "model.topology.bidirectional=true"],
    "one-to-many": ["model.topology.hidden_size=6", "task.max_len=6"],
    "translate": [
        "model.topology.hidden_size=6",
        "model.topology.num_layers=2",
        "model.decoder.hidden_size=8",
        "model.decoder.cell=projected",
        "task.max_len=6",
        "task.eval_decode=4",
    ],
}


@pytest.mark.slow
@pytest.mark.parametrize("recipe", list(TASKS))
def test_natural_cell_with_mixed_state_widths_trains_through_every_task(
    recipe: str, installed: Registry, tmp_path: Path
) -> None:
    overrides = [*TINY, *TASKS[recipe], "model.topology.cell=projected"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", SlowPathWarning)  # hoisted, not the slow path
        result = seqframe.run(recipe, overrides, out_dir=tmp_path / "run", progress=False, registry=installed)
    assert result.step == 2
    assert result.pipeline.components["model.topology.cell"]["distribution"] == "seqframe-natural"
    if recipe in ("translate", "one-to-many"):  # beam search reorders the mixed-width decoder state
        answers = seqframe.predict(result.pipeline, ["12"], beam=3)
        assert len(answers) == 1
    reloaded = seqframe.load_run(tmp_path / "run", registry=installed)  # checkpointed weights load back
    for name, value in result.pipeline.model.state_dict().items():
        assert torch.equal(reloaded.model.state_dict()[name].cpu(), value.cpu()), name


@pytest.mark.slow
def test_language_model_carries_a_two_tensor_state_without_state_size(installed: Registry, tmp_path: Path) -> None:
    """The report's cell: (h, c) from initial_state, no state_size; it died at step 2."""
    overrides = [*TINY, *TASKS["lm"], "train.steps=3", "model.topology.cell=cifg", "train.checkpoint.every=1"]
    first = seqframe.run("lm", overrides, out_dir=tmp_path / "run", progress=False, registry=installed)
    assert first.step == 3
    with pytest.warns(UserWarning, match="changed recipe"):
        resumed = seqframe.run(
            "lm",
            [*overrides, "train.steps=4"],
            out_dir=tmp_path / "run",
            progress=False,
            registry=installed,
            resume=True,
        )
    assert resumed.step == 4


# --- broken cells: told before anything trains -------------------------------------------

RECIPE = """\
task: {name: language_modelling, seq_len: 8}
data: {name: text_files, paths: [missing.txt]}
tokenizer: {name: char}
model:
  embedding_dim: 4
  topology: {name: stacked, cell: lstm, hidden_size: 6}
train: {steps: 2, batch_size: 16, eval_every: 0, sample: null}
"""


def test_cell_raising_in_init_is_a_recipe_error_naming_its_plugin(
    installed: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "r.yaml").write_text(RECIPE)  # its data file does not exist: reading it would fail first
    monkeypatch.chdir(tmp_path)
    assert main(["run", "r.yaml", "model.topology.cell=raises_init", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert (
        "error: override 'model.topology.cell=raises_init': model.topology.cell: cell 'raises_init' "
        "(plugin 'broken', seqframe-broken 0.1.0) failed to build with these options: raised RuntimeError: "
        "cannot find the gate table"
    ) in err, err


@pytest.mark.parametrize(
    "cell, check, reason",
    [
        ("raises_forward", "shapes_and_state", "raised ZeroDivisionError: gate denominator is zero"),
        ("wrong_shape", "shapes_and_state", r"h_t .* must have shape \(3, 6\), got \(3, 12\)"),
        ("wrong_arity", "shapes_and_state", r"must hold 2 tensor\(s\), as initial_state returns; got 1"),
        ("nan_output", "finite_outputs", r"non-finite value\(s\) \(NaN or inf\)"),
    ],
)
def test_broken_cell_fails_before_any_data_is_read(
    cell: str,
    check: str,
    reason: str,
    installed: Registry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "r.yaml").write_text(RECIPE)  # its data file does not exist: reading it would fail first
    monkeypatch.chdir(tmp_path)
    assert main(["run", "r.yaml", f"model.topology.cell={cell}", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    expected = (
        rf"error: override 'model.topology.cell={cell}': model.topology.cell: cell {cell!r} \(plugin 'broken', seqframe-broken 0.1.0\) "
        rf"failed the check before training, {check}: .*{reason}"
    )
    assert re.search(expected, err), err
    assert f"seqframe plugins check broken:{cell}" in err


def test_option_the_cell_rejects_is_a_recipe_error_before_data(
    installed: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "r.yaml").write_text(RECIPE.replace("cell: lstm", "cell: {name: lstm, proj_size: 9}"))
    monkeypatch.chdir(tmp_path)
    assert main(["run", "r.yaml", "--quiet"]) == 2
    assert re.search(
        r"r.yaml:\d+: model.topology.cell.proj_size: LSTMCell: proj_size must be an int in \[0, hidden_size=6\)",
        capsys.readouterr().err,
    )


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (
            "fails_large",
            r"cell FailsOnLargeBatches raised RuntimeError in forward at .*seqframe_broken.py:\d+: gate table overflow",
        ),
        ("fails_backward", r"RuntimeError in backward at .*seqframe_broken.py:\d+: gradient table overflow"),
    ],
)
def test_cell_raising_while_training_is_blamed_on_its_plugin(
    cell: str,
    expected: str,
    installed: Registry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """In its forward step, or elsewhere in its code (an autograd.Function's backward)."""
    (tmp_path / "corpus.txt").write_text("the quick brown fox jumps over the lazy dog. " * 20)
    (tmp_path / "r.yaml").write_text(RECIPE.replace("missing.txt", "corpus.txt"))
    monkeypatch.chdir(tmp_path)
    assert main(["run", "r.yaml", f"model.topology.cell={cell}", "--quiet", "--out", "run"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert re.search(
        rf"error: cell '{cell}' \(plugin 'broken', seqframe-broken 0.1.0\) failed while training: {expected}", err
    ), err


def test_error_raised_outside_the_plugins_code_is_not_blamed_on_it(installed: Registry) -> None:
    cell = {"name": "fails_backward", "plugin": "broken", "distribution": "seqframe-broken", "version": "0.1.0"}
    with pytest.raises(ZeroDivisionError), plugin_errors({"model.topology.cell": cell}, installed):
        raise ZeroDivisionError("raised here, not in seqframe_broken.py: it keeps its traceback")


def test_build_rnn_checks_a_named_cell(installed: Registry) -> None:
    with pytest.raises(
        PluginError,
        match=r"cell 'wrong_arity' \(plugin 'broken', seqframe-broken 0.1.0\) failed "
        r"the check before training, shapes_and_state",
    ):
        seqframe.build_rnn("wrong_arity", input_size=3, hidden_size=4, registry=installed)
    with pytest.raises(PluginError, match=r"cell 'fails_large' .* failed while training: .*gate table overflow"):
        rnn = seqframe.build_rnn("fails_large", input_size=3, hidden_size=4, registry=installed)
        with plugin_errors(
            {
                "model.topology.cell": {
                    "name": "fails_large",
                    "plugin": "broken",
                    "distribution": "seqframe-broken",
                    "version": "0.1.0",
                }
            }
        ):
            rnn(torch.randn(9, 2, 3))


# --- seqframe plugins check ----------------------------------------------------------------


@pytest.mark.parametrize(
    "cell, failed",
    [
        ("raises_init", "construction"),
        ("raises_forward", "shapes_and_state"),
        ("wrong_shape", "shapes_and_state"),
        ("wrong_arity", "shapes_and_state"),
        ("nan_output", "finite_outputs"),
    ],
)
def test_plugins_check_reports_a_broken_cell_line_by_line(
    cell: str, failed: str, installed: Registry, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(seqframe.api.checks, "default_registry", lambda: installed)
    assert main(["plugins", "check", cell]) == 1
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    lines = out.splitlines()
    assert lines[0] == f"cell {cell!r} (plugin 'broken', seqframe-broken 0.1.0): 1 of 10 checks failed"
    assert any(line.startswith(f"  fail  {failed}: ") for line in lines)
    assert sum(line.startswith("  fail") for line in lines) == 1
    assert lines[-1].startswith("  time loop: ")
    assert main(["plugins", "check", cell, "--json"]) == 1
    payload = json.loads(capsys.readouterr().out)
    assert payload["passed"] is False and len(payload["checks"]) == 10
    assert {c["name"]: c["status"] for c in payload["checks"]}[failed] == "fail"


@pytest.mark.parametrize(
    "cell, path",
    [
        ("projected", "input part traced from forward and hoisted"),
        ("declared_projected", "declared input projection"),
        ("lstm", "torch's fused LSTM kernel"),
    ],
)
def test_plugins_check_passes_natural_cells_and_says_which_loop(
    cell: str, path: str, installed: Registry, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(seqframe.api.checks, "default_registry", lambda: installed)
    assert main(["plugins", "check", cell, "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["passed"] and payload["notes"]["time loop"].startswith(path)
    assert all(c["status"] in ("pass", "skip") for c in payload["checks"])


# --- several processes --------------------------------------------------------------------


@pytest.mark.slow
def test_two_processes_train_a_natural_mixed_width_cell_as_one_does(installed: Registry, tmp_path: Path) -> None:
    """DDP (gloo) over a bidirectional 2-layer encoder of a plugin cell: the loss curve and the
    weights of 2 ranks x 2 rows equal those of 1 process x 4 rows."""
    args = [
        "run",
        "many-to-one",
        *TINY,
        "train.steps=3",
        "model.topology.hidden_size=6",
        "model.topology.num_layers=2",
        "model.topology.cell=projected",
        "--quiet",
    ]
    env = {k: v for k, v in os.environ.items() if k != "SEQFRAME_DISABLE_PLUGIN_AUTOLOAD"}
    env.update(PYTHONPATH=os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")]), SEQFRAME_DIST_TIMEOUT="60")
    for out, extra in (("one", []), ("two", ["--nproc", "2"])):
        done = subprocess.run(
            [sys.executable, "-m", "seqframe", *args, "--out", out, *extra],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
    rows = {
        out: [json.loads(line) for line in (tmp_path / out / "metrics.jsonl").read_text().splitlines()]
        for out in ("one", "two")
    }
    losses = {out: [r["loss"] for r in rows[out] if r["split"] == "train"] for out in rows}
    assert len(losses["one"]) == len(losses["two"]) == 3
    assert max(abs(a - b) for a, b in zip(losses["one"], losses["two"])) < 1e-5
    assert "2 processes (gloo)" in (tmp_path / "two" / "run.log").read_text()


def test_plugin_errors_blames_the_plugin_of_the_cell_that_raised(installed: Registry) -> None:
    """An encoder and a decoder from different plugins: the error names the right one."""
    components = {
        "model.topology.cell": {
            "name": "lstm",
            "plugin": "builtin.cells",
            "distribution": "seqframe",
            "version": "0.1.0",
        },
        "model.decoder.cell": {
            "name": "projected",
            "plugin": "natural",
            "distribution": "seqframe-natural",
            "version": "0.2.0",
        },
    }
    projected = installed.get("cell", "projected").factory
    with (
        pytest.raises(
            PluginError,
            match=r"^cell 'projected' \(plugin 'natural', seqframe-natural 0.2.0\) failed "
            r"while training: boom$",
        ),
        plugin_errors(components, installed),
    ):
        raise CellError(projected, "boom")
    with pytest.raises(CellError), plugin_errors({}):  # nothing to blame: left as it is
        raise CellError(projected, "boom")
