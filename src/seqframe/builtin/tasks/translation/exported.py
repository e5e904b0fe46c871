"""Export plans and exported stand-ins of the models that write a sequence step by step:
:class:`~.model.Seq2Seq` (translation) and
:class:`~seqframe.builtin.tasks.conditioned.ConditionedDecoder` (one-to-many).

Translation exports ``source_embedding``, the encoder's layer graphs (``encoder.layer{l}``,
driven over the padded source by :func:`~seqframe.interfaces.stepwise.run_topology`),
``bridge`` (the attention keys and the decoder's initial state from the encoder's outputs
and final state) and ``decode_step`` (one target token for every row, attending over the
encoder outputs under the source mask). The stand-ins offer ``encode``, ``decode_step``,
``reorder`` and ``reorder_state``, so :mod:`.search` decodes them as it decodes the torch
models. Imports layer 0 and the models' own modules.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from seqframe.builtin.tasks.conditioned import Condition, ConditionedDecoder
from seqframe.builtin.tasks.seq2seq.model import EncoderOutput, Seq2Seq
from seqframe.interfaces import State
from seqframe.interfaces.export import ExportedModel, ExportPlan, Graph
from seqframe.interfaces.stepwise import StackStep, run_topology, stepwise_cells, topology_graphs, topology_meta

__all__ = ["ExportedConditionedDecoder", "ExportedSeq2Seq", "conditioned_plan", "seq2seq_plan"]


def _randn(*shape: int, like: Tensor, seed: int = 1) -> Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)).to(like)


def _ids(vocab: int, *shape: int) -> Tensor:
    return torch.randint(0, vocab, shape, generator=torch.Generator().manual_seed(0))


def _named_states(prefix: str, meta: dict[str, Any], batch: int, like: Tensor) -> dict[str, Tensor]:
    rows = meta["layers"] * meta["directions"]
    return {f"{prefix}{i}": _randn(rows, batch, w, like=like, seed=2 + i) * 0.5
            for i, w in enumerate(meta["state_widths"])}


def _outputs(prefix: str, meta: dict[str, Any]) -> tuple[str, ...]:
    return tuple(f"{prefix}{i}" for i in range(len(meta["state_widths"])))


def _decoder_cells(topology: nn.Module, where: str) -> tuple[nn.Module, ...]:
    return tuple(layer[0] for layer in stepwise_cells(topology, where))


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
        self.states = len(topology_meta(model.decoder, "model.decoder")["state_widths"])

    def forward(self, tokens: Tensor, *rest: Tensor) -> tuple[Tensor, ...]:
        state, memory = rest[: self.states], rest[self.states :]
        hidden, *state_out = self.stack(self.model.tgt_embedding(tokens), *state)
        outputs, keys, mask = memory if memory else (hidden.unsqueeze(1), None, None)
        enc = EncoderOutput(outputs, mask, keys, ())  # type: ignore[arg-type]
        logits = self.model.readout(hidden.unsqueeze(1), enc)[:, 0]
        return (F.log_softmax(logits.float(), dim=-1), *state_out)


def seq2seq_plan(model: Seq2Seq, batch: int = 2, steps: int = 3) -> ExportPlan:
    """The graphs of translation (see the module docstring) and the layouts they need."""
    like = next(model.parameters())
    encoder = topology_meta(model.encoder, "model.topology")
    decoder = topology_meta(model.decoder, "model.decoder")
    embedding = Graph(model.src_embedding, {"ids": _ids(model.src_embedding.num_embeddings, batch, steps)},
                      ("embedded",), {"ids": {0: "B", 1: "T"}})
    plan = ExportPlan({"source_embedding": embedding}).merged(
        topology_graphs("encoder", model.encoder, batch=batch, where="model.topology"))
    outputs = _randn(batch, steps, encoder["output_size"], like=like)
    finals = _named_states("final", encoder, batch, like)
    attends = model.attention is not None
    bridge = Graph(_Bridge(model).eval(), {"outputs": outputs, **finals},
                   (("keys",) if attends else ()) + _outputs("state", decoder),
                   {"outputs": {0: "B", 1: "T"}, **{name: {1: "B"} for name in finals}})
    with torch.no_grad():
        keys, *_ = _Bridge(model).eval()(outputs, *finals.values()) if attends else (None,)
    inputs = {"tokens": _ids(model.tgt_embedding.num_embeddings, batch), **_named_states("state", decoder, batch, like)}
    dynamic: dict[str, dict[int, str]] = {"tokens": {0: "B"}, **{name: {1: "B"} for name in inputs if name != "tokens"}}
    if attends:
        mask = torch.ones(batch, steps, dtype=torch.bool)
        mask[1:, -1] = False
        inputs.update({"outputs": outputs, "keys": keys, "mask": mask})
        dynamic.update({name: {0: "B", 1: "T"} for name in ("outputs", "keys", "mask")})
    step = Graph(_Seq2SeqStep(model).eval(), inputs, ("log_probs", *_outputs("state_out", decoder)), dynamic,
                 _decoder_cells(model.decoder, "model.decoder"))
    return plan.merged(ExportPlan({"bridge": bridge, "decode_step": step},
                                  {"model.decoder": decoder, "attention": attends}))


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
        keys, state = (bridged[0], bridged[1:]) if attends else (None, bridged)
        return EncoderOutput(outputs, mask, keys, tuple(state))

    def decode_step(self, tokens: Tensor, state: State, enc: EncoderOutput) -> tuple[Tensor, State]:
        """``log_probs (B, V)`` of the next token and the new decoder state."""
        memory = (enc.outputs.contiguous(), enc.keys.contiguous(), enc.mask.contiguous()) \
            if enc.keys is not None else ()
        log_probs, *new = self.graphs.run("decode_step", tokens.contiguous(), *(s.contiguous() for s in state),
                                          *memory)
        return log_probs, tuple(new)


class _Condition(nn.Module):
    """The decoder's initial state from the features."""

    def __init__(self, model: ConditionedDecoder) -> None:
        super().__init__()
        self.model = model

    def forward(self, features: Tensor) -> tuple[Tensor, ...]:
        return tuple(self.model.encode(features).state)


class _ConditionedStep(nn.Module):
    """One decoder step: embedding (and the features, if fed), the stack, the head."""

    def __init__(self, model: ConditionedDecoder) -> None:
        super().__init__()
        self.model, self.stack = model, StackStep(model.decoder, "model.topology")

    def forward(self, tokens: Tensor, *rest: Tensor) -> tuple[Tensor, ...]:
        features, state = (rest[0], rest[1:]) if self.model.feed_features else (None, rest)
        inputs = self.model._inputs(tokens.unsqueeze(1), Condition(features, ()))[:, 0]  # type: ignore[arg-type]
        hidden, *state_out = self.stack(inputs, *state)
        return (F.log_softmax(self.model.head(hidden).float(), dim=-1), *state_out)


def conditioned_plan(model: ConditionedDecoder, feature_size: int, batch: int = 2) -> ExportPlan:
    """``condition``: ``features (B, F) -> state_i (L, B, W_i)...``; ``decode_step``:
    ``(tokens (B,), [features,] state_i...) -> (log_probs (B, V), state_i_out...)``."""
    like = next(model.parameters())
    meta = topology_meta(model.decoder, "model.topology")
    features = _randn(batch, feature_size, like=like)
    condition = Graph(_Condition(model).eval(), {"features": features}, _outputs("state", meta),
                      {"features": {0: "B"}})
    inputs = {"tokens": _ids(model.embedding.num_embeddings, batch)}
    if model.feed_features:
        inputs["features"] = features
    inputs.update(_named_states("state", meta, batch, like))
    dynamic = {"tokens": {0: "B"}, "features": {0: "B"}, **{f"state{i}": {1: "B"} for i in range(len(meta["state_widths"]))}}
    step = Graph(_ConditionedStep(model).eval(), inputs, ("log_probs", *_outputs("state_out", meta)),
                 {k: v for k, v in dynamic.items() if k in inputs}, _decoder_cells(model.decoder, "model.topology"))
    return ExportPlan({"condition": condition, "decode_step": step}, {"model.topology": meta,
                                                                       "feed_features": model.feed_features})


class ExportedConditionedDecoder(ExportedModel):
    """:class:`ConditionedDecoder` 's ``encode``, ``decode_step``, ``reorder`` and
    ``reorder_state`` on the exported graphs."""

    reorder = staticmethod(ConditionedDecoder.reorder)
    reorder_state = staticmethod(ConditionedDecoder.reorder_state)

    def encode(self, features: Tensor, lengths: Any = None) -> Condition:
        """The decoder's initial state from ``features (B, F)``."""
        return Condition(features, tuple(self.graphs.run("condition", features.contiguous())))

    def decode_step(self, tokens: Tensor, state: State, condition: Condition) -> tuple[Tensor, State]:
        """``log_probs (B, V)`` of the next token after ``tokens (B,)`` and the new state."""
        fed = (condition.features.contiguous(),) if self.graphs.meta["feed_features"] else ()
        log_probs, *new = self.graphs.run("decode_step", tokens.contiguous(), *fed, *(s.contiguous() for s in state))
        return log_probs, tuple(new)
