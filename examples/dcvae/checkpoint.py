"""Complete, atomic checkpoints: a resumed run continues bit-identically on CPU.

A checkpoint holds every tensor of the :class:`~step.Trainer` (networks, momentum copy of the
discriminator, decoder EMA, contrastive heads, every queue with its pointer and fill count),
both optimizers, the step, the images seen (the progressive-growing state), the data order,
the loss history and the random number generator states (torch, CUDA, numpy, python) of every
rank. It is written to a temporary file in the same folder and renamed over the old one, so a
crash while saving leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from data import BatchStream
from step import Trainer

from contradistinct.distributed import is_distributed

FILENAME = "checkpoint.pt"


class CheckpointError(ValueError):
    """A checkpoint that is missing or cannot be resumed by this run."""


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


#: Settings a resumed run may change: length, logging, evaluation and where it runs. Every other
#: setting shapes the training itself and must match the checkpoint's.
RESUMABLE = frozenset(
    {
        "steps", "resume", "quiet", "threads", "device", "out", "checkpoint_every",
        "eval_every", "log_every", "eval_samples", "feature_network", "feature_cache",
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


def load(
    path: Path, trainer: Trainer, stream: BatchStream, rank: int
) -> tuple[int, list[dict[str, float]]]:
    """Restore a checkpoint into ``trainer`` and ``stream``; return ``(step, history)``."""
    if not path.is_file():
        raise CheckpointError(f"--resume: no checkpoint at {path}")
    payload = torch.load(path, map_location="cpu", weights_only=False)
    check_same_config(json.loads(payload["config"]), json.loads(trainer.config.to_json()), path)
    ranks = payload["ranks"]
    if len(ranks) <= rank:
        raise CheckpointError(
            f"{path} was written by {len(ranks)} process(es); cannot resume rank {rank} from it"
        )
    trainer.load_state_dict(payload["trainer"])
    trainer.load_optimizer_state(payload["optimizers"])
    trainer.images_seen = payload["images_seen"]
    stream.load_state_dict(ranks[rank]["data"])
    set_rng_state(ranks[rank]["rng"])
    return payload["step"], payload["history"]
