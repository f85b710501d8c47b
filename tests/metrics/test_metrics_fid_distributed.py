"""Two gloo processes on CPU: FID statistics merged across ranks equal one process's."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from contradistinct.metrics import FID

WORLD_SIZE = 2


def dataset() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(37, 1, 2, 2, generator=g), torch.randn(23, 1, 2, 2, generator=g) + 1


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def worker(rank: int, port: int, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD_SIZE
    )
    try:
        real, fake = dataset()
        fid = FID(nn.Flatten(), num_features=4)
        # Uneven shards, and one rank sees no generated images at all.
        fid.update(real[:30] if rank == 0 else real[30:], real=True)
        if rank == 1:
            fid.update(fake, real=False)
        assert fid.real_count is not None
        local_count = fid.real_count.clone()
        result = {
            "real": fid.statistics(real=True),
            "fake": fid.statistics(real=False),
            "fid": fid.compute(),
            "local_count": local_count,
            "count_after": fid.real_count,
        }
        torch.save(result, Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_merged_statistics_equal_single_process(tmp_path: Path) -> None:
    # Forked workers inherit the imported torch instead of importing it again (seconds on CPU).
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    mp.start_processes(
        worker, args=(free_port(), str(tmp_path)), nprocs=WORLD_SIZE, start_method=method
    )
    real, fake = dataset()
    single = FID(nn.Flatten())
    single.update(real, real=True)
    single.update(fake, real=False)
    for rank in range(WORLD_SIZE):
        result = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        for key, is_real in (("real", True), ("fake", False)):
            for merged, expected in zip(result[key], single.statistics(real=is_real), strict=True):
                torch.testing.assert_close(merged, expected, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(result["fid"], single.compute(), rtol=1e-9, atol=1e-9)
        # Reading merged statistics leaves each rank's own sums untouched.
        torch.testing.assert_close(result["count_after"], result["local_count"])
