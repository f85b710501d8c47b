"""Pixel and feature reconstruction terms (DC-VAE Eqs. 1 and 3)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from contradistinct.functional import reconstruction_loss


@given(st.integers(1, 5), st.integers(1, 3), st.integers(1, 4))
def test_mse_is_a_per_sample_sum_averaged_over_the_batch(batch, channels, side):
    x, y = torch.randn(batch, channels, side, side), torch.randn(batch, channels, side, side)
    per = ((x - y) ** 2).flatten(1).sum(1)
    torch.testing.assert_close(reconstruction_loss(x, y, reduction="none"), per)
    torch.testing.assert_close(reconstruction_loss(x, y), per.mean())
    assert reconstruction_loss(x, x).item() == 0.0


def test_bce_reads_logits():
    logits, target = torch.randn(3, 5), torch.rand(3, 5)
    expected = F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / 3
    torch.testing.assert_close(reconstruction_loss(logits, target, recon="bce"), expected)


def test_bad_input():
    with pytest.raises(ValueError, match=r"same shape, got \(2, 3\) and \(2, 4\)"):
        reconstruction_loss(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="recon must be one of"):
        reconstruction_loss(torch.zeros(2, 3), torch.zeros(2, 3), recon="l1")
    with pytest.raises(ValueError, match="reduction must be one of"):
        reconstruction_loss(torch.zeros(2, 3), torch.zeros(2, 3), reduction="batchmean")
