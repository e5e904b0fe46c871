"""Shared test set-up: isolation from installed plugins and a small, polite CPU thread pool.

Runs at import time, before any test module imports seqframe or torch:
``SEQFRAME_DISABLE_PLUGIN_AUTOLOAD`` keeps entry points of the environment out of every
test, and ``OMP_WAIT_POLICY=PASSIVE`` stops idle OpenMP threads from spinning, which makes
tiny tensor ops many times slower when other processes share the cores.
``SEQFRAME_CACHE_DIR`` points the tokenizer and tokenized-data caches at a fresh folder,
so the suite never reads or fills the user's cache.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

os.environ["SEQFRAME_DISABLE_PLUGIN_AUTOLOAD"] = "1"
os.environ["SEQFRAME_CACHE_DIR"] = _CACHE = tempfile.mkdtemp(prefix="seqframe-test-cache-")
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # read when torch loads OpenMP

import torch  # noqa: E402  (after the environment is set)

torch.set_num_threads(2)
