"""The recipes the ``training`` section trains, and the hand-written PyTorch loop beside each.

- ``lm``: the shipped ``lm`` recipe (2-layer LSTM 256, batch 32 x 128 characters, a stream
  with the state carried across windows: equal lengths);
- ``lm sentences``: the same recipe with ``task.mode=sentences`` (every line of the text an
  example, ``bos`` + characters + ``eos``, length-bucketed batches of 32: variable lengths,
  zero state per batch, padding masked in the loss);
- ``translation``: the shipped ``translate`` recipe (bidirectional LSTM 64 encoder over
  variable-length sources, LSTM 128 decoder, Luong ``general`` attention, batch 64).

The torch side of each is a plain loop: the same batches (the task's own deterministic
batch stream, a second instance), the same initial weights, Adam and gradient clipping as
the recipe, and ``nn.LSTM`` run the fast way on the padded batch (its unpacked kernel,
outputs past each length zeroed). The model's other parts are seqframe's own plain-torch
modules, copied (embeddings, the translation model's bridge, attention and read-out, the
output layer), so the difference is the recurrent runtime and the framework's per-step
work. For the language models the two sides compute the same losses (checked); torch's
unpacked bidirectional encoder reads the padding (its backward direction starts at the
padded end, its final state is the padded end's), so translation losses differ slightly.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

import seqframe

__all__ = ["CASES", "Case", "ReferenceLoop", "TorchLSTM", "train_ids"]

TINY_LM = ["model.embedding_dim=8", "model.topology.hidden_size=16", "task.seq_len=16", "train.batch_size=4"]
TINY_TRANSLATION = [
    "model.embedding_dim=8",
    "model.topology.hidden_size=8",
    "model.decoder.hidden_size=16",
    "train.batch_size=4",
]


@dataclass(frozen=True)
class Case:
    """One recipe of the section: its name, overrides, and whether both sides compute the same loss."""

    recipe: str
    overrides: tuple[str, ...]
    tiny: tuple[str, ...]
    same_loss: bool
    what: str


CASES = {
    "lm": Case("lm", (), tuple(TINY_LM), True, "lm recipe: 2-layer LSTM 256, stream of 32 x 128 characters"),
    "lm sentences": Case(
        "lm",
        ("task.mode=sentences",),
        tuple(TINY_LM),
        True,
        "lm recipe, task.mode=sentences: 2-layer LSTM 256, batches of 32 lines (variable lengths)",
    ),
    "translation": Case(
        "translate",
        (),
        tuple(TINY_TRANSLATION),
        False,
        "translate recipe: bidirectional LSTM 64 encoder (variable lengths), LSTM 128 decoder, attention, batch 64",
    ),
}


def build_pipeline(case: Case, tiny: bool, device: torch.device, steps: int) -> seqframe.Pipeline:
    """The case's pipeline, trained for ``steps`` with no evaluation or sample before the end."""
    overrides = [f"train.steps={steps}", "train.eval_every=0", f"train.device={device.type}"]
    if case.recipe == "lm":
        overrides.append("train.sample=null")
    return seqframe.build(case.recipe, overrides + list(case.overrides) + (list(case.tiny) if tiny else []))


def train_ids(pipeline: seqframe.Pipeline) -> Any:
    """The training split exactly as the trainer encodes it (from the same cache)."""
    from seqframe.cache import cached_encode
    from seqframe.engine.trainer import task_inputs

    return cached_encode(pipeline.task, pipeline.tokenizers, task_inputs(pipeline.task, pipeline.data, "train"))


class TorchLSTM(nn.Module):
    """``nn.LSTM`` with a seqframe topology's weights and call signature, run the fast way:
    unpacked over the padded batch, outputs past each length zeroed."""

    def __init__(self, topology: nn.Module) -> None:
        super().__init__()
        cells = topology.cells
        self.lstm = nn.LSTM(
            topology.input_size,
            topology.hidden_size,
            topology.num_layers,
            batch_first=True,
            bidirectional=topology.bidirectional,
        )
        with torch.no_grad():
            for layer, directions in enumerate(cells):
                for direction, cell in enumerate(directions):
                    suffix = f"_l{layer}" + ("_reverse" if direction else "")
                    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                        getattr(self.lstm, name + suffix).copy_(getattr(cell, name))

    def forward(self, x: Tensor, lengths: Any = None, state: Any = None) -> tuple[Tensor, Any]:
        out, final = self.lstm(x, state)
        if lengths is not None:
            lengths = torch.as_tensor(lengths, device=x.device)
            out = out * (torch.arange(x.shape[1], device=x.device) < lengths.unsqueeze(1)).unsqueeze(-1)
        return out, final


def _reference_model(pipeline: seqframe.Pipeline) -> nn.Module:
    """seqframe's model, copied, with every topology replaced by :class:`TorchLSTM`."""
    model = copy.deepcopy(pipeline.model)
    for name in ("topology", "encoder", "decoder"):
        if isinstance(getattr(model, name, None), nn.Module) and hasattr(getattr(model, name), "cells"):
            setattr(model, name, TorchLSTM(getattr(model, name)))
    return model


class ReferenceLoop:
    """The hand-written training loop of a case: :meth:`step` takes the next batch."""

    def __init__(self, case: Case, pipeline: seqframe.Pipeline, device: torch.device) -> None:
        config = pipeline.train
        self.model = _reference_model(pipeline).to(device).train()
        options = {k: v for k, v in config.optimizer.items() if k != "name"}
        self.optimizer = torch.optim.Adam(self.model.parameters(), **options)
        self.max_norm, self.device = config.max_grad_norm, device
        ids = train_ids(pipeline)
        self.tokens = 0
        if case.recipe == "lm" and "task.mode=sentences" not in case.overrides:
            self._loss = self._stream(ids, config.batch_size, pipeline.task.seq_len)
        else:
            batches = pipeline.task.train_batches(ids, config.batch_size, config.seed, pipeline.tokenizers)
            compute = self._translation if case.recipe == "translate" else self._sentences
            smoothing = float(getattr(pipeline.task, "label_smoothing", 0.0))
            self._loss = lambda: compute(
                {k: v.to(device) if isinstance(v, Tensor) else v for k, v in next(batches).items()}, smoothing
            )

    def step(self) -> float:
        """One optimizer step on the next batch; returns the loss."""
        loss = self._loss()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.max_norm)
        self.optimizer.step()
        return float(loss.item())

    def _stream(self, ids: Tensor, batch: int, seq_len: int) -> Callable[[], Tensor]:
        """Truncated BPTT over ``batch`` contiguous rows, the state carried and detached."""
        usable = ids.numel() // batch
        data = ids[: usable * batch].view(batch, usable)
        windows = (usable - 1) // seq_len
        carried: dict[str, Any] = {"index": 0, "state": None}

        def loss() -> Tensor:
            if carried["index"] == windows:  # a new pass over the text starts from the zero state
                carried["index"], carried["state"] = 0, None
            start = carried["index"] * seq_len
            window = data[:, start : start + seq_len + 1].to(self.device)
            carried["index"] += 1
            logits, state = self.model(window[:, :-1], None, carried["state"])
            carried["state"] = tuple(s.detach() for s in state)
            self.tokens = window[:, 1:].numel()
            return F.cross_entropy(logits.flatten(0, 1), window[:, 1:].flatten())

        return loss

    def _sentences(self, batch: dict[str, Any], smoothing: float) -> Tensor:
        logits, _ = self.model(batch["inputs"], batch["lengths"], None)
        return self._masked(logits, batch["targets"], batch["lengths"], smoothing)

    def _translation(self, batch: dict[str, Any], smoothing: float) -> Tensor:
        logits = self.model(batch["source"], batch["source_lengths"], batch["target_in"], None)
        return self._masked(logits, batch["target_out"], batch["target_lengths"], smoothing)

    def _masked(self, logits: Tensor, targets: Tensor, lengths: Tensor, smoothing: float) -> Tensor:
        """Mean cross-entropy over the real positions (``t < length``)."""
        mask = torch.arange(targets.shape[1], device=targets.device) < lengths.to(targets.device).unsqueeze(1)
        self.tokens = int(mask.sum())
        losses = F.cross_entropy(
            logits.flatten(0, 1).float(), targets.flatten(), reduction="none", label_smoothing=smoothing
        )
        return (losses * mask.flatten()).sum() / max(self.tokens, 1)
