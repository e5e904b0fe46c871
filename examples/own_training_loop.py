"""Train a seqframe model with your own plain PyTorch loop.

seqframe assembles the pieces (tokenizer fitted on the data, embedding, recurrent topology,
head, the task's batches and loss); the loop below is yours: optimizer, clipping, logging,
when to stop. ``Pipeline.batches`` yields the task's batches and ``Task.training_step``
returns the batch's loss, so any task trains the same way. The trained pipeline then works
with the rest of seqframe: ``seqframe.api.evaluate``, ``seqframe.predict``, and
``seqframe.api.save_run``, whose run directory ``seqframe predict RUN_DIR`` reads.

Run it: ``python examples/own_training_loop.py [--steps 300] [--out runs/own-loop]``.
"""

from __future__ import annotations

import argparse

import torch

import seqframe
from seqframe import api


def train_own_loop(steps: int, out: str | None = None) -> dict[str, float]:
    """Train a character language model for ``steps`` steps; returns its validation metrics."""
    pipeline = seqframe.assemble(
        task={"name": "language_modelling", "seq_len": 32}, tokenizer="char", data="pydoc_topics",
        topology={"cell": "lstm", "hidden_size": 64}, head="linear", embedding_dim=32,
    )
    model, task = pipeline.model, pipeline.task
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    batches = pipeline.batches("train", batch_size=16, seed=0)
    carry = None  # what the task carries between batches (a language model's state)
    model.train()
    for step, batch in zip(range(1, steps + 1), batches):
        loss, count, carry = task.training_step(model, batch, carry)
        if count == 0:  # nothing to learn in this batch
            continue
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step % 50 == 0 or step == steps:
            print(f"step {step}: loss {loss.item():.3f}")
    metrics = api.evaluate(pipeline, split="valid")
    print(f"validation: loss {metrics['loss']:.3f}, perplexity {metrics['ppl']:.2f}")
    print("sample:", "The " + seqframe.predict(pipeline, ["The "], max_tokens=40, temperature=0)[0])
    if out is not None:
        api.save_run(pipeline, out, overwrite=True)  # seqframe predict/eval read it like any run
        print(f"saved to {out}")
    return metrics


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="training steps (default 300)")
    parser.add_argument("--out", help="save the trained run here (a run directory)")
    arguments = parser.parse_args()
    train_own_loop(arguments.steps, arguments.out)
