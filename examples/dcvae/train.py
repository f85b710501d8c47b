"""The reference DC-VAE trainer: real data, complete resume, pictures, distributed.

    python examples/dcvae/train.py                      # digits, under 10 minutes on 2 CPU cores
    python examples/dcvae/train.py --mode vaegan        # a row of Table 1
    python examples/dcvae/train.py --preset cifar10 --data cifar10:PATH --inception-weights FILE
    torchrun --nproc_per_node 2 examples/dcvae/train.py --steps 100

The output folder (``--out``) receives ``config.json``, ``checkpoint.pt`` (every
``--checkpoint-every`` steps and at the end; ``--resume`` with the same flags continues from
it, and ``--steps`` may be raised), ``samples.png``, ``reconstructions.png`` (each row of inputs
above its reconstructions), ``interpolations.png``, ``losses.png`` and ``metrics.jsonl`` (one
line per evaluation). A folder that holds a run is never overwritten by accident: a new run
there needs ``--overwrite`` (see ``run_folder.py``). The first log line names the device
(``--device auto``, the default, takes the GPU when there is one). Every setting, file and
checkpoint is checked before training starts; a problem stops the program with one
``error:`` line and exit status 1. See ``config.py`` (or ``--help``) for every flag.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from checkpoint import (
    FILENAME,
    NonFiniteState,
    check_finite_state,
    gather_rank_states,
    load,
    rank_state,
    remove_orphans,
    save,
)
from config import Config, parse_config
from data import BatchStream, load_images
from evaluate import Evaluator
from outputs import (
    LOSS_CURVES,
    METRICS,
    LossLog,
    NonFiniteLoss,
    append_jsonl,
    plot_losses,
    truncate_jsonl,
)
from run_folder import CONFIG, check_run_folder, clear_run
from step import Trainer
from tqdm import tqdm


def choose_device(config: Config) -> tuple[torch.device, str]:
    """The device of this process and why it was chosen (for the first log line)."""
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    if config.device != "auto":
        device = torch.device(config.device)
        reason = "--device"
    elif not torch.cuda.is_available():
        device, reason = torch.device("cpu"), "--device auto: no GPU is available"
    elif torch.cuda.device_count() < local_processes:
        # Two processes on one GPU would fail in NCCL; the CPU with gloo works.
        device = torch.device("cpu")
        reason = (
            f"--device auto: {local_processes} processes on this node, "
            f"{torch.cuda.device_count()} GPU(s)"
        )
    else:
        device, reason = torch.device("cuda"), "--device auto: a GPU is available"
    if device.type == "cuda" and (local_processes > 1 or device.index is None):
        device = torch.device("cuda", local_rank if local_processes > 1 else 0)
    return device, reason


def setup_distributed(device: torch.device) -> tuple[int, int]:
    """Join the process group that ``torchrun`` describes, if any; return rank and size."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if world_size == 1:
        return 0, 1
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), world_size


def broadcast_state(trainer: Trainer) -> None:
    """Start every rank from rank 0's networks (gradients are averaged from then on)."""
    for tensor in trainer.state_dict().values():
        dist.broadcast(tensor, src=0)


def describe(device: torch.device, reason: str, world_size: int) -> str:
    """The first log line: where the run trains, and why there."""
    name = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
    processes = f"; {world_size} processes, each on its own device" if world_size > 1 else ""
    return f"device: {device}{name}, from {reason}{processes}"


@dataclass
class Prepared:
    """A run that passed every check and is ready to train from ``step``."""

    config: Config
    out: Path
    rank: int
    device: torch.device
    trainer: Trainer
    stream: BatchStream
    evaluator: Evaluator
    step: int
    history: list[dict[str, float]]
    #: The step and path of the last checkpoint whose state is finite (``None``: none yet).
    good: tuple[int, Path] | None

    @property
    def main_process(self) -> bool:
        return self.rank == 0


def prepare(config: Config) -> Prepared:
    """Check everything and build the run; write nothing until every check has passed.

    Raises:
        ValueError: (or its subclasses ``RunFolderError``, ``DataError``, ``CheckpointError``)
            for a folder holding a run, bad data, a checkpoint this run cannot resume, or
            settings the networks refuse.
        OSError: for files that cannot be read (a missing ``--inception-weights`` file, ...).
    """
    device, reason = choose_device(config)
    rank, world_size = setup_distributed(device)
    main_process = rank == 0
    if main_process:
        print(describe(device, reason, world_size), flush=True)
    if config.threads:
        torch.set_num_threads(config.threads)
    out = Path(config.out)
    check_run_folder(out, resume=config.resume, overwrite=config.overwrite)
    report = print if main_process else lambda line: None
    images = load_images(config.data, config.resolution, report)
    torch.manual_seed(config.seed)
    trainer = Trainer(config, channels=images.shape[1]).to(device)
    if world_size > 1:
        broadcast_state(trainer)
    # Different noise on every rank, the same networks.
    torch.manual_seed(config.seed + rank)
    stream = BatchStream(
        images, config.batch_size, seed=config.seed, rank=rank, world_size=world_size
    )
    step, history, good = 0, list[dict[str, float]](), None
    if config.resume:
        step, history = load(out / FILENAME, trainer, stream, rank)
        good = (step, out / FILENAME)
    evaluator = Evaluator(trainer, images, out, config.seed)
    if main_process:
        for orphan in remove_orphans(out / FILENAME):
            print(f"removed {orphan}, left by a save that was killed", flush=True)
    if main_process and step < config.steps:
        if config.overwrite and (replaced := clear_run(out)):
            print(f"--overwrite: replaced the run in {out} ({', '.join(replaced)})", flush=True)
        out.mkdir(parents=True, exist_ok=True)
        (out / CONFIG).write_text(config.to_json())
        truncate_jsonl(out / METRICS, step)
    return Prepared(config, out, rank, device, trainer, stream, evaluator, step, history, good)


def _last_good(good: tuple[int, Path] | None) -> str:
    if good is None:
        return "no checkpoint of this run was written, so none is good"
    step, path = good
    return f"the last good checkpoint is {path} (step {step}; every tensor in it is finite)"


def train(run: Prepared) -> dict[str, float]:
    """Train a prepared run to ``--steps``; return the last logged loss means.

    Raises:
        NonFiniteLoss, NonFiniteState: when a loss or a tensor of the state is not finite; the
            message says which checkpoint (step, path) is good, or that none is.
    """
    config, out, main_process = run.config, run.out, run.main_process
    trainer, evaluator, step, history = run.trainer, run.evaluator, run.step, run.history
    if step == config.steps:
        if main_process:
            print(
                f"{out / FILENAME} is already at step {step} (--steps): nothing to train; "
                "raise --steps to continue",
                flush=True,
            )
        return {}
    log = LossLog(run.device)
    progress = _progress(config, step, main_process)
    start, start_cpu = time.perf_counter(), time.process_time()
    summary: dict[str, float] = {}
    try:
        while step < config.steps:
            logs = trainer.iteration(next(run.stream).to(run.device, non_blocking=True), step)
            step += 1
            log.add(logs, step)
            last = step == config.steps
            if step % config.log_every == 0 or last:
                summary = log.flush()
                history.append({"step": step, **summary})
                _report(progress, config, step, summary, time.perf_counter() - start, main_process)
            if progress is not None:
                progress.update(1)
            evaluate = step % config.eval_every == 0 or last
            checkpoint = step % config.checkpoint_every == 0 or last
            if evaluate or checkpoint:
                # Neither pictures, metrics nor a checkpoint from a non-finite state.
                log.check()
                check_finite_state(trainer, step)
            if evaluate:
                metrics = evaluator.metrics()
                if main_process:
                    evaluator.pictures()
                    append_jsonl(out / METRICS, {"step": step, **metrics})
                    plot_losses(history, out / LOSS_CURVES)
            if checkpoint:
                states = gather_rank_states(rank_state(run.stream))
                if main_process:
                    save(out / FILENAME, trainer, step, history, states)
                run.good = (step, out / FILENAME)
    except (NonFiniteLoss, NonFiniteState) as error:
        raise type(error)(f"{error}; training stopped: {_last_good(run.good)}") from None
    finally:
        if progress is not None:
            progress.close()
    if main_process:
        wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
        print(f"{step} steps in {wall:.0f} s ({cpu:.0f} s CPU); outputs in {out}", flush=True)
    return summary


def run(config: Config) -> dict[str, float]:
    """Train as ``config`` says (:func:`prepare`, then :func:`train`); return the last logged
    loss means."""
    return train(prepare(config))


def _progress(config: Config, step: int, main_process: bool) -> tqdm | None:
    """A progress bar on rank 0 unless ``--quiet``."""
    if config.quiet or not main_process:
        return None
    return tqdm(total=config.steps, initial=step, desc=config.mode, dynamic_ncols=True)


def _report(
    progress: tqdm | None,
    config: Config,
    step: int,
    summary: dict[str, float],
    seconds: float,
    main_process: bool,
) -> None:
    """Show the loss means in the progress bar, or print them as a log line."""
    if progress is not None:
        progress.set_postfix({k: f"{v:.3g}" for k, v in summary.items()}, refresh=False)
    elif main_process:
        shown = "  ".join(f"{k} {v:.4g}" for k, v in summary.items())
        print(f"step {step:6d}/{config.steps}  {shown}  ({seconds:.0f} s)", flush=True)


def main(argv: list[str] | None = None) -> None:
    """The command line: a refused setting or file, or a non-finite state, is one ``error:``
    line on stderr and exit status 1."""
    try:
        try:
            prepared = prepare(parse_config(argv))
        except (ValueError, OSError) as error:
            raise SystemExit(f"error: {_one_line(error)}") from None
        try:
            train(prepared)
        except (NonFiniteLoss, NonFiniteState) as error:
            raise SystemExit(f"error: {_one_line(error)}") from None
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


if __name__ == "__main__":
    main()
