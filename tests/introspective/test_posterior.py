"""The one reader of an encoder's posterior: accepted forms, and what a refusal says."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from contradistinct._posterior import as_posterior, describe


@given(batch=st.integers(1, 5), dims=st.lists(st.integers(1, 4), min_size=1, max_size=3))
def test_a_pair_of_same_shape_tensors_comes_back_as_is(batch: int, dims: list[int]) -> None:
    mu, logvar = torch.randn(batch, *dims), torch.randn(batch, *dims)
    for output in ((mu, logvar), [mu, logvar]):
        got_mu, got_logvar = as_posterior(output, "encoder(x)")
        assert got_mu is mu and got_logvar is logvar


@pytest.mark.parametrize(
    ("output", "shown"),
    [
        (torch.zeros(4, 6), r"got Tensor of shape \(4, 6\) and dtype torch.float32; split"),
        (([1.0], "s"), r"got tuple of 2 \[list of 1 \[float\], str\]"),
        ((torch.zeros(4, 2),), r"got tuple of 1 \[Tensor of shape \(4, 2\)"),
        ((torch.zeros(4, 2), torch.zeros(4, 2), torch.zeros(4, 2)), r"got tuple of 3"),
        ((torch.zeros(4, 2), torch.zeros(4, 2, dtype=torch.long)), r"dtype torch.int64\]"),
        ({"mu": torch.zeros(4, 2)}, r"got dict$"),
        (None, r"got NoneType$"),
    ],
)
def test_anything_else_is_refused_showing_what_was_received(output: object, shown: str) -> None:
    with pytest.raises(TypeError, match=r"encoder\(x\) must be a \(mu, logvar\) pair") as info:
        as_posterior(output, "encoder(x)")
    assert info.match(shown)


def test_shapes_and_rank() -> None:
    with pytest.raises(ValueError, match=r"mu and logvar must have the same shape, got \(4, 2\)"):
        as_posterior((torch.zeros(4, 2), torch.zeros(4, 3)), "encoder(x)")
    with pytest.raises(ValueError, match=r"at least 2 dimensions \(B, D\), got shape \(4,\)"):
        as_posterior((torch.zeros(4), torch.zeros(4)), "encoder(x)")
    with pytest.raises(ValueError, match=r"must have 2 dimensions \(B, D\), got shape \(4, 2, 1\)"):
        as_posterior((torch.zeros(4, 2, 1), torch.zeros(4, 2, 1)), "encoder(x)", ndim=2)
    mu = torch.zeros(4, 2, 1)
    assert as_posterior((mu, mu), "encoder(x)")[0] is mu


def test_describe_nests() -> None:
    assert describe([torch.zeros(1), (2, None)]) == (
        "list of 2 [Tensor of shape (1,) and dtype torch.float32, tuple of 2 [int, NoneType]]"
    )
