"""The contrastive heads of DC-VAE §4.2: shapes, hand-computed values, shape errors."""

from __future__ import annotations

import re

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from contradistinct import DeepSupervisionHead, LocalPatchHead, PatchPair, ProjectionHead
from contradistinct.functional.contrastive import info_nce_logits

batches = st.integers(1, 5)
channels = st.integers(1, 12)
sides = st.integers(1, 6)
dims = st.integers(1, 20)


@given(batch=batches, c=channels, h=sides, w=sides, dim=dims, pool=st.sampled_from(["sum", "mean"]))
def test_projection_head_shapes(batch: int, c: int, h: int, w: int, dim: int, pool: str) -> None:
    head = ProjectionHead(c, dim, pool)
    assert head(torch.randn(batch, c, h, w)).shape == (batch, dim)
    assert head(torch.randn(batch, c)).shape == (batch, dim)
    assert head(torch.randn(batch, c, h)).shape == (batch, dim)


@given(batch=batches, c=channels, h=sides, w=sides, dim=dims)
def test_projection_head_flatten_shapes(batch: int, c: int, h: int, w: int, dim: int) -> None:
    head = ProjectionHead(c * h * w, dim, "flatten")
    assert head(torch.randn(batch, c, h, w)).shape == (batch, dim)


def test_projection_head_pools_by_hand() -> None:
    head = ProjectionHead(2, dim=2)
    with torch.no_grad():
        head.linear.weight.copy_(torch.eye(2))
    features = torch.arange(8.0).reshape(1, 2, 2, 2)  # channel 0: 0..3, channel 1: 4..7
    torch.testing.assert_close(head(features), torch.tensor([[6.0, 22.0]]))
    head.pool = "mean"
    torch.testing.assert_close(head(features), torch.tensor([[1.5, 5.5]]))
    assert head.linear.bias is None  # official head: bias-free


@given(
    batch=batches,
    c=channels,
    h=sides,
    w=sides,
    dim=dims,
    reduced=st.integers(1, 3),
    lazy=st.booleans(),
)
def test_deep_supervision_head_shapes(
    batch: int, c: int, h: int, w: int, dim: int, reduced: int, lazy: bool
) -> None:
    head = DeepSupervisionHead(c, dim, reduced, None if lazy else (h, w))
    assert head(torch.randn(batch, c, h, w)).shape == (batch, dim)
    assert head.linear.in_features == reduced * h * w


def test_deep_supervision_head_by_hand() -> None:
    head = DeepSupervisionHead(in_channels=2, dim=1, spatial_size=2)
    with torch.no_grad():
        head.reduce.weight.copy_(torch.tensor([1.0, -1.0]).reshape(1, 2, 1, 1))
        head.reduce.bias.fill_(0.5)
        head.linear.weight.copy_(torch.tensor([[1.0, 2.0, 3.0, 4.0]]))
    features = torch.arange(8.0).reshape(1, 2, 2, 2)
    # 1x1 conv: x0 - x1 + 0.5 = -3.5 at each of the 4 positions; then (1+2+3+4) * -3.5.
    torch.testing.assert_close(head(features), torch.tensor([[-35.0]]))


@given(
    batch=batches,
    c=channels,
    h=sides,
    w=sides,
    data=st.data(),
    dim=st.one_of(st.none(), dims),
)
def test_local_patch_head_shapes_and_locations(
    batch: int, c: int, h: int, w: int, data: st.DataObject, dim: int | None
) -> None:
    locations = data.draw(st.integers(1, h * w))
    head = LocalPatchHead(c, dim, locations)
    query, key = torch.randn(batch, c, h, w), torch.randn(batch, c, h, w)
    pair = head(query, key)
    width = c if dim is None else dim
    assert pair.query.shape == pair.key.shape == (batch * locations, width)
    assert pair.locations.shape == (batch, locations)
    assert pair.locations.dtype == torch.long
    for b in range(batch):
        picked = pair.locations[b]
        assert picked.unique().numel() == locations  # distinct positions
        assert bool((picked >= 0).all()) and bool((picked < h * w).all())


def test_local_patch_head_reads_the_same_location_in_both_maps() -> None:
    head = LocalPatchHead(3, dim=None, locations=2)
    query = torch.randn(4, 3, 5, 5)
    key = torch.randn(4, 3, 5, 5)
    pair = head(query, key, generator=torch.Generator().manual_seed(1))
    rows, cols = pair.locations // 5, pair.locations % 5
    for b in range(4):
        for j in range(2):
            i = 2 * b + j  # sample-major rows
            torch.testing.assert_close(pair.query[i], query[b, :, rows[b, j], cols[b, j]])
            torch.testing.assert_close(pair.key[i], key[b, :, rows[b, j], cols[b, j]])


def test_local_patch_head_is_reproducible_with_a_generator() -> None:
    maps = torch.randn(6, 4, 4, 4)
    first = LocalPatchHead(4, 8, 3, generator=torch.Generator().manual_seed(7))
    second = LocalPatchHead(4, 8, 3, generator=torch.Generator().manual_seed(7))
    locations = first(maps, maps).locations
    assert torch.equal(locations, second(maps, maps).locations)
    # A generator passed to forward wins over the constructor's.
    by_call = first(maps, maps, generator=torch.Generator().manual_seed(7)).locations
    assert torch.equal(by_call, locations)
    assert not torch.equal(first(maps, maps).locations, locations)  # the generator advanced


@given(
    batch=st.integers(2, 6),
    c=st.integers(2, 8),
    side=st.integers(1, 4),
    seed=st.integers(0, 2**16),
    dim=st.one_of(st.none(), st.integers(2, 8)),
)
def test_local_patch_positive_is_the_most_similar(
    batch: int, c: int, side: int, seed: int, dim: int | None
) -> None:
    torch.manual_seed(seed)
    maps = torch.randn(batch, c, side, side)
    head = LocalPatchHead(c, dim, locations=1)
    pair = head(maps, maps)
    with torch.no_grad():
        logits = info_nce_logits(pair.query, pair.key, in_batch_negatives=True)
    assert bool((logits[:, :1] >= logits[:, 1:] - 1e-5).all())
    torch.testing.assert_close(logits[:, 0], torch.full((batch,), 1 / 0.07))


def test_heads_pass_gradients_to_their_inputs() -> None:
    maps = torch.randn(2, 3, 4, 4, requires_grad=True)
    for head in (ProjectionHead(3), DeepSupervisionHead(3, spatial_size=4)):
        maps.grad = None
        head(maps).sum().backward()
        assert maps.grad is not None and bool(maps.grad.abs().sum() > 0)
    head = LocalPatchHead(3)
    key = torch.randn(2, 3, 4, 4, requires_grad=True)
    maps.grad = None
    pair = head(maps, key)
    (pair.query.sum() + pair.key.sum()).backward()
    assert maps.grad is not None and key.grad is not None


def test_heads_under_bf16_autocast() -> None:
    maps = torch.randn(2, 3, 4, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert ProjectionHead(3)(maps).dtype == torch.bfloat16
        assert DeepSupervisionHead(3, spatial_size=4)(maps).dtype == torch.bfloat16
        assert LocalPatchHead(3)(maps, maps).query.dtype == torch.bfloat16


def test_shape_errors_name_expected_and_received() -> None:
    expected = re.escape("features must have shape (B, 8) or (B, 8, *spatial)")
    with pytest.raises(ValueError, match=expected + r".*got \(2, 4, 3, 3\)"):
        ProjectionHead(8)(torch.randn(2, 4, 3, 3))
    with pytest.raises(ValueError, match=r"72 values per sample.*got \(2, 4, 3, 3\) with 36"):
        ProjectionHead(36 * 2, pool="flatten")(torch.randn(2, 4, 3, 3))
    with pytest.raises(ValueError, match=re.escape("(B, 8, 4, 4), got (2, 8, 3, 3)")):
        DeepSupervisionHead(8, spatial_size=4)(torch.randn(2, 8, 3, 3))
    lazy = DeepSupervisionHead(8, reduced_channels=2)
    with pytest.raises(ValueError, match=re.escape("(B, 8, H, W), got (2, 4, 3, 3)")):
        lazy(torch.randn(2, 4, 3, 3))
    lazy(torch.randn(2, 8, 3, 3))
    with pytest.raises(
        ValueError, match=re.escape("(B, 8, H, W) with H * W = 9, got (2, 8, 4, 4)")
    ):
        lazy(torch.randn(2, 8, 4, 4))
    with pytest.raises(
        ValueError, match=re.escape("query must have shape (B, 8, H, W), got (2, 8)")
    ):
        LocalPatchHead(8)(torch.randn(2, 8), torch.randn(2, 8))
    with pytest.raises(ValueError, match="query and key must have the same shape"):
        LocalPatchHead(8)(torch.randn(2, 8, 4, 4), torch.randn(2, 8, 2, 2))
    with pytest.raises(ValueError, match="locations=5 distinct positions do not fit a 2x2 map"):
        LocalPatchHead(8, locations=5)(torch.randn(2, 8, 2, 2), torch.randn(2, 8, 2, 2))


def test_bad_constructor_arguments() -> None:
    with pytest.raises(ValueError, match="pool must be one of"):
        ProjectionHead(8, pool="max")
    with pytest.raises(ValueError, match="in_features must be a positive int"):
        ProjectionHead(0)
    with pytest.raises(TypeError, match="spatial_size must be an int, an"):
        DeepSupervisionHead(8, spatial_size=(4, 4, 4))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="locations must be a positive int"):
        LocalPatchHead(8, locations=0)
    with pytest.raises(TypeError, match=r"features must be a torch\.Tensor"):
        ProjectionHead(8)([1.0] * 8)  # type: ignore[arg-type]


def test_patch_pair_is_a_named_tuple() -> None:
    maps = torch.randn(1, 2, 2, 2)
    query, key, locations = LocalPatchHead(2)(maps, maps)
    assert isinstance(LocalPatchHead(2)(maps, maps), PatchPair)
    assert query.shape == key.shape == (1, 16) and locations.shape == (1, 1)
