"""Random-number state and determinism: seeding, capturing and restoring every generator a
run draws from (Python's ``random``, torch CPU and CUDA), and torch's deterministic mode.

Captured states hold only tensors and primitives, so they load with
``torch.load(weights_only=True)``. numpy's global generator is not used by seqframe and is
not captured. Imports layer 0 only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
from collections.abc import Iterator, Mapping
from typing import Any

import torch

from seqframe.errors import SeqframeError

__all__ = ["capture_rng", "deterministic_mode", "prepare_cublas", "restore_rng", "seed_everything"]

CUBLAS_WORKSPACE = ":4096:8"
_log = logging.getLogger("seqframe")


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


def prepare_cublas(enabled: bool, device: torch.device) -> str | None:
    """For deterministic training on CUDA, set ``CUBLAS_WORKSPACE_CONFIG`` while CUDA has
    not started yet (cuBLAS reads it once, when it starts; a later setting is ignored
    silently). Call it before anything touches the GPU; repeated calls are harmless.

    Returns:
        What was done (for the run log), or None when nothing applies.

    Raises:
        SeqframeError: CUDA already started without the variable, so cuBLAS cannot be
            made deterministic in this process.
    """
    if not enabled or device.type != "cuda":
        return None
    if "CUBLAS_WORKSPACE_CONFIG" in os.environ:
        return f"CUBLAS_WORKSPACE_CONFIG={os.environ['CUBLAS_WORKSPACE_CONFIG']}"
    if torch.cuda.is_initialized():
        raise SeqframeError(
            "train.deterministic: CUDA was started before CUBLAS_WORKSPACE_CONFIG was set, so cuBLAS "
            f"cannot be deterministic; set CUBLAS_WORKSPACE_CONFIG={CUBLAS_WORKSPACE} in the environment"
        )
    os.environ["CUBLAS_WORKSPACE_CONFIG"] = CUBLAS_WORKSPACE
    return f"CUBLAS_WORKSPACE_CONFIG={CUBLAS_WORKSPACE} (set by seqframe before CUDA started)"


@contextlib.contextmanager
def deterministic_mode(enabled: bool, device: torch.device) -> Iterator[None]:
    """Within the block, ask torch for deterministic kernels (when ``enabled``); the previous
    settings are restored afterwards. What was set is logged (``seqframe`` logger, the
    run log).

    On CUDA, cuBLAS needs ``CUBLAS_WORKSPACE_CONFIG`` before CUDA starts; it is set here
    when CUDA has not started yet (see :func:`prepare_cublas`).

    Raises:
        SeqframeError: CUDA already started without ``CUBLAS_WORKSPACE_CONFIG``, so cuBLAS
            cannot be made deterministic in this process.
    """
    if not enabled:
        yield
        return
    cublas = prepare_cublas(enabled, device)
    previous = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.benchmark,
        torch.backends.cudnn.deterministic,
    )
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    _log.info(
        "deterministic: torch.use_deterministic_algorithms(True), torch.backends.cudnn.deterministic=True, "
        "torch.backends.cudnn.benchmark=False" + (f", {cublas}" if cublas else "")
    )
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = previous[2], previous[3]
