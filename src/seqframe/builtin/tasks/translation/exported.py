"""The export plan and exported stand-in of :class:`~.model.Seq2Seq`.

Translation exports ``source_embedding``, the encoder's layer graphs (``encoder.layer{l}``,
driven over the padded source by :func:`~seqframe.interfaces.stepwise.run_topology`),
``bridge`` (the attention keys and the decoder's initial state from the encoder's outputs
and final state) and ``decode_step`` (one target token for every row, attending over the
encoder outputs under the source mask; with input feeding it also reads and returns the
attentional state ``feed``, which starts at zero). The stand-ins offer ``encode``, ``decode_step``,
``reorder`` and ``reorder_state``, so :mod:`seqframe.builtin.tasks.search` decodes them as it decodes the torch
models. Imports layer 0 and the models' own modules.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from seqframe.builtin.tasks.exported import decoder_cells, example_ids, example_randn, example_states, state_names
from seqframe.builtin.tasks.translation.model import EncoderOutput, Seq2Seq
from seqframe.interfaces import State
from seqframe.interfaces.export import ExportedModel, ExportPlan, Graph
from seqframe.interfaces.stepwise import StackStep, run_topology, topology_graphs, topology_meta

__all__ = ["ExportedSeq2Seq", "seq2seq_plan"]


class _Bridge(nn.Module):
    """Projected attention keys (if the model attends) and the decoder's initial state."""

    def __init__(self, model: Seq2Seq) -> None:
        super().__init__()
        self.model = model

    def forward(self, outputs: Tensor, *final: Tensor) -> tuple[Tensor, ...]:
        state = self.model.bridge_state(final)
        if self.model.attention is None:
            return tuple(state)
        return (self.model.attention.project_keys(outputs), *state)


class _Seq2SeqStep(nn.Module):
    """One decoder step: target embedding, one step of every decoder layer, read-out."""

    def __init__(self, model: Seq2Seq) -> None:
        super().__init__()
        self.model, self.stack = model, StackStep(model.decoder, "model.decoder")
        self.states = len(topology_meta(model.decoder, "model.decoder")["state_widths"]) + model.input_feeding

    def forward(self, tokens: Tensor, *rest: Tensor) -> tuple[Tensor, ...]:
        state, memory = rest[: self.states], rest[self.states :]
        embedded = self.model.tgt_embedding(tokens)
        if self.model.feed is not None:  # the last state tensor is the previous attentional state
            embedded, state = embedded + self.model.feed(state[-1][0]), state[:-1]
        hidden, *state_out = self.stack(embedded, *state)
        outputs, keys, mask = memory if memory else (hidden.unsqueeze(1), None, None)
        enc = EncoderOutput(outputs, mask, keys, ())  # type: ignore[arg-type]
        attended = self.model.attentional(hidden.unsqueeze(1), enc)  # (B, 1, H_dec)
        if self.model.feed is not None:
            state_out.append(attended.transpose(0, 1))
        logits = self.model.output(attended)[:, 0]
        return (F.log_softmax(logits.float(), dim=-1), *state_out)


def seq2seq_plan(model: Seq2Seq, batch: int = 2, steps: int = 3) -> ExportPlan:
    """The graphs of translation (see the module docstring) and the layouts they need."""
    like = next(model.parameters())
    encoder = topology_meta(model.encoder, "model.topology")
    decoder = topology_meta(model.decoder, "model.decoder")
    embedding = Graph(
        model.src_embedding,
        {"ids": example_ids(model.src_embedding.num_embeddings, batch, steps)},
        ("embedded",),
        {"ids": {0: "B", 1: "T"}},
    )
    plan = ExportPlan({"source_embedding": embedding}).merged(
        topology_graphs("encoder", model.encoder, batch=batch, where="model.topology")
    )
    outputs = example_randn(batch, steps, encoder["output_size"], like=like)
    finals = example_states("final", encoder, batch, like, seeds=2)
    attends = model.attention is not None
    bridge = Graph(
        _Bridge(model).eval(),
        {"outputs": outputs, **finals},
        (("keys",) if attends else ()) + state_names("state", decoder),
        {"outputs": {0: "B", 1: "T"}, **{name: {1: "B"} for name in finals}},
    )
    with torch.no_grad():
        keys, *_ = _Bridge(model).eval()(outputs, *finals.values()) if attends else (None,)
    inputs = {
        "tokens": example_ids(model.tgt_embedding.num_embeddings, batch),
        **example_states("state", decoder, batch, like, seeds=2),
    }
    fed: tuple[str, ...] = ()
    if model.input_feeding:
        inputs["feed"] = example_randn(1, batch, decoder["output_size"], like=like, seed=9)
        fed = ("feed_out",)
    dynamic: dict[str, dict[int, str]] = {"tokens": {0: "B"}, **{name: {1: "B"} for name in inputs if name != "tokens"}}
    if attends:
        mask = torch.ones(batch, steps, dtype=torch.bool)
        mask[1:, -1] = False
        inputs.update({"outputs": outputs, "keys": keys, "mask": mask})
        dynamic.update({name: {0: "B", 1: "T"} for name in ("outputs", "keys", "mask")})
    step = Graph(
        _Seq2SeqStep(model).eval(),
        inputs,
        ("log_probs", *state_names("state_out", decoder), *fed),
        dynamic,
        decoder_cells(model.decoder, "model.decoder"),
    )
    return plan.merged(
        ExportPlan(
            {"bridge": bridge, "decode_step": step},
            {"model.decoder": decoder, "attention": attends, "input_feeding": model.input_feeding},
        )
    )


class ExportedSeq2Seq(ExportedModel):
    """:class:`Seq2Seq` 's ``encode``, ``decode_step``, ``reorder`` and ``reorder_state``
    on the exported graphs."""

    reorder = staticmethod(Seq2Seq.reorder)
    reorder_state = staticmethod(Seq2Seq.reorder_state)

    def encode(self, src: Tensor, src_lengths: Any = None) -> EncoderOutput:
        """Read the source once: outputs, mask, keys and the decoder's initial state."""
        steps = src.shape[1]
        lengths = torch.full((src.shape[0],), steps) if src_lengths is None else torch.as_tensor(src_lengths).cpu()
        mask = torch.arange(steps).unsqueeze(0) < lengths.unsqueeze(1)  # (B, S)
        (embedded,) = self.graphs.run("source_embedding", src.contiguous())
        outputs, final = run_topology(self.graphs.run, "encoder", self.graphs.meta["encoder"], embedded, lengths)
        bridged = self.graphs.run("bridge", outputs, *final)
        attends = bool(self.graphs.meta["attention"])
        keys, state = (bridged[0], tuple(bridged[1:])) if attends else (None, tuple(bridged))
        if self.graphs.meta.get("input_feeding"):  # the attentional state starts at zero
            state = (*state, outputs.new_zeros(1, src.shape[0], self.graphs.meta["model.decoder"]["output_size"]))
        return EncoderOutput(outputs, mask, keys, state)

    def decode_step(self, tokens: Tensor, state: State, enc: EncoderOutput) -> tuple[Tensor, State]:
        """``log_probs (B, V)`` of the next token and the new decoder state."""
        memory = (
            (enc.outputs.contiguous(), enc.keys.contiguous(), enc.mask.contiguous()) if enc.keys is not None else ()
        )
        log_probs, *new = self.graphs.run("decode_step", tokens.contiguous(), *(s.contiguous() for s in state), *memory)
        return log_probs, tuple(new)
