"""``validate`` accepts exactly what ``run`` can build and train: devices that exist here,
optimizer options torch accepts, finite numbers, integers that fit, sizes that fit in
memory, and every component option its constructor accepts (annotated or not)."""

from __future__ import annotations

import math
import types
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

import seqframe
from seqframe import Cell, State, hookimpl
from seqframe.errors import DeviceError, RecipeError
from seqframe.plugins import PluginInfo, load_plugin_manager
from seqframe.recipe import build_pipeline, load_recipe, validate
from seqframe.registry import Registry

RECIPE = """\
task: {name: language_modelling, seq_len: 16}
data: {name: pydoc_topics}
tokenizer: {name: char}
model:
  embedding_dim: 8
  topology: {name: stacked, cell: lstm, hidden_size: 16}
train:
  steps: 10
  optimizer: {name: adam, lr: 3.0e-3}
  early_stopping: {metric: loss}
  eval_every: 5
"""


class GateBiasCell(Cell):
    """A plugin cell whose option has no annotation: only calling it can check the value."""

    built_on: list[torch.device] = []

    def __init__(self, input_size, hidden_size, gate_bias=0.0):  # type: ignore[no-untyped-def]
        super().__init__(input_size, hidden_size)
        self.linear = nn.Linear(input_size + hidden_size, hidden_size)
        GateBiasCell.built_on.append(self.linear.weight.device)
        with torch.no_grad():
            self.linear.bias.fill_(gate_bias)

    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        h = torch.tanh(self.linear(torch.cat([x_t, state[0]], dim=-1)))
        return h, (h,)


class ItemCell(GateBiasCell):
    """A plugin cell that reads a tensor's value while it is built (impossible on the meta
    device): validation builds it for real on the CPU instead, since it is small."""

    def __init__(self, input_size, hidden_size, scale=1.0):  # type: ignore[no-untyped-def]
        super().__init__(input_size, hidden_size)
        if torch.ones(1).mul(scale).item() <= 0:
            raise ValueError(f"ItemCell: scale must be > 0, got {scale!r}")


def greedy_head(in_features: int, num_outputs: int) -> nn.Module:
    """A head whose real size the recipe cannot see (it grows with the vocabulary): at build
    time torch fails to allocate it, as a model too big for the machine does."""
    if num_outputs > 2:
        raise RuntimeError(
            "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: "
            "you tried to allocate 6400000000000 bytes. Error code 12 (Cannot allocate memory)\nframe #0: ..."
        )
    return nn.Linear(in_features, num_outputs)


@pytest.fixture(scope="module")
def registry() -> Registry:
    module = types.ModuleType("gate_cells")

    @hookimpl
    def seqframe_cells() -> dict[str, Any]:
        return {"gate_bias_cell": GateBiasCell, "item_cell": ItemCell}

    @hookimpl
    def seqframe_heads() -> dict[str, Any]:
        return {"greedy_head": greedy_head}

    module.seqframe_cells = seqframe_cells  # type: ignore[attr-defined]
    module.seqframe_heads = seqframe_heads  # type: ignore[attr-defined]
    pm = load_plugin_manager(entry_points=False)
    pm.add_plugin(module, PluginInfo("gates", "gate_cells", "seqframe-gates", "0.1"))
    return Registry.from_plugin_manager(pm)


@pytest.fixture
def recipe_path(tmp_path: Path) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(RECIPE, encoding="utf-8")
    return path


def problems(registry: Registry, path: Path, *overrides: str) -> RecipeError:
    with pytest.raises(RecipeError) as info:
        validate(load_recipe(path, overrides), registry)
    return info.value


@pytest.mark.parametrize(
    ("override", "key", "expected"),
    [
        ("train.device=tpu", "train.device", "got 'tpu' (not a device torch knows)"),
        ("train.device=", "train.device", "got ''"),
        ("train.device=meta", "train.device", "does not train or predict on 'meta' devices"),
        ("train.device=cpu:3", "train.device", "the CPU has no index"),
        ("train.optimizer.foo=1", "train.optimizer.foo", "unknown option 'foo' for optimizer 'adam'"),
        ("train.optimizer.weight_decay=-1", "train.optimizer.weight_decay", "Invalid weight_decay value: -1"),
        ("train.optimizer.betas=[2,3]", "train.optimizer.betas", "Invalid beta parameter at index 0: 2"),
        ("train.optimizer.betas=abc", "train.optimizer.betas", "expected list, got str"),
        ("train.optimizer.eps=true", "train.optimizer.eps", "expected int or float, got boolean True"),
        ("train.optimizer.lr=.nan", "train.optimizer.lr", "expected a finite number, got nan"),
        ("train.optimizer.lr=.inf", "train.optimizer.lr", "expected a finite number, got inf"),
        ("train.optimizer.differentiable=true", "train.optimizer.differentiable", "cannot be set"),
        ("train.optimizer.amsgrad=[1]", "train.optimizer.amsgrad", "expected bool"),
        ("train.seed=18446744073709551616", "train.seed", "fits in 64 bits"),
        ("train.seed=4294967296", "train.seed", "expected a value < 2**32"),
        ("train.max_grad_norm=.nan", "train.max_grad_norm", "expected a finite number, got nan"),
        ("train.sample.temperature=.nan", "train.sample.temperature", "finite"),
        ("train.sample.top_p=.nan", "train.sample.top_p", "finite"),
        ("train.sample.seed=-1", "train.sample.seed", ">= 0"),
        ("train.early_stopping.min_delta=.nan", "train.early_stopping.min_delta", "finite"),
        ("train.scheduler={name: cosine, min_lr: .nan}", "train.scheduler.min_lr", "finite"),
        ("train.scheduler.factor=-.inf", "train.scheduler.factor", "finite"),
        ("train.steps=9223372036854775808", "train.steps", "fits in 64 bits"),
        ("task.seq_len=-5", "task.seq_len", "seq_len must be an int >= 1, got -5"),
        ("task.seq_len=99999999999999999999", "task.seq_len", "fits in 64 bits"),
        ("data.valid_fraction=1.5", "data.valid_fraction", "valid_fraction must lie in [0, 0.5), got 1.5"),
        ("model.topology.dropout=.nan", "model.topology.dropout", "expected a finite number, got nan"),
        ("model.topology.num_layers=2000", "model.topology.num_layers", "expected a value <= 1024, got 2000"),
        ("model.embedding_dim=1180591620717411303424", "model.embedding_dim", "fits in 64 bits"),
        (
            "model.head={name: linear, dropout: 1.5}",
            "model.head.dropout",
            "LinearHead: dropout must lie in [0, 1), got 1.5",
        ),
    ],
)
def test_validate_rejects_what_run_would_reject_naming_the_key(
    registry: Registry, recipe_path: Path, override: str, key: str, expected: str
) -> None:
    error = problems(registry, recipe_path, override)
    assert [issue.path for issue in error.issues] == [key], str(error)
    assert expected in str(error) and f"override {override!r}" in str(error)


def test_cuda_gpu_that_does_not_exist_is_a_recipe_error(registry: Registry, recipe_path: Path) -> None:
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    error = problems(registry, recipe_path, f"train.device=cuda:{count + 98}")
    expected = "CUDA is not available here" if count == 0 else f"this machine has {count} GPU(s)"
    assert expected in str(error)


def test_sgd_options_are_checked_against_sgd(registry: Registry, recipe_path: Path) -> None:
    validate(
        load_recipe(
            recipe_path, ["train.optimizer.name=sgd", "train.optimizer.momentum=0.9", "train.optimizer.nesterov=true"]
        ),
        registry,
    )
    error = problems(registry, recipe_path, "train.optimizer.name=sgd", "train.optimizer.momentum=.nan")
    assert "train.optimizer.momentum: expected a finite number, got nan" in str(error)
    error = problems(registry, recipe_path, "train.optimizer.name=sgd", "train.optimizer.betas=[0.9, 0.99]")
    assert "unknown option 'betas' for optimizer 'sgd'" in str(error)


def test_a_model_too_big_for_memory_is_a_recipe_error_before_anything_is_built(
    registry: Registry, recipe_path: Path
) -> None:
    GateBiasCell.built_on.clear()
    error = problems(
        registry, recipe_path, "model.topology.hidden_size=100000000000", "model.topology.cell=gate_bias_cell"
    )
    assert [issue.path for issue in error.issues] == ["model.topology"]
    message = str(error)
    assert "the model would have at least" in message and "cannot hold them" in message
    assert "lower model.topology.hidden_size" in message and "\n" not in message
    assert GateBiasCell.built_on == []  # refused from the sizes alone


def test_sized_components_are_built_on_the_meta_device(registry: Registry, recipe_path: Path) -> None:
    GateBiasCell.built_on.clear()
    validate(
        load_recipe(recipe_path, ["model.topology.cell=gate_bias_cell", "model.topology.hidden_size=4096"]), registry
    )
    assert GateBiasCell.built_on and {device.type for device in GateBiasCell.built_on} == {"meta"}


@pytest.mark.parametrize("value", ["abc", "[1, 2]", "{a: 1}"])
def test_unannotated_cell_option_is_checked_by_calling_the_cell(
    registry: Registry, recipe_path: Path, value: str
) -> None:
    override = f"model.topology.cell.gate_bias={value}"
    error = problems(registry, recipe_path, "model.topology.cell=gate_bias_cell", override)
    assert [issue.path for issue in error.issues] == ["model.topology.cell.gate_bias"]
    assert f"override {override!r}" in str(error) and "\n" not in str(error)


def test_unannotated_cell_option_with_a_good_value_passes(registry: Registry, recipe_path: Path) -> None:
    validate(
        load_recipe(recipe_path, ["model.topology.cell=gate_bias_cell", "model.topology.cell.gate_bias=0.5"]), registry
    )


def test_cell_that_cannot_be_built_on_the_meta_device_is_checked_on_the_cpu(
    registry: Registry, recipe_path: Path
) -> None:
    validate(load_recipe(recipe_path, ["model.topology.cell=item_cell"]), registry)
    error = problems(registry, recipe_path, "model.topology.cell=item_cell", "model.topology.cell.scale=-1")
    assert "model.topology.cell.scale: ItemCell: scale must be > 0, got -1" in str(error)


def test_python_api_optimizer_and_device_errors_are_seqframe_errors(recipe_path: Path) -> None:
    pipeline = seqframe.build(load_recipe(recipe_path, ["train.steps=1"]))
    bad = seqframe.TrainConfig(steps=1, optimizer={"name": "adam", "lr": 0.1, "foo": 1}, device="cpu")
    with pytest.raises(RecipeError, match="train.optimizer.foo: unknown option 'foo'"):
        seqframe.train(pipeline.__class__(**{**pipeline.__dict__, "train": bad}), progress=False)
    tpu = seqframe.TrainConfig(steps=1, device="tpu")
    with pytest.raises(DeviceError, match="train.device: expected auto, cpu"):
        seqframe.train(pipeline.__class__(**{**pipeline.__dict__, "train": tpu}), progress=False)


@pytest.mark.parametrize("section", ["model", "train", "task", "data", "tokenizer"])
def test_a_section_set_to_null_is_a_recipe_error(registry: Registry, recipe_path: Path, section: str) -> None:
    error = problems(registry, recipe_path, f"{section}=null")  # found by python -m benchmarks.fuzz
    assert [issue.path for issue in error.issues] == [section]


@pytest.mark.parametrize(
    ("recipe", "override", "expected"),
    [
        ("translate", "task.max_len=9223372036854775808", "task.max_len: expected an integer that fits in 64 bits"),
        ("lm", "model.topology.hidden_size=1e30", "model.topology.hidden_size: expected int, got float 1e+30"),
        ("lm", "model.topology.hidden_size=100000000000", "model.topology: the model would have at least"),
    ],
)
def test_huge_sizes_in_shipped_recipes_are_recipe_errors(
    registry: Registry, recipe: str, override: str, expected: str
) -> None:
    with pytest.raises(RecipeError) as info:
        seqframe.api.validate(recipe, [override], registry=registry)
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_target_tokenizer_for_a_task_without_target_texts_is_a_recipe_error(registry: Registry) -> None:
    with pytest.raises(RecipeError) as info:  # found by python -m benchmarks.fuzz: an AttributeError at build
        seqframe.api.validate("many-to-one", ["target_tokenizer.name=char"], registry=registry)
    assert [issue.path for issue in info.value.issues] == ["target_tokenizer"]
    assert "task 'classification' writes no target text" in str(info.value)
    seqframe.api.validate("translate", registry=registry)  # a task that writes targets keeps its section


@pytest.mark.parametrize("value", [math.nan, math.inf, 0.0, -1.0])
def test_python_api_max_grad_norm_must_be_finite_and_positive(value: float) -> None:
    with pytest.raises(ValueError, match="max_grad_norm must be a finite number > 0"):
        seqframe.TrainConfig(max_grad_norm=value)


def test_an_allocation_that_fails_at_build_is_one_line_naming_the_model(registry: Registry, recipe_path: Path) -> None:
    recipe = load_recipe(recipe_path, ["model.head=greedy_head", "train.steps=1"])
    validate(recipe, registry)  # the head's size depends on the vocabulary, unknown before the data is read
    with pytest.raises(RecipeError) as info:
        build_pipeline(recipe, registry)
    assert [issue.path for issue in info.value.issues] == ["model"]
    assert str(info.value).endswith("model: not enough memory: building it tried to allocate 5,960.5 GiB")
