"""Training across processes with ``torch.distributed``, as launched by ``torchrun``.

seqframe adds nothing of its own to the launch: ``torchrun`` sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK`` and the rendezvous variables; :func:`init_from_env` joins the process group
(``nccl`` when training on CUDA, ``gloo`` otherwise) and each rank trains on its own
``cuda:LOCAL_RANK``. Without those variables (a plain ``seqframe run``) every helper here
describes a world of one and does nothing. :func:`launch` is what ``seqframe run --nproc N``
calls: ``python -m torch.distributed.run`` on this machine with a free port.

Collectives wait at most ``SEQFRAME_DIST_TIMEOUT`` seconds (default 1800) for a peer, so a
lost machine ends the job instead of hanging it. Imports layer 0 only.
"""

from __future__ import annotations

import copy
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from types import FrameType
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from seqframe.errors import DistributedError, SeqframeError

__all__ = [
    "TIMEOUT_ENV",
    "DistributedError",
    "World",
    "all_gather_objects",
    "broadcast",
    "current_world",
    "describe_run",
    "init_from_env",
    "is_collective_failure",
    "launch",
    "rank_device",
    "rank_state",
    "reduce_step",
    "run_on_main",
    "shard_batch",
    "shutdown",
]

TIMEOUT_ENV = "SEQFRAME_DIST_TIMEOUT"
DEFAULT_TIMEOUT_S = 1800.0
T = TypeVar("T")
_PEER_LOST = ("gloo", "nccl", "connection closed by peer", "connection reset by peer", "timed out", "timeout")


def is_collective_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is a failed collective (torch's DistError, or a gloo/NCCL error
    about a lost peer or a timeout) rather than a fault of this rank's own computation."""
    if isinstance(exc, getattr(dist, "DistError", ())):
        return True
    return isinstance(exc, RuntimeError) and any(word in str(exc).lower() for word in _PEER_LOST)


@dataclass(frozen=True)
class World:
    """This process's place in the job.

    Attributes:
        rank: this process's number, 0 to ``size - 1``.
        size: how many processes train together.
        local_rank: its number on this machine (picks the GPU).
        owns_group: :func:`init_from_env` created the process group (so :func:`shutdown`
            leaves it); False when the caller had joined one already.
    """

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        """Rank 0: the only process that writes logs, metrics, plots and checkpoints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """More than one process."""
        return self.size > 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise SeqframeError(f"environment variable {name} must be an integer, got {value!r}") from None


def _timeout() -> timedelta:
    value = os.environ.get(TIMEOUT_ENV, str(DEFAULT_TIMEOUT_S))
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if seconds <= 0:
        raise SeqframeError(f"environment variable {TIMEOUT_ENV} must be a number of seconds > 0, got {value!r}")
    return timedelta(seconds=seconds)


def current_world() -> World:
    """The world of the process group this process has joined (a world of one if none)."""
    if not (dist.is_available() and dist.is_initialized()):
        return World()
    return World(dist.get_rank(), dist.get_world_size(), _env_int("LOCAL_RANK", 0))


def init_from_env(device: torch.device) -> tuple[World, torch.device]:
    """Join the torchrun job described by the environment, if any.

    Args:
        device: the training device (``train.device`` resolved).

    Returns:
        The world and the device this rank trains on (``cuda:LOCAL_RANK`` for a CUDA
        device; others unchanged). Already joined: the current world, unchanged.

    Raises:
        SeqframeError: malformed torchrun variables or timeout, or a device other than
            CPU and CUDA.
    """
    size = _env_int("WORLD_SIZE", 1)
    if size <= 1:
        return World(), device
    if dist.is_initialized():
        world = current_world()
        return world, rank_device(device, world)
    if device.type not in ("cpu", "cuda"):
        raise SeqframeError(
            f"train.device {str(device)!r}: several processes train on CUDA GPUs (nccl) or on the "
            f"CPU (gloo); set train.device to cuda or cpu, or run one process"
        )
    world = World(_env_int("RANK", 0), size, _env_int("LOCAL_RANK", 0), owns_group=True)
    device = rank_device(device, world)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=_timeout())
    return world, device


def rank_device(device: torch.device, world: World) -> torch.device:
    """``cuda:LOCAL_RANK`` for a CUDA device in a world of several; otherwise ``device``."""
    if world.distributed and device.type == "cuda":
        return torch.device("cuda", world.local_rank)
    return device


def shutdown(world: World) -> None:
    """Leave the process group, if :func:`init_from_env` created it for ``world``."""
    if world.owns_group and dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def reduce_step(
    sums: Sequence[float | torch.Tensor], maxima: Sequence[float], device: torch.device, world: World
) -> tuple[list[float], list[float]]:
    """One collective per training step: elementwise sums of ``sums`` and maxima of
    ``maxima`` over all ranks (unchanged in a world of one)."""
    values = [torch.as_tensor(v, dtype=torch.float64, device=device).reshape(()) for v in (*sums, *maxima)]
    packed = torch.stack(values)
    if world.distributed:
        gathered = [torch.empty_like(packed) for _ in range(world.size)]
        dist.all_gather(gathered, packed)
        table = torch.stack(gathered)  # (world, K)
        packed = torch.cat([table[:, : len(sums)].sum(0), table[:, len(sums) :].amax(0)])
    out = packed.tolist()
    return out[: len(sums)], out[len(sums) :]


def broadcast(value: Any, world: World) -> Any:
    """Rank 0's ``value`` on every rank (any picklable object; unchanged in a world of one)."""
    if not world.distributed:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_gather_objects(value: Any, world: World) -> list[Any]:
    """Every rank's ``value``, in rank order (``[value]`` in a world of one)."""
    if not world.distributed:
        return [value]
    out: list[Any] = [None] * world.size
    dist.all_gather_object(out, value)
    return out


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it can be rebuilt from its state (as unpickling on the other ranks will),
    else an error of the same family with its text."""
    try:
        copy.copy(exc)
        return exc
    except Exception:  # e.g. exceptions whose __init__ takes other arguments than args
        return (SeqframeError if isinstance(exc, SeqframeError) else RuntimeError)(str(exc))


def run_on_main(fn: Callable[[], T], world: World) -> T:
    """Call ``fn`` on rank 0 only and give its result to every rank; if it raises, every
    rank raises the same error (so no rank waits for a result that never comes)."""
    if not world.distributed:
        return fn()
    if world.is_main:
        try:
            value = fn()
        except Exception as exc:
            broadcast(("error", _portable(exc)), world)
            raise
        return broadcast(("ok", value), world)[1]  # type: ignore[no-any-return]
    kind, value = broadcast(None, world)
    if kind == "error":
        raise value
    return value  # type: ignore[no-any-return]


def shard_batch(batch: Mapping[str, Any], world: World) -> tuple[dict[str, Any], bool]:
    """This rank's rows ``rank::size`` of a batch.

    Every tensor whose first dimension is the batch size (that of the first tensor) is
    cut; anything else is kept whole. Taking every ``size``-th row keeps a language
    model's parallel streams contiguous (row ``i`` stays row ``i`` from one window to the
    next) and the rows of all ranks together are exactly the batch.

    Returns:
        The shard and whether it holds real rows. A batch with fewer rows than ranks
        gives the ranks past its end a copy of row 0 to run (their targets must then
        count zero), so every rank takes part in the gradient all-reduce.
    """
    if not world.distributed:
        return dict(batch), True
    rows = next((v.shape[0] for v in batch.values() if isinstance(v, torch.Tensor) and v.dim() > 0), None)
    if rows is None:
        return dict(batch), True
    real = world.rank < rows
    pick = slice(world.rank, None, world.size) if real else slice(0, 1)
    shard = {
        k: v[pick].contiguous() if isinstance(v, torch.Tensor) and v.dim() > 0 and v.shape[0] == rows else v
        for k, v in batch.items()
    }
    return shard, real


def rank_state(state: Mapping[str, Any], world: World) -> tuple[Any, Any, str | None]:
    """This rank's RNG state and TBPTT carry in a checkpoint's ``state``, and a warning
    when the checkpoint was written by another number of processes: then the weights,
    optimizer and data position still continue exactly (the global batch does not depend
    on the number of processes), but the carry restarts from zero and a rank the
    checkpoint has no state for keeps its fresh seed (RNG None)."""
    saved = int(state.get("world_size", 1))
    ranks = state.get("ranks") or [{"rng": state["rng"], "carry": state["carry"]}]
    if saved == world.size:
        return ranks[world.rank]["rng"], ranks[world.rank]["carry"], None
    carried = " and the TBPTT state restarts from zero" if any(r["carry"] is not None for r in ranks) else ""
    note = (
        f"the checkpoint was written by {saved} process(es) and {world.size} are training now: weights, "
        f"optimizer and data position continue exactly, but dropout draws differ from the original run{carried}"
    )
    return (ranks[world.rank]["rng"] if world.rank < len(ranks) else None), None, note


def describe_run(batch_size: int, accumulate: int, precision: str, device: torch.device, world: World) -> str:
    """The run-log line stating where and how a run trains, with its effective batch."""
    if world.distributed:
        where = f"{world.size} processes ({'nccl' if device.type == 'cuda' else 'gloo'}), each on {device.type}"
        rows = f"; {-(-batch_size // world.size)} rows per process per micro-batch"
    else:
        where, rows = f"1 process on {device}", ""
    return (
        f"training: {where}; precision {precision}; effective batch {batch_size * accumulate} rows per "
        f"optimizer step (train.batch_size {batch_size} x train.accumulate {accumulate}{rows})"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def launch(nproc: int, argv: Sequence[str]) -> int:
    """Run ``python -m seqframe ARGV`` in ``nproc`` processes on this machine under
    ``torchrun`` (``python -m torch.distributed.run``) on 127.0.0.1 and a free port, and
    wait for it.

    Ctrl-C reaches the workers directly (they save a checkpoint and stop together); a
    SIGTERM sent to this process is passed on to torchrun, which passes it to them.

    Returns:
        torchrun's exit status (``128 + N`` if it was killed by signal N), except that a
        run stopped by a signal this process also received returns ``128 + signal``
        (130, 143) as a single-process run does, where torchrun would say 1.
    """
    if nproc < 1:
        raise SeqframeError(f"--nproc must be >= 1, got {nproc}")
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc_per_node={nproc}",
        "--nnodes=1",
        "--master_addr=127.0.0.1",
        f"--master_port={_free_port()}",
        "-m",
        "seqframe",
        *argv,
    ]
    process = subprocess.Popen(command)
    received: list[int] = []

    def forward(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        if signum == signal.SIGTERM:
            process.send_signal(signum)  # SIGINT from a terminal already reached the whole group

    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {signum: signal.signal(signum, forward) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = process.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if code != 0 and received:
        return 128 + received[0]
    return 128 - code if code < 0 else code
