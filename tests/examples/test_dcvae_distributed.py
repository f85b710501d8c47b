"""The trainer under torchrun: two gloo processes on the CPU."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
TRAINER = ROOT / "examples" / "dcvae"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_gloo_processes_share_the_queue_and_write_once(
    tiny_args: list[str], tmp_path: Path
) -> None:
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
        "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
        str(TRAINER / "train.py"), *tiny_args, "--queue-size", "64", "--steps", "3",
        "--log-every", "1", "--eval-every", "3", "--out", str(out),
    ]  # fmt: skip
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("step      3/3") == 1, "only rank 0 logs"
    payload = torch.load(out / "checkpoint.pt", weights_only=False)
    assert len(payload["ranks"]) == 2
    first, second = (r["rng"]["torch"] for r in payload["ranks"])
    assert not torch.equal(first, second), "each rank draws its own noise"
    # 3 contrastive steps × 8 keys × 2 ranks: every rank enqueues the keys of both.
    counts = [v for k, v in payload["trainer"].items() if k.endswith("queue.count")]
    assert counts and all(int(c) == 48 for c in counts)
    assert (out / "samples.png").is_file() and (out / "metrics.jsonl").is_file()
