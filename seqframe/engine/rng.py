"""Random-number state and determinism: seeding, capturing and restoring every generator a
run draws from (Python's ``random``, torch CPU and CUDA), and torch's deterministic mode.

Captured states hold only tensors and primitives, so they load with
``torch.load(weights_only=True)``. numpy's global generator is not used by seqframe and is
not captured. Imports layer 0 only.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator, Mapping
from typing import Any

import torch

from seqframe.errors import SeqframeError

__all__ = ["capture_rng", "deterministic_mode", "restore_rng", "seed_everything"]

CUBLAS_WORKSPACE = ":4096:8"


def seed_everything(seed: int) -> None:
    """Seed Python's ``random`` and torch (CPU and CUDA)."""
    random.seed(seed)
    torch.manual_seed(seed)


def capture_rng() -> dict[str, Any]:
    """The state of every generator a training step may draw from."""
    version, internal, gauss = random.getstate()
    state: dict[str, Any] = {"python": [version, list(internal), gauss], "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: Mapping[str, Any]) -> None:
    """Put back what :func:`capture_rng` returned."""
    version, internal, gauss = state["python"]
    random.setstate((int(version), tuple(int(x) for x in internal), gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@contextlib.contextmanager
def deterministic_mode(enabled: bool, device: torch.device) -> Iterator[None]:
    """Within the block, ask torch for deterministic kernels (when ``enabled``); the previous
    settings are restored afterwards.

    On CUDA, cuBLAS needs ``CUBLAS_WORKSPACE_CONFIG`` before CUDA starts; it is set here
    when CUDA has not started yet.

    Raises:
        SeqframeError: CUDA already started without ``CUBLAS_WORKSPACE_CONFIG``, so cuBLAS
            cannot be made deterministic in this process.
    """
    if not enabled:
        yield
        return
    if device.type == "cuda" and "CUBLAS_WORKSPACE_CONFIG" not in os.environ:
        if torch.cuda.is_initialized():
            raise SeqframeError(
                "train.deterministic: CUDA was started before CUBLAS_WORKSPACE_CONFIG was set, so cuBLAS "
                f"cannot be deterministic; set CUBLAS_WORKSPACE_CONFIG={CUBLAS_WORKSPACE} in the environment"
            )
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = CUBLAS_WORKSPACE
    previous = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
                torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = previous[2], previous[3]
