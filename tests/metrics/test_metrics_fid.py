"""Streaming FID: batch-size independence, agreement with a direct computation, bad input."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from contradistinct.metrics import FID, frechet_distance


def images(count: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(count, 1, 2, 3, generator=g) + shift


def split_sizes(total: int, cuts: list[int]) -> list[int]:
    edges = sorted({0, total, *(c % total for c in cuts)})
    return [b - a for a, b in itertools.pairwise(edges)]


def test_matches_direct_statistics() -> None:
    real, fake = images(50, 0), images(40, 1, shift=0.5)
    fid = FID(nn.Flatten())
    fid.update(real, real=True)
    fid.update(fake, real=False)
    flat_real, flat_fake = real.flatten(1).double(), fake.flatten(1).double()
    mu_real, sigma_real = fid.statistics(real=True)
    torch.testing.assert_close(mu_real, flat_real.mean(0))
    torch.testing.assert_close(sigma_real, torch.cov(flat_real.T))
    expected = frechet_distance(
        flat_real.mean(0), torch.cov(flat_real.T), flat_fake.mean(0), torch.cov(flat_fake.T)
    )
    torch.testing.assert_close(fid.compute(), expected)


@given(
    total=st.integers(2, 60),
    cuts=st.lists(st.integers(1, 59), max_size=6),
    seed=st.integers(0, 2**16),
)
def test_independent_of_batch_split(total: int, cuts: list[int], seed: int) -> None:
    real, fake = images(total, seed), images(total, seed + 1, shift=1.0)
    whole = FID(nn.Flatten())
    whole.update(real, real=True)
    whole.update(fake, real=False)
    pieces = FID(nn.Flatten())
    sizes = split_sizes(total, cuts)
    for part in real.split(sizes):
        pieces.update(part, real=True)
    for part in fake.split(sizes):
        pieces.update(part, real=False)
    torch.testing.assert_close(pieces.compute(), whole.compute(), rtol=1e-9, atol=1e-9)


@given(total=st.integers(2, 80), seed=st.integers(0, 2**16))
def test_set_against_itself_is_zero(total: int, seed: int) -> None:
    fid = FID(nn.Flatten())
    batch = images(total, seed)
    fid.update(batch, real=True)
    fid.update(batch, real=False)
    assert fid.compute().item() == pytest.approx(0.0, abs=1e-7)


def test_reset_and_declared_num_features() -> None:
    fid = FID(nn.Flatten(), num_features=6)
    assert fid.real_sum is not None and fid.real_sum.shape == (6,)
    fid.update(images(10, 0), real=True)
    fid.reset()
    assert fid.real_count is not None and fid.real_count.item() == 0
    assert "real_sum" not in fid.state_dict()
    lazy = FID(nn.Flatten())
    assert lazy.real_sum is None
    lazy.update(images(10, 0), real=False)
    assert lazy.real_count is not None and lazy.real_count.item() == 0
    lazy.reset()
    assert lazy.num_features == 6
    assert lazy.fake_count is not None and lazy.fake_count.item() == 0


def test_feature_network_runs_in_eval_mode_and_keeps_its_mode() -> None:
    norm = nn.BatchNorm1d(6)
    network = nn.Sequential(nn.Flatten(), norm)
    network.train()
    fid = FID(network)
    fid.update(images(8, 0), real=True)
    # Eval mode with fresh running statistics is the identity: no batch normalisation applied.
    mu, _ = fid.statistics(real=True)
    torch.testing.assert_close(mu, images(8, 0).flatten(1).double().mean(0), rtol=1e-5, atol=1e-5)
    assert network.training and norm.training
    assert norm.num_batches_tracked is not None and norm.num_batches_tracked.item() == 0


def test_too_few_samples_names_the_minimum() -> None:
    fid = FID(nn.Flatten())
    fid.update(images(1, 0), real=True)
    fid.update(images(5, 1), real=False)
    with pytest.raises(ValueError, match="at least 2 samples, got 1 real"):
        fid.compute()
    with pytest.raises(RuntimeError, match="no real statistics yet"):
        FID(nn.Flatten()).compute()


def test_bad_input() -> None:
    fid = FID(nn.Flatten())
    with pytest.raises(
        ValueError, match=r"images must have 4 dimensions \(B, C, H, W\), got shape \(3, 2, 2\)"
    ):
        fid.update(torch.zeros(3, 2, 2), real=True)
    with pytest.raises(TypeError, match="real must be a bool"):
        fid.update(images(2, 0), real=torch.tensor(True))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="non-finite features"):
        fid.update(torch.full((2, 1, 2, 3), float("inf")), real=True)
    with pytest.raises(ValueError, match=r"to features of shape \(2, F\), got \(2, 1, 2, 3\)"):
        FID(nn.Identity()).update(images(2, 0), real=True)
    fid.update(images(2, 0), real=True)
    with pytest.raises(ValueError, match=r"6 columns \(num_features\), got shape \(2, 12\)"):
        fid.update(torch.zeros(2, 2, 2, 3), real=False)
    with pytest.raises(TypeError, match=r"feature_extractor must be an nn\.Module"):
        FID(lambda x: x)  # type: ignore[arg-type]


def test_bf16_features_accumulate_in_float64() -> None:
    fid = FID(nn.Sequential(nn.Flatten(), nn.Linear(6, 3)))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fid.update(images(16, 0), real=True)
        fid.update(images(16, 1), real=False)
    assert fid.real_outer is not None and fid.real_outer.dtype == torch.float64
    assert fid.compute().dtype == torch.float64
