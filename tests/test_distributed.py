"""Two gloo ranks on CPU behave like one process fed the concatenated batch.

One spawn of two processes runs every distributed scenario (starting processes dominates the
cost); each rank saves what it saw and the tests compare it with single-process references.
"""

from __future__ import annotations

import socket
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from contradistinct import InstanceLoss, NegativeQueue
from contradistinct.distributed import gather_across_ranks, is_distributed

WORLD = 2
BATCH = 3
DIM = 4
# 7 slots against a global batch of 6: the ring wraps mid-batch on the second step.
QUEUE_SIZE = 7
STEPS = 2
PRELOADED = 5  # fewer than QUEUE_SIZE, so the unfilled slots must stay masked
SPAWN_TIMEOUT_S = 60.0

pytestmark = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()), reason="needs torch.distributed gloo"
)


def global_batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(WORLD * BATCH, DIM)`` queries and keys of one step; rank r holds rows r*B..(r+1)*B."""
    g = torch.Generator().manual_seed(1000 + step)
    return torch.randn(WORLD * BATCH, DIM, generator=g), torch.randn(
        WORLD * BATCH, DIM, generator=g
    )


def preloaded_keys() -> torch.Tensor:
    g = torch.Generator().manual_seed(7)
    return F.normalize(torch.randn(PRELOADED, DIM, generator=g), dim=1)


def local(tensor: torch.Tensor, rank: int) -> torch.Tensor:
    return tensor[rank * BATCH : (rank + 1) * BATCH]


def queue_state(queue: NegativeQueue) -> dict[str, torch.Tensor]:
    return {"keys": queue.keys.clone(), "ptr": queue.ptr.clone(), "count": queue.count.clone()}


def run_rank(rank: int) -> dict[str, Any]:
    """Every scenario on one rank; returns tensors to compare with single-process references."""
    assert is_distributed()
    results: dict[str, Any] = {}

    results["gather"] = gather_across_ranks(torch.arange(6.0).reshape(2, 3) + 100 * rank)

    queue = NegativeQueue(QUEUE_SIZE, DIM)
    for step in range(STEPS):
        queue.enqueue(local(global_batch(step)[1], rank))
    # All-gathered buffers: row r is rank r's, so the test sees every rank's queue.
    results["queue"] = {
        name: gather_across_ranks(value.unsqueeze(0)) for name, value in queue_state(queue).items()
    }

    for in_batch in (False, True):
        criterion = InstanceLoss(dim=DIM, queue_size=QUEUE_SIZE, in_batch_negatives=in_batch)
        criterion.queue.enqueue(preloaded_keys(), gather=False)
        losses, grads, accuracies = [], [], []
        for step in range(STEPS):
            queries, keys = global_batch(step)
            query = local(queries, rank).clone().requires_grad_(True)
            out = criterion(query, local(keys, rank))
            out.loss.backward()
            losses.append(out.loss.detach())
            grads.append(query.grad)
            accuracies.append(out.accuracy)
        results[f"instance_in_batch={in_batch}"] = {
            "losses": torch.stack(losses),
            "grads": torch.stack(grads),
            "accuracies": torch.stack(accuracies),
            "queue": queue_state(criterion.queue),
        }
    return results


def worker(rank: int, port: int, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=WORLD,
        timeout=timedelta(seconds=SPAWN_TIMEOUT_S),
    )
    try:
        torch.save(run_rank(rank), Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    out_dir = tmp_path_factory.mktemp("distributed")
    context = mp.spawn(worker, args=(free_port(), str(out_dir)), nprocs=WORLD, join=False)
    deadline = time.monotonic() + SPAWN_TIMEOUT_S
    # join() re-raises a rank's exception with its traceback; the deadline stops a hung rank.
    while not context.join(timeout=1.0):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail(f"distributed workers did not finish within {SPAWN_TIMEOUT_S} s")
    return [torch.load(out_dir / f"rank{rank}.pt") for rank in range(WORLD)]


def assert_same_on_every_rank(gathered: dict[str, torch.Tensor]) -> None:
    for name, rows in gathered.items():
        for rank in range(1, WORLD):
            assert torch.equal(rows[rank], rows[0]), f"{name} differs between rank 0 and {rank}"


def test_gather_across_ranks_concatenates_in_rank_order(ranks):
    expected = torch.cat([torch.arange(6.0).reshape(2, 3) + 100 * rank for rank in range(WORLD)])
    for result in ranks:
        assert torch.equal(result["gather"], expected)
        assert not result["gather"].requires_grad


def test_queues_are_identical_and_match_one_process_fed_the_concatenation(ranks):
    gathered = ranks[0]["queue"]
    assert_same_on_every_rank(gathered)
    reference = NegativeQueue(QUEUE_SIZE, DIM)
    for step in range(STEPS):
        reference.enqueue(global_batch(step)[1])
    for name, value in queue_state(reference).items():
        assert torch.equal(gathered[name][0], value), name
    assert int(reference.count) == QUEUE_SIZE  # the scenario did wrap the ring


@pytest.mark.parametrize("in_batch", [False, True])
def test_instance_loss_mean_over_ranks_is_the_one_process_loss(ranks, in_batch):
    criterion = InstanceLoss(dim=DIM, queue_size=QUEUE_SIZE, in_batch_negatives=in_batch)
    criterion.queue.enqueue(preloaded_keys())
    per_rank = [result[f"instance_in_batch={in_batch}"] for result in ranks]
    for step in range(STEPS):
        queries, keys = global_batch(step)
        query = queries.clone().requires_grad_(True)
        out = criterion(query, keys)
        out.loss.backward()
        mean_loss = torch.stack([r["losses"][step] for r in per_rank]).mean()
        torch.testing.assert_close(mean_loss, out.loss.detach(), rtol=1e-5, atol=1e-6)
        mean_accuracy = torch.stack([r["accuracies"][step] for r in per_rank]).mean()
        torch.testing.assert_close(mean_accuracy, out.accuracy)
        # Each rank differentiates its own mean over B rows; the global mean is over WORLD * B,
        # so averaging gradients across ranks (as DDP does) gives the one-process gradient.
        rank_grads = torch.cat([r["grads"][step] for r in per_rank]) / WORLD
        torch.testing.assert_close(rank_grads, query.grad, rtol=1e-5, atol=1e-6)
    for r in per_rank:
        for name, value in queue_state(criterion.queue).items():
            torch.testing.assert_close(r["queue"][name], value, rtol=0, atol=0)
