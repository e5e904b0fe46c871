"""seqframe's speed suite: seqframe side by side with plain PyTorch, in one process per
comparison, interleaved, with medians and ratios (seqframe time / torch time).

Run from the repository root (``benchmarks`` is a namespace package there, so a fresh clone
installed with ``python -m pip install -c constraints-cpu.txt -e ".[test]"
-e ./plugins/seqframe-indrnn`` needs nothing else)::

    python -m benchmarks.speed                 # full figures, 10-25 minutes on 2 CPU cores
    python -m benchmarks.speed --quick         # fewer shapes and repetitions, under 2 minutes
    python -m benchmarks.speed --tiny          # tiny shapes, 1 repetition (CI: keeps the code working)
    python -m benchmarks.speed --only builtins,training --out /tmp/speed
    python -m benchmarks.speed --threads 2 --device cpu --multi30k ../shared/data/multi30k

It writes ``speed.md`` and ``speed.json`` (``speed-quick.*``, ``speed-tiny.*`` in the other
modes, so a check run never overwrites the full figures) into ``--out`` (default
``benchmarks/results``), with the machine, torch version, threads, date, command and the
CPU time other processes used. When CUDA is available every section but ``data`` also runs
on the GPU (cuDNN for the built-in cells), labelled by device.

Sections (one module each):

- ``builtins`` (:mod:`.builtins`): built-in elman/lstm/gru via ``seqframe.build_rnn`` vs
  ``nn.RNN``/``nn.LSTM``/``nn.GRU`` (same weights), forward and forward+backward, equal and
  variable lengths. Variable lengths are compared with the faster of torch packed and torch
  unpacked (padded batch, outputs masked), named per row. Targets: 1.05 (equal lengths),
  1.10 (variable lengths, geo-mean).
- ``plugins`` (:mod:`.plugins`, cells in :mod:`.cells`): plain-Python Elman, gated and
  projected cells through ``build_rnn`` vs ``nn.RNN``/``nn.LSTM`` (the faster of packed and
  unpacked), with and without hoisting, and with a declared input projection.
- ``training`` (:mod:`.training`, recipes in :mod:`.training_cases`): what ``seqframe run``
  executes for the ``lm`` recipe (stream and sentence mode) and the ``translate`` recipe vs
  a hand-written loop with ``nn.LSTM`` unpacked on the same batches: tokens/s, per-step
  overhead, peak memory (fresh subprocesses, :mod:`.memory`).
- ``generation`` (:mod:`.generation`): language-model sampling vs a raw incremental loop
  (batch 1 and 32); batched beam search vs one call per sentence.
- ``data`` (:mod:`.data`): sentencepiece batched vs per-sentence encoding, and the padding
  share of seqframe's length-bucketed translation batches on Multi30k.

On a machine shared with other CPU-heavy processes, set ``OMP_WAIT_POLICY=PASSIVE``: with
torch's default (spinning OpenMP threads) a 2-thread training step measured 30x slower
while another process kept both cores busy (``--tiny`` sets it itself). The report records
the policy and the CPU share other processes took during every repetition.

The method is that of ``../shared/PERF-BASELINES.md`` (:mod:`.harness`). No figure here is
asserted anywhere; ``tests/test_benchmarks.py`` only runs ``--tiny``. ``python -m
benchmarks.speed.calibrate`` measures the constants of the runtime's path cost model
(``seqframe/rnn/paths.py``).
"""

from __future__ import annotations

SECTIONS = {
    "builtins": "builtins",
    "plugins": "plugins",
    "training": "training",
    "generation": "generation",
    "data": "data",
}
"""Section name -> module of this package."""
