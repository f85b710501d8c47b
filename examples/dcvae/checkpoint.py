"""Complete, atomic checkpoints: a resumed run continues bit-identically on CPU.

A checkpoint holds every tensor of the :class:`~step.Trainer` (networks, momentum copy of the
discriminator, decoder EMA, contrastive heads, every queue with its pointer and fill count),
both optimizers, the step, the images seen (the progressive-growing state), the data order,
the loss history and the random number generator states (torch, CUDA, numpy, python) of every
rank. It is written to a temporary file in the same folder and renamed over the old one, so a
crash while saving leaves the previous checkpoint intact; a save killed outright (``kill -9``)
leaves its temporary file behind, and the next start removes it (:func:`remove_orphans`).

A checkpoint is written only from a state whose every floating-point tensor (networks, copies,
queues, optimizer moments) is finite (:func:`check_finite_state`, run before each save). On
``--resume`` a file that is empty, truncated, corrupted (its zip records' CRC-32 checksums are
verified), unreadable or not a checkpoint of this trainer, or that was written by another number
of processes, is past ``--steps`` or holds a non-finite tensor, is refused with a
:class:`CheckpointError` naming the path and what is wrong.
"""

from __future__ import annotations

import glob
import json
import os
import random
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from data import BatchStream
from step import Trainer
from torch import Tensor

from contradistinct.distributed import is_distributed

FILENAME = "checkpoint.pt"


#: What :func:`save` writes; a file without these is not a checkpoint of this trainer.
PARTS = ("step", "images_seen", "config", "trainer", "optimizers", "history", "ranks")


class CheckpointError(ValueError):
    """A checkpoint that is missing or cannot be resumed by this run."""


class NonFiniteState(RuntimeError):
    """A tensor of the training state is NaN or infinite; no checkpoint is written from it."""


def rng_state() -> dict[str, Any]:
    state = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),  # noqa: NPY002 (the global state is what to save)
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])  # noqa: NPY002
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def gather_rank_states(state: dict[str, Any]) -> list[dict[str, Any]]:
    """Every rank's ``state``, in rank order (collective under ``torch.distributed``)."""
    if not is_distributed():
        return [state]
    states: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(states, state)
    return states


def save(
    path: Path,
    trainer: Trainer,
    step: int,
    history: list[dict[str, float]],
    rank_states: list[dict[str, Any]],
) -> None:
    """Write the checkpoint of a run that has finished ``step`` iterations, atomically."""
    payload = {
        "step": step,
        "images_seen": trainer.images_seen,
        "config": trainer.config.to_json(),
        "trainer": trainer.state_dict(),
        "optimizers": trainer.optimizer_state(),
        "history": history,
        "ranks": rank_states,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            torch.save(payload, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def rank_state(stream: BatchStream) -> dict[str, Any]:
    """This rank's random state and data position."""
    return {"rng": rng_state(), "data": stream.state_dict()}


def remove_orphans(path: Path) -> list[Path]:
    """Delete the temporary files that killed saves of ``path`` left behind; return them.

    :func:`save` removes its temporary file on any exception, but ``kill -9`` (or a power cut)
    runs no cleanup. Only one run writes to a folder, so at its start every such file is an
    orphan.
    """
    orphans = sorted(path.parent.glob(f"{glob.escape(path.name)}*.tmp"))
    for orphan in orphans:
        orphan.unlink(missing_ok=True)
    return orphans


def _state_tensors(trainer: Trainer) -> list[tuple[str, Tensor]]:
    """Every floating-point tensor a checkpoint of ``trainer`` holds, by name."""
    named = list(trainer.state_dict().items())
    for optimizer, state in trainer.optimizer_state().items():
        for index, values in state["state"].items():  # type: ignore[index]
            named += [(f"{optimizer}.state.{index}.{key}", value) for key, value in values.items()]
    return [(name, t) for name, t in named if isinstance(t, Tensor) and t.is_floating_point()]


def check_finite_state(trainer: Trainer, step: int) -> None:
    """Raise :class:`NonFiniteState` if any tensor a checkpoint would hold is NaN or infinite.

    Run on the state after the optimizer steps, where a finite loss can still have produced
    non-finite weights (an infinite learning rate, an overflowing update). One reduction per
    tensor stays on the device and the flags are read once, so it costs one host
    synchronisation at the checkpoint cadence. Collective under ``torch.distributed`` (a tensor
    is bad if it is bad on any rank).
    """
    named = _state_tensors(trainer)
    device = named[0][1].device
    bad = torch.stack([torch.isfinite(t).all().logical_not().to(device) for _, t in named])
    if is_distributed():
        flags = bad.int()
        dist.all_reduce(flags, op=dist.ReduceOp.MAX)
        bad = flags.bool()
    names = [name for (name, _), flag in zip(named, bad.tolist(), strict=True) if flag]
    if names:
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        raise NonFiniteState(
            f"{len(names)} of {len(named)} tensors of the training state were not finite after "
            f"step {step} ({shown})"
        )


#: Settings a resumed run may change: length, logging, evaluation and where it runs. Every other
#: setting shapes the training itself and must match the checkpoint's.
RESUMABLE = frozenset(
    {
        "steps", "resume", "overwrite", "quiet", "threads", "device", "out", "checkpoint_every",
        "eval_every", "log_every", "eval_samples", "feature_network", "feature_cache",
        "inception_weights",
    }
)  # fmt: skip


def check_same_config(saved: dict[str, Any], current: dict[str, Any], path: Path) -> None:
    """Refuse to resume with settings that change the training (see :data:`RESUMABLE`)."""
    differing = sorted(
        key
        for key in saved.keys() | current.keys()
        if key not in RESUMABLE and saved.get(key) != current.get(key)
    )
    if differing:
        changes = ", ".join(f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in differing)
        raise CheckpointError(
            f"--resume: {path} was written with other settings ({changes}); resume with the "
            "flags of the original run (only the length, logging and evaluation may change)"
        )


def _first_line(error: BaseException) -> str:
    # torch's archive errors run to several sentences of advice; the first says what failed.
    return f"{type(error).__name__}: {str(error).strip().split('. ')[0].splitlines()[0]}"


def _read(path: Path) -> dict[str, Any]:
    """The payload of the checkpoint at ``path``, or a :class:`CheckpointError` saying what is
    wrong with the file."""
    if not path.is_file():
        raise CheckpointError(f"--resume: no checkpoint at {path}")
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(f"--resume: {path} is empty (0 bytes)")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(
            f"--resume: {path} is truncated or not a checkpoint ({size} bytes without the end "
            "of a torch.save archive)"
        )
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except Exception as error:  # a damaged archive fails in the zip reader in many ways
        raise CheckpointError(f"--resume: {path} is corrupted ({_first_line(error)})") from error
    if damaged is not None:
        raise CheckpointError(
            f"--resume: {path} is corrupted: the bytes of its record {damaged!r} do not match "
            "their CRC-32 checksum"
        )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # unpickling can fail in many ways
        raise CheckpointError(
            f"--resume: {path} cannot be read by torch.load ({_first_line(error)})"
        ) from error
    missing = [part for part in PARTS if not isinstance(payload, dict) or part not in payload]
    if missing:
        raise CheckpointError(
            f"--resume: {path} is not a checkpoint of this trainer (a {type(payload).__name__} "
            f"without {', '.join(repr(part) for part in missing)})"
        )
    return payload


def load(
    path: Path, trainer: Trainer, stream: BatchStream, rank: int
) -> tuple[int, list[dict[str, float]]]:
    """Restore a checkpoint into ``trainer`` and ``stream``; return ``(step, history)``.

    Raises:
        CheckpointError: when the file cannot be resumed by this run. Every check but the last
            two (that the saved state fits the networks and is finite) comes before anything
            is restored.
    """
    payload = _read(path)
    try:
        saved = json.loads(payload["config"])
    except (TypeError, ValueError):
        saved = None
    if not isinstance(saved, dict):
        raise CheckpointError(
            f"--resume: {path} is not a checkpoint of this trainer (its 'config' is not the "
            "JSON of a run's settings)"
        )
    check_same_config(saved, json.loads(trainer.config.to_json()), path)
    processes = dist.get_world_size() if is_distributed() else 1
    written_by = len(payload["ranks"])
    if written_by != processes:
        raise CheckpointError(
            f"--resume: {path} was written by {written_by} process(es) and this run has "
            f"{processes}; each process's data shard and random state are in it, so resume with "
            f"{written_by} (torchrun --nproc_per_node {written_by})"
        )
    step, steps = payload["step"], trainer.config.steps
    if step > steps:
        raise CheckpointError(
            f"--resume: {path} is at step {step}, past --steps {steps}; a run cannot go back: "
            "raise --steps to continue it, or start a new run with another --out"
        )
    try:
        trainer.load_state_dict(payload["trainer"])
        trainer.load_optimizer_state(payload["optimizers"])
        trainer.images_seen = payload["images_seen"]
        stream.load_state_dict(payload["ranks"][rank]["data"])
        set_rng_state(payload["ranks"][rank]["rng"])
    except (RuntimeError, KeyError, TypeError, ValueError) as error:
        raise CheckpointError(
            f"--resume: {path} does not fit this run's networks ({_first_line(error)})"
        ) from error
    # Checkpoints of older trainers were written without the finiteness check.
    try:
        check_finite_state(trainer, step)
    except NonFiniteState as error:
        raise CheckpointError(
            f"--resume: {path} holds a state that is not finite: {error}"
        ) from None
    return step, payload["history"]
