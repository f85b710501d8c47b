"""The reference DC-VAE trainer: real data, complete resume, pictures, distributed.

    python examples/dcvae/train.py                      # digits, under 10 minutes on 2 CPU cores
    python examples/dcvae/train.py --mode vaegan        # a row of Table 1
    python examples/dcvae/train.py --preset cifar10 --data cifar10:PATH --device cuda
    torchrun --nproc_per_node 2 examples/dcvae/train.py --steps 100

The output folder (``--out``) receives ``config.json``, ``checkpoint.pt`` (every
``--checkpoint-every`` steps and at the end; ``--resume`` with the same flags continues from
it, and ``--steps`` may be raised), ``samples.png``, ``reconstructions.png`` (each row of inputs
above its reconstructions), ``interpolations.png``, ``losses.png`` and ``metrics.jsonl`` (one
line per evaluation). See ``config.py`` for every flag.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch
import torch.distributed as dist
from checkpoint import FILENAME, CheckpointError, gather_rank_states, load, rank_state, save
from config import Config, parse_config
from data import BatchStream, DataError, load_images
from evaluate import Evaluator
from outputs import LossLog, NonFiniteLoss, append_jsonl, plot_losses, truncate_jsonl
from step import Trainer
from tqdm import tqdm


def setup_distributed(config: Config) -> tuple[int, int, torch.device]:
    """Join the process group that ``torchrun`` describes, if any; return rank, size, device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    device = torch.device(config.device)
    if world_size == 1:
        return 0, 1, device
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), world_size, device


def broadcast_state(trainer: Trainer) -> None:
    """Start every rank from rank 0's networks (gradients are averaged from then on)."""
    for tensor in trainer.state_dict().values():
        dist.broadcast(tensor, src=0)


def run(config: Config) -> dict[str, float]:
    """Train as ``config`` says; return the last logged loss means."""
    rank, world_size, device = setup_distributed(config)
    if config.threads:
        torch.set_num_threads(config.threads)
    out = Path(config.out)
    images = load_images(config.data, config.resolution)
    torch.manual_seed(config.seed)
    trainer = Trainer(config, channels=images.shape[1]).to(device)
    if world_size > 1:
        broadcast_state(trainer)
    # Different noise on every rank, the same networks.
    torch.manual_seed(config.seed + rank)
    stream = BatchStream(
        images, config.batch_size, seed=config.seed, rank=rank, world_size=world_size
    )
    step, history = 0, list[dict[str, float]]()
    if config.resume:
        step, history = load(out / FILENAME, trainer, stream, rank)
    main_process = rank == 0
    if main_process:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(config.to_json())
        if config.resume:
            truncate_jsonl(out / "metrics.jsonl", step)
        else:
            (out / "metrics.jsonl").unlink(missing_ok=True)
    evaluator = Evaluator(trainer, images, out, config.seed)
    log = LossLog(device)
    progress = _progress(config, step, main_process)
    start, start_cpu = time.perf_counter(), time.process_time()
    summary: dict[str, float] = {}
    while step < config.steps:
        logs = trainer.iteration(next(stream).to(device, non_blocking=True), step)
        step += 1
        log.add(logs, step)
        last = step == config.steps
        if step % config.log_every == 0 or last:
            summary = log.flush()
            history.append({"step": step, **summary})
            _report(progress, config, step, summary, time.perf_counter() - start, main_process)
        if progress is not None:
            progress.update(1)
        if step % config.eval_every == 0 or last:
            metrics = evaluator.metrics()
            if main_process:
                evaluator.pictures()
                append_jsonl(out / "metrics.jsonl", {"step": step, **metrics})
                plot_losses(history, out / "losses.png")
        if step % config.checkpoint_every == 0 or last:
            log.check()
            states = gather_rank_states(rank_state(stream))
            if main_process:
                save(out / FILENAME, trainer, step, history, states)
    if progress is not None:
        progress.close()
    if main_process:
        wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
        print(f"{step} steps in {wall:.0f} s ({cpu:.0f} s CPU); outputs in {out}", flush=True)
    return summary


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
    config = parse_config(argv)
    try:
        run(config)
    except (CheckpointError, DataError, NonFiniteLoss) as error:
        raise SystemExit(f"error: {error}") from error
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    main()
