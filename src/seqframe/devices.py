"""Devices by recipe name: which exist on this machine, and how much memory they have.

Layer 0 (torch and the stdlib only), so that recipe validation (layer 3) and the engine
(layer 4) share one definition: ``validate`` accepts exactly the devices training can use.
"""

from __future__ import annotations

import os

import torch

from seqframe.errors import DeviceError

__all__ = ["DEVICE_KINDS", "device_memory", "device_problem", "resolve_device"]

DEVICE_KINDS = ("auto", "cpu", "cuda", "cuda:N", "mps")
"""How a device may be written (``cuda:N`` with N below the number of GPUs)."""


def device_problem(name: object) -> str | None:
    """What is wrong with the device ``name`` on this machine, or None when it can be used.

    ``auto`` always works (CUDA when present, else CPU); ``cpu`` always; ``cuda`` and
    ``cuda:N`` when that GPU exists; ``mps`` when the Metal backend is available.
    """
    expected = f"expected {', '.join(DEVICE_KINDS)}"
    if not isinstance(name, str):
        return f"{expected}, got {type(name).__name__} {name!r}"
    if name == "auto":
        return None
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        return f"{expected}, got {name!r} (not a device torch knows)"
    if device.type == "cpu":
        return None if device.index in (None, 0) else f"{expected}, got {name!r} (the CPU has no index)"
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            return f"CUDA is not available here, so {name!r} cannot be used; use 'auto' or 'cpu'"
        if device.index is not None and device.index >= count:
            return f"{name!r} does not exist: this machine has {count} GPU(s), cuda:0 to cuda:{count - 1}"
        return None
    if device.type == "mps":
        return None if torch.backends.mps.is_available() else f"{name!r} needs Apple's MPS, which is not available here"
    return f"{expected}, got {name!r} (seqframe does not train or predict on {device.type!r} devices)"


def resolve_device(name: str, where: str = "train.device") -> torch.device:
    """``auto`` -> CUDA when available, else CPU; anything else as torch spells it.

    Args:
        name: the device as a recipe or the command line writes it.
        where: what to name in the error (``train.device``, ``--device``).

    Raises:
        DeviceError: ``name`` is not a device, or not one this machine has.
    """
    problem = device_problem(name)
    if problem is not None:
        raise DeviceError(where, problem)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def device_memory(name: str) -> int | None:
    """Bytes of memory of the device ``name`` resolves to (the machine's RAM for the CPU),
    or None when unknown. Touches CUDA only when ``name`` resolves to a GPU."""
    if device_problem(name) is not None:
        return None
    device = resolve_device(name)
    if device.type == "cuda":
        return int(torch.cuda.get_device_properties(device.index or 0).total_memory)
    if device.type == "cpu":
        try:
            return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
        except (AttributeError, ValueError, OSError):  # not a POSIX system
            return None
    return None
