"""NegativeQueue: ring-buffer semantics, masking, state_dict and bad input (DC-VAE Eq. 6, MoCo)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from contradistinct import NegativeQueue


def _batches(sizes: list[int], dim: int, start: int = 0) -> list[torch.Tensor]:
    out, n = [], start
    for size in sizes:
        out.append(torch.arange(n, n + size * dim, dtype=torch.float32).reshape(size, dim))
        n += size * dim
    return out


@given(st.integers(1, 20), st.integers(1, 4), st.lists(st.integers(1, 30), max_size=8))
def test_holds_exactly_the_newest_keys(size, dim, sizes):
    queue = NegativeQueue(size, dim)
    batches = _batches(sizes, dim)
    for b in batches:
        queue.enqueue(b)
    everything = torch.cat(batches) if batches else torch.zeros(0, dim)
    kept = min(len(everything), size)
    expected = everything[len(everything) - kept :]
    mask = queue.valid_mask()
    assert int(mask.sum()) == kept == int(queue.count)
    assert int(queue.ptr) == len(everything) % size
    held = queue.keys[mask]
    # The set of held rows is the newest `kept` rows, whatever the wrap-around.
    assert sorted(map(tuple, held.tolist())) == sorted(map(tuple, expected.tolist()))
    # And the ring order is preserved: reading from the pointer gives oldest to newest.
    if kept == size:
        order = torch.roll(queue.keys, -int(queue.ptr), dims=0)
        torch.testing.assert_close(order, expected)


@given(st.integers(1, 12), st.lists(st.integers(1, 15), min_size=1, max_size=6))
def test_state_dict_round_trip_restores_identical_behaviour(size, sizes):
    a = NegativeQueue(size, 3)
    for b in _batches(sizes, 3):
        a.enqueue(b)
    b_queue = NegativeQueue(size, 3)
    b_queue.load_state_dict(a.state_dict())
    nxt = _batches([5], 3, start=10_000)[0]
    a.enqueue(nxt)
    b_queue.enqueue(nxt)
    for name in ("keys", "ptr", "count"):
        assert torch.equal(getattr(a, name), getattr(b_queue, name))
    assert torch.equal(a.valid_mask(), b_queue.valid_mask())


def test_state_dict_holds_pointer_and_count():
    queue = NegativeQueue(4, 2)
    queue.enqueue(torch.ones(3, 2))
    state = queue.state_dict()
    assert set(state) == {"keys", "ptr", "count"}
    assert state["ptr"].item() == 3 and state["count"].item() == 3


@pytest.mark.parametrize(("size", "dim"), [(5, 2), (4, 3)])
def test_loading_another_size_or_dim_is_a_clear_error(size, dim):
    queue = NegativeQueue(4, 2)
    with pytest.raises(ValueError, match=rf"\({size}, {dim}\) into a queue of .* \(4, 2\)"):
        queue.load_state_dict(NegativeQueue(size, dim).state_dict())


def test_random_init_is_full_and_normalised():
    queue = NegativeQueue(16, 8, init="random")
    assert queue.valid_mask().all()
    torch.testing.assert_close(queue.keys.norm(dim=1), torch.ones(16))


def test_enqueue_detaches_and_casts():
    queue = NegativeQueue(4, 2)
    keys = torch.randn(2, 2, dtype=torch.float64, requires_grad=True)
    queue.enqueue(keys)
    assert queue.keys.dtype == torch.float32 and not queue.keys.requires_grad


def test_reset_empties():
    queue = NegativeQueue(4, 2)
    queue.enqueue(torch.ones(3, 2))
    queue.reset()
    assert not queue.valid_mask().any() and int(queue.ptr) == 0


def test_forward_returns_keys_and_mask():
    queue = NegativeQueue(3, 2)
    queue.enqueue(torch.ones(1, 2))
    keys, mask = queue()
    assert keys is queue.keys and mask.tolist() == [True, False, False]


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda q: q.enqueue(torch.ones(3)), ValueError, r"keys must have 2 dimensions .*\(3,\)"),
        (lambda q: q.enqueue(torch.ones(3, 5)), ValueError, r"shape \(B, 2\) .* got \(3, 5\)"),
        (lambda q: q.enqueue(torch.ones(3, 2, dtype=torch.long)), TypeError, "floating"),
    ],
)
def test_bad_enqueue(call, error, match):
    with pytest.raises(error, match=match):
        call(NegativeQueue(4, 2))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"size": 0, "dim": 2}, ValueError, "size must be a positive int, got 0"),
        ({"size": 4, "dim": -1}, ValueError, "dim must be a positive int"),
        ({"size": 4.0, "dim": 2}, TypeError, "size must be an int"),
        ({"size": 4, "dim": 2, "init": "zeros"}, ValueError, "init must be one of"),
    ],
)
def test_bad_construction(kwargs, error, match):
    with pytest.raises(error, match=match):
        NegativeQueue(**kwargs)
