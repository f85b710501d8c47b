"""Forward + backward time of InstanceLoss against the bare InfoNCE floor and peer libraries.

Every contender does one training step of the DC-VAE instance loss (Eq. 6) at the paper's
sizes: ``B`` queries with gradients against their ``B`` positive keys and a full queue of ``K``
negatives of dimension ``d``, then writes the keys into the queue. The floor is the least any
implementation must do: normalise the queries, one ``(B, d) @ (d, K)`` matmul against the
(already normalised) queue, one concatenation with the positive logits and ``F.cross_entropy``
(it writes nothing into its queue).

Contenders run interleaved over several rounds after a warm-up, with the order rotated each
round; the printed figure is the median time per step and its ratio to the floor measured in
the same run. Peers are optional (a line says which are missing); they are not dependencies:

* pytorch-metric-learning: ``CrossBatchMemory(NTXentLoss(temperature), embedding_size=d,
  memory_size=K)`` called MoCo-style (queries and keys concatenated, ``enqueue_mask`` selecting
  the keys, fresh labels per batch so a query's only positive is its own key). It enqueues
  before comparing, so its negatives are the other ``B - 1`` keys of the batch and the
  ``K - B`` newest older keys: the same amount of work, slightly different negatives.
* lightly: ``NTXentLoss(temperature, memory_bank_size=(K, d))`` called as ``loss(query, key)``.
  ``lightly.loss`` imports torchvision, so it is reported missing without torchvision.

Run from the repository root (or with the package installed)::

    python -m benchmarks.instance_loss [--threads 2] [--device cuda] [--json]

On a machine shared with other jobs, ``--threads 1 --clock cpu`` gives steadier figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from contradistinct import InstanceLoss

Step = Callable[[Tensor, Tensor, int], Tensor]
Make = Callable[[int, int, int, float, torch.device], Step]


def make_floor(batch: int, size: int, dim: int, temperature: float, device: torch.device) -> Step:
    queue = F.normalize(torch.randn(size, dim, device=device), dim=1)

    def step(query: Tensor, key: Tensor, index: int) -> Tensor:
        q = F.normalize(query, dim=1)
        k = F.normalize(key, dim=1)
        logits = torch.cat([(q * k).sum(dim=1, keepdim=True), q @ queue.T], dim=1)
        target = torch.zeros(q.shape[0], dtype=torch.long, device=device)
        return F.cross_entropy(logits / temperature, target)

    return step


def make_contradistinct(
    batch: int, size: int, dim: int, temperature: float, device: torch.device
) -> Step:
    criterion = InstanceLoss(dim=dim, queue_size=size, temperature=temperature)
    criterion.queue.enqueue(F.normalize(torch.randn(size, dim), dim=1))
    criterion.to(device)

    def step(query: Tensor, key: Tensor, index: int) -> Tensor:
        return criterion(query, key).loss

    return step


def make_pml(batch: int, size: int, dim: int, temperature: float, device: torch.device) -> Step:
    from pytorch_metric_learning.losses import CrossBatchMemory, NTXentLoss

    criterion = CrossBatchMemory(
        NTXentLoss(temperature=temperature), embedding_size=dim, memory_size=size
    ).to(device)
    # Pre-fill the memory with normalised keys whose labels (negative) never match a query's.
    criterion.embedding_memory.copy_(F.normalize(torch.randn(size, dim), dim=1))
    criterion.label_memory.copy_(-1 - torch.arange(size))
    criterion.has_been_filled = True
    # Labels unique to each batch, built before timing so a step pays only for the loss; the
    # cycle is longer than the memory holds batches, so a query's only positive is its own key.
    cycle = size // batch + 2
    enqueue_mask = torch.arange(2 * batch, device=device) >= batch
    labels = [torch.arange(batch, device=device).repeat(2) + i * batch for i in range(cycle)]

    def step(query: Tensor, key: Tensor, index: int) -> Tensor:
        embeddings = torch.cat([query, key])
        return criterion(embeddings, labels[index % cycle], enqueue_mask=enqueue_mask)

    return step


def make_lightly(batch: int, size: int, dim: int, temperature: float, device: torch.device) -> Step:
    from lightly.loss import NTXentLoss

    # lightly initialises its memory bank with normalised Gaussian vectors: already full.
    criterion = NTXentLoss(temperature=temperature, memory_bank_size=(size, dim)).to(device)

    def step(query: Tensor, key: Tensor, index: int) -> Tensor:
        return criterion(query, key)

    return step


CONTENDERS: dict[str, Make] = {
    "floor (matmul + cat + cross_entropy)": make_floor,
    "contradistinct InstanceLoss": make_contradistinct,
}
PEERS: dict[str, Make] = {
    "pytorch-metric-learning CrossBatchMemory(NTXentLoss)": make_pml,
    "lightly NTXentLoss(memory_bank_size)": make_lightly,
}


CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(
    step: Step,
    batches: list[tuple[Tensor, Tensor]],
    first: int,
    iters: int,
    device: torch.device,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Seconds per forward + backward step over ``iters`` consecutive batches."""
    synchronize(device)
    start = clock()
    for offset in range(iters):
        index = (first + offset) % len(batches)
        query, key = batches[index]
        query.grad = None
        step(query, key, first + offset).backward()
    synchronize(device)
    return (clock() - start) / iters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--queue", type=int, default=8192)
    parser.add_argument("--dim", type=int, default=16)
    parser.add_argument("--temperature", type=float, default=0.07)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--round-seconds",
        type=float,
        default=0.3,
        help="time each contender gets per round; sets its steps per round (at least 1)",
    )
    parser.add_argument(
        "--warmup", type=int, default=10, help="untimed steps per contender (fewer if slow)"
    )
    parser.add_argument(
        "--clock",
        choices=CLOCKS,
        default="wall",
        help="wall: elapsed time; cpu: CPU time of this process, steadier on a shared machine "
        "(CPU device and --threads 1 only: it adds up the threads and misses GPU work)",
    )
    parser.add_argument("--no-peers", action="store_true", help="time only the floor and ours")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    args = parser.parse_args()

    if args.clock == "cpu" and (args.threads != 1 or args.device != "cpu"):
        parser.error("--clock cpu needs --device cpu and --threads 1")
    clock = CLOCKS[args.clock]
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    batches = [
        (
            torch.randn(args.batch, args.dim, device=device, requires_grad=True),
            torch.randn(args.batch, args.dim, device=device),
        )
        for _ in range(8)
    ]

    steps: dict[str, Step] = {}
    missing: dict[str, str] = {}
    contenders = CONTENDERS if args.no_peers else {**CONTENDERS, **PEERS}
    for name, make in contenders.items():
        try:
            steps[name] = make(args.batch, args.queue, args.dim, args.temperature, device)
        except ImportError as error:
            missing[name] = f"{type(error).__name__}: {error}"

    names = list(steps)
    counters = dict.fromkeys(names, 0)
    iters: dict[str, int] = {}
    for name in names:
        # Warm up for --warmup steps, or fewer for a peer whose single step takes seconds.
        spent = 0.0
        while counters[name] < args.warmup and spent < 2 * args.round_seconds:
            spent += time_steps(steps[name], batches, counters[name], 1, device, clock)
            counters[name] += 1
        once = time_steps(steps[name], batches, counters[name], 1, device, clock)
        counters[name] += 1
        # Slow peers get fewer steps per round so one run stays short; the median is per step.
        iters[name] = max(1, min(1000, round(args.round_seconds / once)))
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(args.rounds):
        # Rotate the order each round so no contender always runs first (cache, frequency).
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(
                time_steps(steps[name], batches, counters[name], iters[name], device, clock)
            )
            counters[name] += iters[name]

    floor_name = names[0]
    medians = {name: statistics.median(values) for name, values in times.items()}
    floor = medians[floor_name]
    config = {
        "batch": args.batch,
        "queue": args.queue,
        "dim": args.dim,
        "device": str(device),
        "threads": args.threads,
        "clock": args.clock,
        "torch": torch.__version__,
        "rounds": args.rounds,
    }
    if args.json:
        results = {
            name: {
                "median_ms": 1e3 * medians[name],
                "ratio_to_floor": medians[name] / floor,
                "steps_per_round": iters[name],
            }
            for name in names
        }
        print(json.dumps({"config": config, "results": results, "missing": missing}, indent=2))
        return
    print(", ".join(f"{key}={value}" for key, value in config.items()))
    print(f"{'contender':<55} {'median ms/step':>15} {'x floor':>8} {'steps/round':>12}")
    for name in names:
        median = medians[name]
        print(f"{name:<55} {1e3 * median:>15.3f} {median / floor:>8.2f} {iters[name]:>12}")
    for name, reason in missing.items():
        print(f"{name}: not installed ({reason})")


if __name__ == "__main__":
    main()
