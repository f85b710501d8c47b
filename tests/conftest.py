"""Shared pytest configuration: deterministic, CPU-sized hypothesis profiles."""

from __future__ import annotations

import os

import torch
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default",
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "ci",
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("ci" if os.environ.get("CI") else "default")
# One intra-op thread: the tests' tensors are too small to gain from more, and on a shared or
# loaded 2-core runner a second thread makes every op wait on a descheduled partner (the suite
# measured five times slower with two threads than with one under load).
torch.set_num_threads(1)
