"""Mixed precision: ``train.precision`` as a ``torch.autocast`` region and, for fp16, a
gradient scaler.

``fp32`` changes nothing. ``bf16`` runs the autocast-eligible operations (matrix multiplies,
recurrent kernels) in bfloat16 on CPU and CUDA; its exponent range equals fp32's, so no
loss scaling is needed. ``fp16`` does the same in float16 with a ``torch.amp.GradScaler``
that scales the loss before backward, unscales before clipping and skips optimizer steps
whose gradients overflowed (the scaler's state is part of a checkpoint). Parameters and
optimizer state stay in float32 throughout. Imports layer 0 only.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch

__all__ = ["PRECISIONS", "Precision"]

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def _cpu_runs_bf16() -> bool:
    """Whether this CPU runs bfloat16 matrix work in hardware (AVX-512 BF16 or AMX tiles).

    torch exposes the probes as private functions of ``torch.cpu``; where a torch version
    lacks them, the answer is True (nothing to warn about that cannot be checked).
    """
    probes = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    known = [probe for probe in probes if callable(probe)]
    return not known or any(bool(probe()) for probe in known)


class Precision:
    """The autocast region and loss scaling of one training run.

    Args:
        name: ``fp32``, ``bf16`` or ``fp16``.
        device: the training device.

    Attributes:
        note: a warning for the run log when the precision will run but slowly here (bf16
            on a CPU without bfloat16 hardware), else None.

    Raises:
        ValueError: an unknown name, or a precision the device cannot run (e.g. bf16 on a
            CUDA GPU without bfloat16 support).
    """

    def __init__(self, name: str, device: torch.device) -> None:
        if name not in PRECISIONS:
            raise ValueError(f"train.precision must be one of {', '.join(PRECISIONS)}, got {name!r}")
        if name == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise ValueError("train.precision is bf16 but this GPU has no bfloat16 support; use fp16 or fp32")
        if name != "fp32" and device.type not in ("cpu", "cuda", "mps"):
            raise ValueError(f"train.precision {name} is not supported on device {device}; use fp32")
        self.name, self.device, self.dtype = name, device, PRECISIONS[name]
        self.note = (
            "train.precision is bf16 but this CPU has neither AVX-512 BF16 nor AMX: torch emulates bfloat16, "
            "often more slowly than fp32 (compare with python benchmarks/bf16.py, or set train.precision=fp32)"
            if name == "bf16" and device.type == "cpu" and not _cpu_runs_bf16()
            else None
        )
        self.scaler = torch.amp.GradScaler(device.type) if name == "fp16" else None
        self._unscaled = False

    def autocast(self) -> AbstractContextManager[Any]:
        """The region in which forward passes (and the loss) run."""
        if self.dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def scale(self, loss: torch.Tensor) -> torch.Tensor:
        """The loss to call ``backward`` on (scaled under fp16)."""
        return self.scaler.scale(loss) if self.scaler is not None else loss

    def unscale(self, optimizer: torch.optim.Optimizer) -> None:
        """Bring the gradients back to their true size (before clipping or inspecting them)."""
        if self.scaler is not None:
            self.scaler.unscale_(optimizer)
            self._unscaled = True

    def step(self, optimizer: torch.optim.Optimizer) -> bool:
        """Step the optimizer; under fp16 the scaler skips steps with inf/NaN gradients and
        adjusts its scale. Returns whether the step was applied."""
        if self.scaler is None:
            optimizer.step()
            return True
        scale = self.scaler.get_scale()
        self.scaler.step(optimizer)
        self.scaler.update()
        self._unscaled = False
        return self.scaler.get_scale() >= scale  # the scale only drops after an overflow

    def skip(self) -> None:
        """A step the trainer drops after :meth:`unscale` (non-finite loss): the scaler
        still takes note of it (lowering its scale after an overflow), so the next step
        starts clean."""
        if self.scaler is not None and self._unscaled:
            self.scaler.update()
        self._unscaled = False

    def state_dict(self) -> dict[str, Any]:
        """The precision name and the fp16 scaler's state (tensors and numbers only)."""
        return {"name": self.name, "scaler": self.scaler.state_dict() if self.scaler is not None else None}

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        """Restore :meth:`state_dict`; a checkpoint of another precision leaves the scaler fresh."""
        if state and self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
